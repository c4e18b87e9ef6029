"""The engines matrix in a terminal: the table, the evidence of every cell worth reading, a line per cell as
it ends. Findings, evidence and notes come from engines' logs: printed as text, never as markup."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from rdmacheck.enginematrix.result import EngineCell, EngineMatrixResult
from rdmacheck.output.console import line, styled
from rdmacheck.output.style import verdict_text
from rdmacheck.words import Verdict


def _mark(c: EngineCell) -> Text:
    first = f" {c.findings[0]}" if c.findings else ""
    more = f" +{len(c.findings) - 1}" if len(c.findings) > 1 else ""
    return line(verdict_text(c.verdict), f"{first}{more}", styled(" (unexpected)" if not c.met else "", "bold red"))


def cell_line(c: EngineCell) -> str:
    met = "as expected" if c.met else "UNEXPECTED"
    return (f"{c.release} {c.scenario}: {c.verdict} ({met}) in {c.duration_s:.1f} s"
            + (f" — {', '.join(c.findings)}" if c.findings else ""))


def render_engine_matrix(res: EngineMatrixResult, console: Console) -> None:
    t = Table(title=f"{res.command} · {res.device} · engine releases x scenarios", title_justify="left")
    t.add_column("engine release" if res.command == "engines matrix" else "release", no_wrap=True)
    for s in res.scenarios:
        t.add_column(s)
    for r in res.releases:
        t.add_row(r, *[_mark(c) if (c := res.cell(r, s)) else "-" for s in res.scenarios])
    console.print(t)
    for c in res.cells:
        if c.verdict != Verdict.PASS or not c.met or c.scenario in ("simopen", "race"):
            console.print(line(styled(f"{c.release} {c.scenario}", "bold"), ": " + "; ".join(c.evidence)),
                          highlight=False, soft_wrap=True)
    for n in res.notes:
        console.print(f"note: {n}", highlight=False, markup=False)
    met = sum(c.met for c in res.cells)
    console.print(f"{met}/{len(res.cells)} cells as expected · {res.duration_s:.0f} s", highlight=False)
