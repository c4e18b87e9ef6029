"""Measurements over one connected QP: latency of small operations and pipelined bandwidth (`rdmacheck bench`,
and each fleet pair's link once its data is verified)."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

from rdmacheck.verbs.rc import Buffer, QueuePair


@dataclass(frozen=True)
class Dist:
    """A distribution summarised: min, median, p99, max (and how many samples)."""
    n: int
    min: float
    median: float
    p99: float
    max: float

    @classmethod
    def of(cls, xs: list[float]) -> "Dist":
        s = sorted(xs)
        return cls(len(s), round(s[0], 3), round(statistics.median(s), 3),
                   round(s[min(len(s) - 1, int(round(0.99 * (len(s) - 1))))], 3), round(s[-1], 3))


@dataclass(frozen=True)
class Remote:
    addr: int
    rkey: int


def latency_us(qp: QueuePair, buf: Buffer, remote: Remote, op: str, size: int, iters: int,
               deadline_s: float) -> list[float]:
    """One signaled operation at a time, busy-polled: the round trip of each, in microseconds."""
    out = []
    for _ in range(iters):
        out.append(qp.transfer(op, buf, 0, remote.addr, remote.rkey, size, deadline_s, chunk=size, depth=1,
                               spin=True) * 1e6)
    return out


def bandwidth_bps(qp: QueuePair, buf: Buffer, remote: Remote, op: str, size: int, depth: int, region: int,
                  passes: int, deadline_s: float) -> float:
    """`passes` sweeps over a `region`-byte window, as `size`-byte operations with `depth` in flight
    (a new one posted as each completes); bytes per second."""
    t0 = time.perf_counter()
    for _ in range(passes):
        qp.transfer(op, buf, 0, remote.addr, remote.rkey, region, deadline_s, chunk=size, depth=depth, spin=True)
    return region * passes / (time.perf_counter() - t0)


def timed_bandwidth(qp: QueuePair, buf: Buffer, remote: Remote, op: str, size: int, depth: int, region: int,
                    min_s: float, max_passes: int, deadline_s: float) -> tuple[float, int]:
    """Sweeps as in `bandwidth_bps` until `min_s` has passed (at least one, at most `max_passes`): a fast link
    gets enough bytes for a stable rate, a slow one is not held for a fixed byte count. (bytes/s, sweeps)."""
    t0 = time.perf_counter()
    passes = 0
    while passes < max_passes and (passes == 0 or time.perf_counter() - t0 < min_s):
        qp.transfer(op, buf, 0, remote.addr, remote.rkey, region, deadline_s, chunk=size, depth=depth, spin=True)
        passes += 1
    return region * passes / (time.perf_counter() - t0), passes


@dataclass(frozen=True)
class LinkPlan:
    """A fleet pair's measurement of its link: small READs one at a time, then `size`-byte WRITEs and READs with
    `depth` in flight over `region` bytes, swept until `min_s` has passed (at most `max_passes` times) each way."""
    reads: int = 100
    small: int = 64
    size: int = 64 << 10
    depth: int = 8
    min_s: float = 0.02
    max_passes: int = 64


def measure_link(qp: QueuePair, buf: Buffer, remote: Remote, region: int, plan: LinkPlan,
                 deadline_s: float) -> dict[str, float]:
    """Latency of a small READ (fastest, median, p99, in µs) and bandwidth both ways (WRITE: to the peer, READ:
    from it, in MB/s; `bytes`: both ways' total). The caller verified the data on this QP first; these bytes are
    not checked."""
    latency_us(qp, buf, remote, "read", plan.small, 5, deadline_s)  # warm-up
    lat = Dist.of(latency_us(qp, buf, remote, "read", plan.small, plan.reads, deadline_s))
    size = min(plan.size, region)  # `region`: what both buffers hold
    region -= region % size
    out = {"read_lat_us_min": lat.min, "read_lat_us_p50": lat.median, "read_lat_us_p99": lat.p99,
           "reads": float(lat.n)}
    moved = 0
    for op in ("write", "read"):
        bps, passes = timed_bandwidth(qp, buf, remote, op, size, plan.depth, region, plan.min_s, plan.max_passes,
                                      deadline_s)
        out[f"{op}_MBps"] = round(bps / 1e6, 1)
        moved += region * passes
    out["bytes"] = float(moved)
    return out
