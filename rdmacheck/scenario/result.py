"""The results of a grid of cells (matrix, run, reestablish --local): the single source every
renderer reads, written atomically as JSON after every cell."""

from __future__ import annotations

import platform
import statistics
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from rdmacheck.expectations import Expectation, Judgement, expected_for, judge
from rdmacheck.findings import summary as finding_summary
from rdmacheck.output.outcome import Case
from rdmacheck.words import Verdict

if TYPE_CHECKING:
    from rdmacheck.scenario.cell import CellSpec

SCHEMA_VERSION = 1
PASS, FAIL, SKIP = Verdict.PASS, Verdict.FAIL, Verdict.SKIP


@dataclass
class RoundResult:
    index: int  # 0 = the first connection, 1.. = after the n-th restart
    verdict: str
    finding: str | None = None
    step: str | None = None  # the step it failed at or waited for
    detail: str | None = None
    # From the moment both sides can re-establish (the restarted side ready, and a surviving
    # initiator done with its dead-peer probe) to the first verified write.
    reconnect_ms: float | None = None
    probe_wait_ms: float | None = None  # how long the restarted side was ready before the survivor's probe ended
    detect_ms: float | None = None  # restart side killed -> survivor noticed
    detect_via: str | None = None
    probe_status: str | None = None  # the survivor's RDMA WRITE to the dead peer
    probe_ms: float | None = None
    survivor: str | None = None
    survivor_qpn_before: int | None = None
    survivor_qpn_after: int | None = None
    restarted_qpn: int | None = None
    renew_ms: float | None = None  # QP work of the survivor (reset or destroy+create)
    renew_timings_ms: dict = field(default_factory=dict)
    connect_timings_ms: dict = field(default_factory=dict)
    write_ms: float | None = None
    read_ms: float | None = None
    bytes: int | None = None  # verified on the target and read back: a PASS round always has some
    fault: bool = False  # this row records an injected fault (kill-at: the death), not a round of data


@dataclass
class CellResult:
    device: str
    provider: str
    mode: str
    strategy: str
    restart: str
    strategy_used: str | None = None
    verdict: str = FAIL
    finding: str | None = None
    step: str | None = None
    skip_reason: str | None = None
    rounds: list[RoundResult] = field(default_factory=list)
    rounds_planned: int = 0
    duration_s: float = 0.0
    logs: str | None = None
    scenario: str | None = None
    expected: str | None = None  # the verdict the expectations ask for (PASS when none matches)
    expectation_reason: str | None = None
    expected_findings: list[str] = field(default_factory=list)  # the findings an expected FAIL accepts
    met: bool | None = None  # verdict == expected (a SKIP always meets)

    @classmethod
    def of(cls, spec: "CellSpec") -> "CellResult":
        """The (empty) result of a cell about to run: its coordinates, from the spec."""
        return cls(device=spec.device, provider=spec.provider, mode=spec.mode, strategy=spec.strategy,
                   restart=spec.restart, scenario=spec.scenario)

    @property
    def cell_id(self) -> str:
        return f"{self.device}.{self.mode}.{self.strategy}.restart-{self.restart}"

    def conclude(self) -> None:
        """A cell passes when every planned round ran and passed with verified data; a fault row
        (SKIP: the fault happened as planned) carries none and counts as neither."""
        if self.skip_reason:
            self.verdict = SKIP
            return
        for r in self.rounds:
            if r.verdict == PASS and not r.bytes:  # never a PASS without data
                r.verdict, r.finding = FAIL, "no-data-verified"
                r.detail = (r.detail + "; " if r.detail else "") + "the round passed without verified data"
        failed = next((r for r in self.rounds if r.verdict != PASS and not (r.fault and r.verdict == SKIP)), None)
        if failed:
            self.verdict, self.finding, self.step = FAIL, failed.finding, failed.step
        elif len(self.rounds) < self.rounds_planned + 1:
            self.verdict, self.finding = FAIL, "rounds-missing"
            self.step = f"only {len(self.rounds)} of {self.rounds_planned + 1} rounds ran"
        else:
            self.verdict = PASS

    def coords(self) -> dict[str, str]:
        """What an expectation matches a cell on (the strategy it used, when `auto` resolved it)."""
        return {"device": self.device, "provider": self.provider, "mode": self.mode,
                "strategy": self.strategy_used or self.strategy, "restart": self.restart}

    def judge(self, rules: list[Expectation]) -> None:
        """Set expected / met from the most specific matching rule (PASS when none matches)."""
        rule = expected_for(self.coords(), rules)
        self.expected_findings = list(rule.findings) if rule else []
        self._apply(judge(self.verdict, [self.finding] if self.finding else [], rule))

    def rejudge(self) -> None:
        """Judge again from what the file holds (verdict, finding, the expectation it was run with),
        never from a stored `met`: an edited or damaged file cannot say more than its evidence."""
        rule = None if self.expected is None else Expectation(Verdict(self.expected), self.expectation_reason or "",
                                                              tuple(self.expected_findings))
        self._apply(judge(self.verdict, [self.finding] if self.finding else [], rule))

    def _apply(self, j: Judgement) -> None:
        self.expected, self.expectation_reason, self.met = j.expected, j.reason, j.met

    def case(self) -> Case:
        case = Case(id=self.cell_id, classname=f"rdmacheck.{self.device}.{self.mode}",
                    name=f"{self.strategy}.restart-{self.restart}", time_s=self.duration_s, logs=self.logs)
        if self.verdict == SKIP:
            case.skipped = self.skip_reason or "skipped"
        elif self.verdict == FAIL and self.met:
            case.skipped = f"expected failure: {finding_summary(self.finding)} ({self.expectation_reason or ''})"
        elif not self.met:
            unexpected = " (not a finding the expectation accepts)" if self.verdict == self.expected else ""
            case.failure = (finding_summary(self.finding) + unexpected if self.verdict == FAIL
                            else f"expected {self.expected} but the cell passed") or "failed"
            case.failure_type = self.step or self.verdict
            where = f"step: {self.step}" if self.step else ""
            case.failure_text = "\n".join(x for x in (where, *(
                f"round {r.index}: {r.verdict} {r.finding or ''} {r.detail or ''}".rstrip() for r in self.rounds)) if x)
        return case

    def reconnect_stats(self) -> dict[str, float] | None:
        xs = sorted(r.reconnect_ms for r in self.rounds if r.reconnect_ms is not None and r.verdict == PASS)
        if not xs:
            return None
        p90 = xs[min(len(xs) - 1, int(round(0.9 * (len(xs) - 1))))]
        return {"median": statistics.median(xs), "p90": p90, "min": xs[0], "max": xs[-1], "n": len(xs)}


