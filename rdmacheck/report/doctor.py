"""Doctor checks: the Check model (PASS / WARN / FAIL / SKIP, a reason, a hint) and their table,
grouped by host / device, then a summary."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from rich.console import Console
from rich.table import Table

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

STYLE = {PASS: "green", WARN: "yellow", FAIL: "bold red", SKIP: "dim"}


def render_doctor(checks: list[Check], console: Console) -> None:
    t = Table(title="rdmacheck doctor", title_justify="left")
    for col in ("", "check", "status", "why / fix"):
        t.add_column(col, no_wrap=col != "why / fix")
    last = None
    for c in checks:
        text = c.reason + (f"\n[dim]fix: {c.hint}[/]" if c.hint and c.status != PASS else
                           f"\n[dim]tip: {c.hint}[/]" if c.hint else "")
        t.add_row(c.group if c.group != last else "", c.name, f"[{STYLE[c.status]}]{c.status}[/]", text)
        last = c.group
    console.print(t)
    console.print(summary(checks), highlight=False, soft_wrap=True)


def summary(checks: list[Check]) -> str:
    n = {s: sum(1 for c in checks if c.status == s) for s in STYLE}
    state = "unhealthy" if n[FAIL] else "healthy"
    return f"{state}: {len(checks)} checks, {n['PASS']} pass, {n['WARN']} warn, {n['FAIL']} fail, {n['SKIP']} skip"
