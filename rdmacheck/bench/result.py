"""What `rdmacheck bench` measured: distributions per operation and per re-establishment step."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from rdmacheck.verbs.measure import Dist


STEPS = ("renew", "handshake", "INIT", "RTR", "RTS", "first write", "total")



@dataclass
class BenchResult:
    device: str
    provider: str = "?"
    size: int = 0
    depth: int = 0
    iters: int = 0
    latency_us: dict[str, Dist] = field(default_factory=dict)  # "write 64 B" -> distribution
    bandwidth_MBps: dict[str, float] = field(default_factory=dict)  # "write 64 KiB x16" -> MB/s
    reestablish_ms: dict[str, dict[str, Dist]] = field(default_factory=dict)  # strategy -> step -> dist
    verified: int | None = None  # --verify: bytes the target verified after the bandwidth writes
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"schema": 1, "kind": "bench", **asdict(self)}