@dataclass
class RunResult:
    command: str
    cells: list[CellResult] = field(default_factory=list)
    schema_version: int = SCHEMA_VERSION
    started: str = field(default_factory=lambda: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    host: str = field(default_factory=platform.node)
    kernel: str = field(default_factory=platform.release)
    finished: bool = False
    interrupted: bool = False
    rdma_core: str | None = None
    devices: list[dict] = field(default_factory=list)  # name, provider, node_type of each device
    error: str | None = None  # why the run stopped early, if it did

    TONE_CASE = "rdmacheck-matrix"

    def all_met(self) -> bool:
        return bool(self.cells) and all(c.met for c in self.cells) and not self.interrupted and not self.error

    @property
    def ok(self) -> bool:
        return self.all_met()

    def cases(self) -> list[Case]:
        return [c.case() for c in self.cells]

    def to_dict(self) -> dict:
        d = asdict(self)
        for c, cd in zip(self.cells, d["cells"]):
            cd["reconnect_ms"] = c.reconnect_stats()
        return d


VERDICTS = tuple(v.value for v in Verdict)


def _verdict_of(verdict: str, where: str) -> None:
    if verdict not in VERDICTS:
        raise ValueError(f"{where}: {verdict!r} is not one of {', '.join(VERDICTS)}")


def run_from_dict(d: dict) -> RunResult:
    """Load a results file (the schema version is checked: newer files need a newer rdmacheck) through its
    declared schema, the dataclasses above (msgspec, strict: every field of its type); anything else than
    what this version writes is a ValueError naming the field."""
    import msgspec  # noqa: PLC0415

    if not isinstance(d, dict):
        raise ValueError(f"the file holds a JSON {type(d).__name__}, not an object")
    version = d.get("schema_version")
    if version != SCHEMA_VERSION:
        raise ValueError(f"results schema version {version!r}; this rdmacheck reads version {SCHEMA_VERSION}")
    try:
        run = msgspec.convert(d, RunResult, strict=True)
    except msgspec.ValidationError as e:
        raise ValueError(str(e)) from None
    for i, c in enumerate(run.cells):
        _verdict_of(c.verdict, f"$.cells[{i}].verdict")
        for k, r in enumerate(c.rounds):
            _verdict_of(r.verdict, f"$.cells[{i}].rounds[{k}].verdict")
    return run
