"""What two real engines did writing to each other at one instant (`mooncake race`).

Findings are read off what was recorded (returns, blocked calls, memory checks), never guessed."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

from rdmacheck.findings import data_check_finding
from rdmacheck.words import Verdict


@dataclass
class RaceSide:
    name: str = ""
    returned: int = 0  # write calls that returned 0
    failed: int = 0  # write calls that returned an error
    blocked: int = 0  # write calls still blocked at the deadline
    slowest_ms: float | None = None
    readback_ok: bool | None = None  # this engine READ its own write back from the other (None: not reached)
    checked: bool = False  # this engine's check of its memory answered
    verified: bool = False  # the other engine's pattern is in this engine's memory
    verify: str = ""
    last_log_line: str = ""


@dataclass
class RaceTrial:
    index: int
    sides: list[RaceSide] = field(default_factory=list)
    error: str | None = None
    engine_log: list[str] = field(default_factory=list)

    @property
    def outcome(self) -> str:
        """'pass', 'hang' (a write never returned), 'fail' (an error, or data not where it should be)."""
        if any(s.blocked for s in self.sides):
            return "hang"
        if self.error or len(self.sides) != 2 or any(s.failed or not s.verified or not s.readback_ok for s in self.sides):
            return "fail"
        return "pass"

    def findings(self) -> list[str]:
        if self.outcome == "hang":
            return ["engine-write-hung"]
        out = []
        if any(s.failed for s in self.sides):
            out.append("engine-write-failed")
        if len(self.sides) == 2 and not out:
            for k, s in enumerate(self.sides):  # s checked what the other side wrote and READ back
                writer = self.sides[1 - k]
                found = data_check_finding(s.verified if s.checked else None, writer.readback_ok is not False)
                if found:
                    out.append(found)
        if self.error and not out:
            out.append("deadline" if "deadline" in self.error else "role-crashed")
        return list(dict.fromkeys(out))


@dataclass
class RaceResult:
    release: str
    device: str
    threads: int
    length: int
    hang_after_s: float
    trials_planned: int
    trials: list[RaceTrial] = field(default_factory=list)
    duration_s: float = 0.0
    not_on_rdma: str = ""  # why the engines' logs do not show RDMA on the device under test ("": they do)

    def count(self, outcome: str) -> int:
        return sum(1 for t in self.trials if t.outcome == outcome)

    @property
    def verdict(self) -> Verdict:
        ok = bool(self.trials) and len(self.trials) == self.trials_planned and self.count("pass") == len(self.trials)
        return Verdict.PASS if ok and not self.not_on_rdma else Verdict.FAIL

    @property
    def ok(self) -> bool:
        return self.verdict == Verdict.PASS

    def findings(self) -> list[str]:
        found = list(Counter(f for t in self.trials for f in t.findings()))
        found += ["engine-not-on-rdma"] if self.not_on_rdma else []
        return found or ([] if self.trials else ["no-evidence"])

    def rates(self) -> str:
        n = len(self.trials)
        return (f"{self.count('pass')}/{n} passed, {self.count('hang')}/{n} hung, {self.count('fail')}/{n} failed"
                if n else "no trial ran")

    def to_dict(self) -> dict:
        return {**asdict(self), "verdict": self.verdict, "findings": self.findings(),
                "passed": self.count("pass"), "hung": self.count("hang"), "failed": self.count("fail")}
