"""The results of `rdmacheck engines matrix` (and `mooncake matrix`): one cell per engine release x scenario."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from rdmacheck.expectations import Expectation, judge
from rdmacheck.findings import summary as finding_summary
from rdmacheck.output.outcome import Case
from rdmacheck.words import Verdict

SCHEMA = "rdmacheck.engines-matrix/1"
SCHEMAS_READ = (SCHEMA, "rdmacheck.mooncake-matrix/1")  # the name before the engines matrix had its package


@dataclass
class EngineCell:
    release: str
    scenario: str
    verdict: Verdict
    findings: list[str]
    evidence: list[str]  # what was seen, line by line (answers, times, counts, engine log lines)
    duration_s: float
    detail: dict  # the scenario's own result, in full
    logs: str = ""
    expected: Verdict | None = None
    expectation_reason: str = ""
    met: bool = True
    unexpected_findings: list[str] = field(default_factory=list)
    engine: str = "mooncake"  # the kind; `release` is the row's label (Mooncake: the bare number)

    @property
    def cell_id(self) -> str:
        return f"{self.release.replace(' ', '-')}.{self.scenario}"

    def judge(self, rule: Expectation | None) -> None:
        """Met: the expected verdict, and for a FAIL only findings the rule accepts. No rule: PASS is met."""
        j = judge(self.verdict, self.findings, rule)
        self.met, self.unexpected_findings = j.met, list(j.unexpected)
        if rule is not None:
            self.expected, self.expectation_reason = j.expected, j.reason or ""

    def case(self, device: str) -> Case:
        """An expected failure is skipped, a regression fails."""
        case = Case(id=self.cell_id, classname=f"rdmacheck.{self.engine}.{device}.{self.release.split()[-1]}", name=self.scenario,
                    time_s=self.duration_s, logs=self.logs)
        findings = ", ".join(finding_summary(f) for f in self.findings)
        if self.verdict == Verdict.SKIP:
            case.skipped = self.evidence[0] if self.evidence else "skipped"
        elif self.met and self.verdict == Verdict.FAIL:
            case.skipped = f"expected failure: {findings} ({self.expectation_reason})"
        elif not self.met:
            case.failure = (f"unexpected findings: {', '.join(self.unexpected_findings)}" if self.unexpected_findings
                            else f"{self.verdict}, expected {self.expected or Verdict.PASS}: {findings or 'no finding'}")
            case.failure_type = self.verdict
            case.failure_text = "\n".join(self.evidence)
        return case

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class EngineMatrixResult:
    device: str
    releases: list[str]
    scenarios: list[str]
    cells: list[EngineCell] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    duration_s: float = 0.0
    planned: int | None = None  # the cells that apply (None: every release x scenario)
    command: str = "engines matrix"  # or `mooncake matrix`: what the table's title says

    TONE_CASE = "rdmacheck-mooncake-matrix"  # kept: T-one jobs know the run by this name

    @property
    def ok(self) -> bool:
        return self.all_met()

    def cases(self) -> list[Case]:
        return [c.case(self.device) for c in self.cells]

    def all_met(self) -> bool:
        planned = len(self.releases) * len(self.scenarios) if self.planned is None else self.planned
        return bool(self.cells) and all(c.met for c in self.cells) and len(self.cells) == planned

    def cell(self, release: str, scenario: str) -> EngineCell | None:
        return next((c for c in self.cells if c.release == release and c.scenario == scenario), None)

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, "device": self.device, "releases": self.releases, "scenarios": self.scenarios,
                "all_met": self.all_met(), "planned": self.planned, "command": self.command, "duration_s": self.duration_s, "notes": self.notes,
                "cells": [c.to_dict() for c in self.cells]}



def result_from_dict(d: dict) -> EngineMatrixResult:
    """An engines-matrix results file read back (either schema name) through its declared schema, the
    dataclasses above (msgspec, strict); its cells' judgement is made again by the caller. A field of the
    wrong type is a ValueError naming it."""
    import msgspec  # noqa: PLC0415

    if not isinstance(d, dict) or d.get("schema") not in SCHEMAS_READ:
        raise ValueError(f"not an engines-matrix results file (schema one of {', '.join(SCHEMAS_READ)})")
    try:
        return msgspec.convert(d, EngineMatrixResult, strict=True)
    except msgspec.ValidationError as e:
        raise ValueError(str(e)) from None
