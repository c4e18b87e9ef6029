"""Expectations: which verdict a cell should have, so CI fails on a regression but not on a
known provider limit (e.g. siw: reset = FAIL)."""

from __future__ import annotations

from dataclasses import dataclass

from rdmacheck.report.results import FAIL, PASS, SKIP, CellResult
from rdmacheck.words import Verdict

MATCH_KEYS = ("device", "provider", "mode", "strategy", "restart")


@dataclass(frozen=True)
class Expectation:
    verdict: Verdict
    reason: str = ""
    findings: tuple[str, ...] = ()  # a FAIL rule names the findings it accepts; any other is unexpected
    device: str | None = None
    provider: str | None = None
    mode: str | None = None
    strategy: str | None = None
    restart: str | None = None

    def matches(self, cell: CellResult) -> bool:
        strategy = cell.strategy_used or cell.strategy
        values = {"device": cell.device, "provider": cell.provider, "mode": cell.mode, "strategy": strategy,
                  "restart": cell.restart}
        return all(getattr(self, k) in (None, values[k]) for k in MATCH_KEYS)

    def specificity(self) -> int:
        return sum(getattr(self, k) is not None for k in MATCH_KEYS)


def expected_for(cell: CellResult, rules: list[Expectation]) -> Expectation | None:
    """The most specific matching rule (later rules win ties)."""
    best = None
    for r in rules:
        if r.matches(cell) and (best is None or r.specificity() >= best.specificity()):
            best = r
    return best


def judge(cell: CellResult, rules: list[Expectation]) -> None:
    """Set cell.expected / cell.met: a SKIP always meets; otherwise the verdict must equal the
    expectation (PASS when no rule matches)."""
    rule = expected_for(cell, rules)
    cell.expected = rule.verdict if rule else PASS
    cell.expectation_reason = rule.reason if rule else None
    cell.met = cell.verdict == SKIP or cell.verdict == cell.expected and (
        cell.verdict != FAIL or rule is None or cell.finding in rule.findings)

