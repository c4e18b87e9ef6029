"""simopen results: per round and side, what the simultaneous open did, and the verdict."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from rdmacheck.output.outcome import Case
from rdmacheck.words import Verdict

SCHEMA = 1
COUNTED = ("hangs", "errors", "unconnected", "duplicates", "crossed", "write_failures", "verify_failures",
           "leaked_qps")  # each must be 0 in a passing round


@dataclass
class SimopenRound:
    round: int
    side: str
    verdict: str
    all_connected_ms: float
    verified: int
    hangs: int = 0
    errors: int = 0
    unconnected: int = 0
    duplicates: int = 0
    crossed: int = 0
    write_failures: int = 0
    verify_failures: int = 0
    leaked_qps: int | None = None
    reclaimed_qps: int = 0
    qps_in_use: int | None = None  # the kernel's count for the process before teardown
    handshakes: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_event(cls, side: str, ev: dict) -> "SimopenRound":
        names = {f.name for f in fields(cls)}
        return cls(side=side, **{k: v for k, v in ev.items() if k in names and k != "side"})

    def problems(self) -> list[str]:
        return [f"{k.replace('_', ' ')} {getattr(self, k)}" for k in COUNTED if getattr(self, k)]


@dataclass
class SimopenResult:
    device: str
    endpoints: int
    rounds_planned: int
    policy: str
    callers: int
    rounds: list[SimopenRound] = field(default_factory=list)
    qps_before: int | None = None  # kernel QP count (all processes) before and after the run
    qps_after: int | None = None
    error: str | None = None
    duration_s: float = 0.0
    logs: str | None = None

    @property
    def leaked_total(self) -> int | None:
        if self.qps_before is None or self.qps_after is None:
            return None
        return self.qps_after - self.qps_before

    @property
    def verdict(self) -> str:
        complete = bool(self.rounds) and len({r.round for r in self.rounds}) == self.rounds_planned
        ok = complete and not self.error and all(r.verdict == Verdict.PASS for r in self.rounds)
        return Verdict.PASS if ok and not self.leaked_total and not self.unknown_counts() else Verdict.FAIL

    def unknown_counts(self) -> list[str]:
        """Leak counts that could not be read: a leak check that cannot count has not passed."""
        missing = [f"round {r.round} {r.side}: QPs left after teardown" for r in self.rounds if r.leaked_qps is None]
        if self.leaked_total is None:
            missing.append("the kernel's QP count before or after the run")
        return missing

    def totals(self) -> dict[str, int]:
        return {k: sum(getattr(r, k) or 0 for r in self.rounds) for k in (*COUNTED, "verified")}

    TONE_CASE = "rdmacheck-simopen"

    @property
    def ok(self) -> bool:
        return self.verdict == Verdict.PASS

    def cases(self) -> list[Case]:
        cases = []
        for r in self.rounds:
            case = Case(id=f"round-{r.round}.{r.side}", classname=f"rdmacheck.simopen.{self.device}",
                        name=f"round-{r.round}.{r.side}", time_s=r.all_connected_ms / 1000, logs=self.logs)
            if r.verdict != Verdict.PASS or r.leaked_qps is None:
                case.failure = ", ".join(r.problems()) or "QPs left after teardown unreadable"
                case.failure_type = r.verdict
            cases.append(case)
        return cases

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(schema=SCHEMA, kind="simopen", verdict=self.verdict, leaked_total=self.leaked_total,
                 unknown_counts=self.unknown_counts(),
                 totals=self.totals())
        return d
