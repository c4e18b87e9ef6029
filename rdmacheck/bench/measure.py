"""What `rdmacheck bench` measures over one connected QP: latency of small operations, pipelined
bandwidth, and the cost of re-establishing the connection step by step."""

from __future__ import annotations

import time
from dataclasses import dataclass

from rdmacheck.verbs.rc import Buffer, QueuePair


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
