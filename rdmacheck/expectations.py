"""Expectations: which verdict a cell of a grid should have, so CI fails on a regression but not on
a known provider or engine limit (siw: reset = FAIL; Mooncake 0.3.10: the simultaneous open). One
engine for the cell matrix and the engine matrix: a rule matches a cell by its coordinates, the most
specific rule wins, and a FAIL meets its rule only with findings the rule names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from rdmacheck.words import Verdict


@dataclass(frozen=True)
class Expectation:
    verdict: Verdict
    reason: str = ""
    findings: tuple[str, ...] = ()  # a FAIL rule names the findings it accepts; any other is unexpected
    where: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (coordinate, the values it matches); absent: any

    @classmethod
    def of(cls, verdict: Verdict, reason: str = "", findings: tuple[str, ...] = (),
           **where: str | tuple[str, ...] | None) -> "Expectation":
        return cls(verdict, reason, tuple(findings), tuple(
            (k, (v,) if isinstance(v, str) else tuple(v)) for k, v in where.items() if v is not None))

    def value(self, key: str) -> str | None:
        """The one value a coordinate is matched on (scenario files name one), or None."""
        vals = dict(self.where).get(key)
        return vals[0] if vals and len(vals) == 1 else None

    def matches(self, coords: Mapping[str, str]) -> bool:
        return all(coords.get(k) in vals for k, vals in self.where)

    def specificity(self) -> int:
        return len(self.where)


def expected_for(coords: Mapping[str, str], rules: list[Expectation] | tuple[Expectation, ...]) -> Expectation | None:
    """The most specific matching rule (later rules win ties)."""
    best = None
    for r in rules:
        if r.matches(coords) and (best is None or r.specificity() >= best.specificity()):
            best = r
    return best


@dataclass(frozen=True)
class Judgement:
    expected: Verdict
    reason: str | None
    met: bool
    unexpected: tuple[str, ...] = ()  # findings of a FAIL that its FAIL rule does not accept


def judge(verdict: str, findings: list[str], rule: Expectation | None) -> Judgement:
    """A SKIP always meets. No rule: only a PASS meets. A rule: the same verdict, and for a FAIL at
    least one finding, each one the rule accepts."""
    if rule is None:
        return Judgement(Verdict.PASS, None, verdict in (Verdict.PASS, Verdict.SKIP))
    unexpected = tuple(f for f in findings if f not in rule.findings) \
        if verdict == Verdict.FAIL == rule.verdict else ()
    met = verdict == Verdict.SKIP or (verdict == rule.verdict and not unexpected
                                      and (verdict != Verdict.FAIL or bool(findings)))
    return Judgement(rule.verdict, rule.reason or None, met, unexpected)
