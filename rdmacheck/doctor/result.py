"""A doctor check: PASS / WARN / FAIL / SKIP, a reason, a hint to fix it."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from rdmacheck.words import Verdict

# A check has the verdicts of a cell, and WARN: works, but not as it should.
PASS, FAIL, SKIP, WARN = Verdict.PASS, Verdict.FAIL, Verdict.SKIP, "WARN"


@dataclass
class Check:
    group: str  # "host" or a device name
    name: str
    status: str
    reason: str
    hint: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


STATUSES = (PASS, WARN, FAIL, SKIP)


def summary(checks: list[Check]) -> str:
    n = {s: sum(1 for c in checks if c.status == s) for s in STATUSES}
    state = "unhealthy" if n[FAIL] else "healthy"
    return f"{state}: {len(checks)} checks, {n[PASS]} pass, {n[WARN]} warn, {n[FAIL]} fail, {n[SKIP]} skip"
