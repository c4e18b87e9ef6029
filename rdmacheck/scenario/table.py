"""The table people came for: rows device (provider) x mode, columns strategy x restart side."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from rdmacheck.findings import summary as finding_summary
from rdmacheck.output.style import verdict_text
from rdmacheck.scenario.result import FAIL, PASS, SKIP, CellResult, RunResult


def _cell_text(c: CellResult, notes: dict[str, int]) -> Text:
    text = verdict_text(c.verdict)
    stats = c.reconnect_stats()
    if c.verdict == PASS and stats:
        text.append(f" {stats['median']:.0f} ms")
    why = finding_summary(c.finding) if c.verdict == FAIL else c.skip_reason if c.verdict == SKIP else None
    if why:
        n = notes.setdefault(why, len(notes) + 1)
        text.append(f" [{n}]")
    if c.verdict == FAIL and c.met:
        text.append(" (expected)")
    elif c.met is False and c.verdict == c.expected:
        text.append(" unexpected finding", "bold red")
    elif c.met is False:
        text.append(f" ≠ expected {c.expected}", "bold red")
    return text


def render_matrix(run: RunResult, console: Console) -> None:
    rows = list(dict.fromkeys((c.device, c.provider, c.mode) for c in run.cells))
    cols = list(dict.fromkeys((c.strategy, c.restart) for c in run.cells))
    notes: dict[str, int] = {}
    t = Table(title="rdmacheck matrix: can the surviving side re-establish after its peer restarts?",
              title_justify="left", caption="cell: verdict, median reconnect (restarted side ready and survivor's probe done -> first "
              "verified write); \\[n] = note below", caption_justify="left")
    t.add_column("device (provider)", no_wrap=True)
    t.add_column("mode", no_wrap=True)
    for strategy, restart in cols:
        t.add_column(f"{strategy}\nrestart {restart}", no_wrap=True)
    index = {(c.device, c.provider, c.mode, c.strategy, c.restart): c for c in run.cells}
    for dev, prov, mode in rows:
        t.add_row(f"{dev} ({prov})", mode, *[
            _cell_text(index[(dev, prov, mode, s, r)], notes) if (dev, prov, mode, s, r) in index else "-"
            for s, r in cols])
    console.print(t)
    for text, n in notes.items():
        console.print(f"  [{n}] {text}", highlight=False, soft_wrap=True)
    console.print(summary(run), highlight=False, soft_wrap=True)


def summary(run: RunResult) -> str:
    count = {v: sum(1 for c in run.cells if c.verdict == v) for v in (PASS, FAIL, SKIP)}
    expected_fail = sum(1 for c in run.cells if c.verdict == FAIL and c.met)
    unmet = [c for c in run.cells if c.met is False]
    state = "interrupted: " if run.interrupted else f"stopped early ({run.error}): " if run.error else ""
    verdict = "all cells met their expectations" if run.all_met() else \
        f"{len(unmet)} cell(s) did not meet their expectation" if unmet else "incomplete"
    return (f"{state}{len(run.cells)} cells: {count[PASS]} pass, {count[FAIL]} fail ({expected_fail} expected), "
            f"{count[SKIP]} skip — {verdict}")
