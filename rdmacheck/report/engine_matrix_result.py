"""The results of `rdmacheck mooncake matrix`: one cell per engine release x scenario."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from rdmacheck.words import Verdict

if TYPE_CHECKING:
    from rdmacheck.mooncake.expected import EngineExpectation

SCHEMA = "rdmacheck.mooncake-matrix/1"


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

    @property
    def cell_id(self) -> str:
        return f"{self.release}.{self.scenario}"

    def judge(self, rule: EngineExpectation | None) -> None:
        """Met: the expected verdict, and for a FAIL only findings the rule accepts. No rule: PASS is met."""
        if rule is None:
            self.met = self.verdict == Verdict.PASS
            return
        self.expected, self.expectation_reason = rule.verdict, rule.reason
        self.unexpected_findings = [f for f in self.findings if f not in rule.findings] \
            if self.verdict == Verdict.FAIL == rule.verdict else []
        self.met = self.verdict == rule.verdict and not self.unexpected_findings

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

    def all_met(self) -> bool:
        return bool(self.cells) and all(c.met for c in self.cells) and \
            len(self.cells) == len(self.releases) * len(self.scenarios)

    def cell(self, release: str, scenario: str) -> EngineCell | None:
        return next((c for c in self.cells if c.release == release and c.scenario == scenario), None)

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, "device": self.device, "releases": self.releases, "scenarios": self.scenarios,
                "all_met": self.all_met(), "duration_s": self.duration_s, "notes": self.notes,
                "cells": [c.to_dict() for c in self.cells]}
