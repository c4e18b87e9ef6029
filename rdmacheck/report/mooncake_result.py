"""What the `rdmacheck mooncake` commands found: reestablish rounds, a probe, the segments in etcd."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from rdmacheck.words import Verdict

if TYPE_CHECKING:
    from rdmacheck.mooncake.messages import SegmentDesc
    from rdmacheck.mooncake.reestablish import MooncakePlan


@dataclass
class MooncakeRound:
    index: int
    ok: bool = False
    restarted_name: str = ""  # the restarted side's name: the same every round
    start_s: float | None = None  # spawn -> ready of the restarted side
    first_write_ms: float | None = None  # its ready -> the first write done (handshake included)
    target_ok: bool = False
    readback_ok: bool = False
    target_verify: str = ""  # what the check found (the seed, or the first mismatch)
    readback: str = ""
    error: str | None = None
    finding: str | None = None  # the finding's identifier: what the engine did, when it explains a failure
    finding_detail: str | None = None  # what was seen, in words

    @property
    def finding_text(self) -> str | None:
        return f"{self.finding}: {self.finding_detail}" if self.finding and self.finding_detail else self.finding


@dataclass
class MooncakeResult:
    plan: MooncakePlan
    rounds: list[MooncakeRound] = field(default_factory=list)
    engine_log: dict[str, int] = field(default_factory=dict)
    engine_errors: list[str] = field(default_factory=list)
    rdmacheck_events: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    duration_s: float = 0.0

    @property
    def verdict(self) -> str:
        ok = not self.error and len(self.rounds) == self.plan.rounds and all(r.ok for r in self.rounds)
        return Verdict.PASS if ok else Verdict.FAIL

    def to_dict(self) -> dict:
        d = asdict(self)
        d["plan"]["log_dir"] = str(self.plan.log_dir)
        d["verdict"] = self.verdict
        return d


@dataclass
class ProbeResult:
    address: str
    probe_reply: dict | None = None
    probe_ms: float | None = None
    probe_unanswered: str | None = None  # why the Probe got no reply (engines before 0.3.10.post2)
    segment: SegmentDesc | None = None
    metadata_ms: float | None = None
    problems: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def verdict(self) -> str:
        return Verdict.PASS if self.segment is not None and not self.problems and not self.error else Verdict.FAIL

    def to_dict(self) -> dict:
        return {"address": self.address, "verdict": self.verdict, "probe_reply": self.probe_reply,
                "probe_ms": self.probe_ms, "probe_unanswered": self.probe_unanswered, "metadata_ms": self.metadata_ms, "problems": self.problems,
                "error": self.error, "segment": self.segment.to_json() if self.segment else None}


@dataclass
class SegmentEntry:
    name: str
    devices: list[str]
    buffers: int
    buffer_bytes: int
    timestamp: str
    age_s: float | None
    rpc: str | None  # ip:port from mooncake/rpc_meta/<name>
    alive: str  # "alive (probe N ms)" | "stale: <why>" | "no rpc_meta"

    def to_dict(self) -> dict:
        return dict(self.__dict__)
