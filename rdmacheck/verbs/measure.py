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


def best_bandwidth(qp: QueuePair, buf: Buffer, remote: Remote, op: str, size: int, depth: int, window: int,
                   min_sweeps: int, min_s: float, max_sweeps: int, deadline_s: float) -> tuple[float, int]:
    """Sweeps as in `bandwidth_bps` over a `window`, at least `min_sweeps`, then until `min_s` has passed (at most
    `max_sweeps`): the fastest sweep's bytes per second, and how many sweeps. The fastest, not the mean: a busy
    CPU only takes time from a sweep, a slow path from every sweep."""
    t0 = time.perf_counter()
    best, sweeps = 0.0, 0
    while sweeps < max_sweeps and (sweeps < min_sweeps or time.perf_counter() - t0 < min_s):
        took = qp.transfer(op, buf, 0, remote.addr, remote.rkey, window, deadline_s, chunk=size, depth=depth,
                           spin=True)
        best = max(best, window / max(took, 1e-9))
        sweeps += 1
    return best, sweeps


@dataclass(frozen=True)
class LinkPlan:
    """A fleet pair's measurement of its link: small READs one at a time, in three bursts: before, between and
    after the bandwidth sweeps (a stall of the host must then last through all three to move the fastest);
    `size`-byte WRITEs and READs with `depth` in flight over a `window`, the fastest sweep of at least
    `min_sweeps` and `min_s` (at most `max_sweeps`) each way."""
    reads: int = 100
    small: int = 64
    size: int = 32 << 10
    depth: int = 8
    window: int = 256 << 10
    min_sweeps: int = 2
    min_s: float = 0.02
    max_sweeps: int = 64


def measure_link(qp: QueuePair, buf: Buffer, remote: Remote, region: int, plan: LinkPlan,
                 deadline_s: float) -> dict[str, float]:
    """Latency of a small READ (fastest, median, p99, in µs) and bandwidth both ways (WRITE: to the peer, READ:
    from it, in MB/s; `bytes`: what the sweeps moved). The caller verified the data on this QP first; these bytes
    are not checked."""
    window = min(plan.window, region)  # `region`: what both buffers hold
    size = min(plan.size, window)
    window -= window % size
    per = [plan.reads // 3 + (1 if k < plan.reads % 3 else 0) for k in range(3)]  # the three bursts
    latency_us(qp, buf, remote, "read", plan.small, 5, deadline_s)  # warm-up
    reads = latency_us(qp, buf, remote, "read", plan.small, per[0], deadline_s)
    out: dict[str, float] = {}
    moved = 0
    for k, op in enumerate(("write", "read")):
        bps, sweeps = best_bandwidth(qp, buf, remote, op, size, plan.depth, window, plan.min_sweeps, plan.min_s,
                                     plan.max_sweeps, deadline_s)
        out[f"{op}_MBps"] = round(bps / 1e6, 1)
        moved += window * sweeps
        reads += latency_us(qp, buf, remote, "read", plan.small, per[1 + k], deadline_s)
    lat = Dist.of(reads)
    out.update({"read_lat_us_min": lat.min, "read_lat_us_p50": lat.median, "read_lat_us_p99": lat.p99,
                "reads": float(lat.n), "bytes": float(moved)})
    return out
