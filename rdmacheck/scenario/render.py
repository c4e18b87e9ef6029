"""Rich rendering of a cell's rounds and a one-line summary."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from rdmacheck.output.style import verdict_text
from rdmacheck.scenario.result import PASS, CellResult


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def _qpn(v: int | None) -> str:
    return "-" if v is None else f"{v:#x}"


def render_rounds(cell: CellResult, console: Console) -> None:
    t = Table(title=f"{cell.device} ({cell.provider}) · mode {cell.mode} · restart {cell.restart} · "
                    f"strategy {cell.strategy}" + (f" -> {cell.strategy_used}" if cell.strategy != cell.strategy_used
                                                   and cell.strategy_used else ""),
              title_justify="left")
    for col in ("round", "verdict", "reconnect ms", "detect ms (via)", "probe", "survivor QPN before -> after",
                "renew ms", "write ms", "finding / step"):
        t.add_column(col, no_wrap=col != "finding / step")
    for r in cell.rounds:
        via = f" ({r.detect_via})" if r.detect_via else ""
        probe = f"{r.probe_status} {_ms(r.probe_ms)}" if r.probe_status else "-"
        qpns = ("(first connect)" if r.index == 0 else
                f"{_qpn(r.survivor_qpn_before)} -> {_qpn(r.survivor_qpn_after)}")
        finding = "" if r.verdict == PASS else " · ".join(x for x in (r.finding, r.step, r.detail) if x)
        t.add_row(str(r.index), verdict_text(r.verdict), _ms(r.reconnect_ms),
                  f"{_ms(r.detect_ms)}{via}", probe, qpns, _ms(r.renew_ms), _ms(r.write_ms), finding)
    console.print(t)
    console.print(summary_line(cell), highlight=False, soft_wrap=True)


def summary_line(cell: CellResult) -> str:
    stats = cell.reconnect_stats()
    lat = f"reconnect median {stats['median']:.1f} ms, p90 {stats['p90']:.1f} ms over {stats['n']}" if stats else \
        "no reconnect measured"
    passed = sum(1 for r in cell.rounds if r.verdict == PASS)
    tail = f" — {cell.finding}" if cell.verdict != PASS and cell.finding else ""
    return (f"{cell.verdict}: {cell.device} {cell.mode} restart={cell.restart} strategy={cell.strategy_used or cell.strategy}"
            f": {passed}/{cell.rounds_planned + 1} rounds passed; {lat}{tail} (logs: {cell.logs})")
