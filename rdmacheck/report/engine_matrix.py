"""Rich output of `rdmacheck mooncake matrix`, `simopen` and `race`."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from rdmacheck.report.engine_matrix_result import EngineCell, EngineMatrixResult
from rdmacheck.report.engine_result import ForcedOpenResult, RaceResult
from rdmacheck.report.render import STYLE


def _mark(c: EngineCell) -> str:
    v = f"[{STYLE.get(c.verdict, '')}]{c.verdict}[/]"
    first = f" {c.findings[0]}" if c.findings else ""
    more = f" +{len(c.findings) - 1}" if len(c.findings) > 1 else ""
    met = "" if c.met else " [bold red](unexpected)[/]"
    return f"{v}{first}{more}{met}"


def cell_line(c: EngineCell) -> str:
    met = "as expected" if c.met else "UNEXPECTED"
    return (f"{c.release} {c.scenario}: {c.verdict} ({met}) in {c.duration_s:.1f} s"
            + (f" — {', '.join(c.findings)}" if c.findings else ""))


def render_engine_matrix(res: EngineMatrixResult, console: Console) -> None:
    t = Table(title=f"mooncake matrix · {res.device} · engine releases x scenarios", title_justify="left")
    t.add_column("release", no_wrap=True)
    for s in res.scenarios:
        t.add_column(s)
    for r in res.releases:
        t.add_row(r, *[_mark(c) if (c := res.cell(r, s)) else "-" for s in res.scenarios])
    console.print(t)
    for c in res.cells:
        if c.verdict != "PASS" or not c.met or c.scenario in ("simopen", "race"):
            console.print(f"[bold]{c.release} {c.scenario}[/]: " + "; ".join(c.evidence), highlight=False,
                          soft_wrap=True)
    for n in res.notes:
        console.print(f"note: {n}", highlight=False)
    met = sum(c.met for c in res.cells)
    console.print(f"{met}/{len(res.cells)} cells as expected · {res.duration_s:.0f} s", highlight=False)


def render_forced_open(res: ForcedOpenResult, console: Console) -> None:
    t = Table(title=f"mooncake simopen · {res.release} · {res.device} · {res.endpoints} endpoint(s) forced per "
                    f"round · answer deadline {res.answer_timeout_s:g} s", title_justify="left")
    for col in ("round", "segment", "engine asked at s", "engine's answer to ours", "engine write", "data",
                "write back", "findings"):
        t.add_column(col)
    for r in res.rounds:
        for h in r.handshakes:
            ans = (f"none: {h.engine_answer_error}" if h.engine_answer_error else
                   f"{h.engine_answer_ms:.0f} ms, QPs {h.engine_answer_qpns}"
                   + (" (= its request's)" if h.engine_answer_qpns == h.engine_request_qpns else
                      f" (its request offered {h.engine_request_qpns})")) if h.engine_request_at_s is not None \
                else "its request never came"
            t.add_row(str(r.index), h.segment, "-" if h.engine_request_at_s is None else f"{h.engine_request_at_s:.2f}",
                      ans, h.engine_write, h.data, h.write_back, ", ".join(h.findings()) or "-")
        if r.error:
            t.add_row(str(r.index), "-", "-", r.error, "", "", "", "")
    console.print(t)
    for r in res.rounds:
        for line in r.engine_log:
            console.print(f"round {r.index} engine: {line}", highlight=False, soft_wrap=True)
    v = f"[{STYLE.get(res.verdict, '')}]{res.verdict}[/]"
    console.print(f"{v}: {res.release} · {', '.join(res.findings()) or 'no finding'} · {res.duration_s:.1f} s",
                  highlight=False)


def render_race(res: RaceResult, console: Console) -> None:
    t = Table(title=f"mooncake race · {res.release} · {res.device} · {res.threads} call(s) per engine · "
                    f"{res.length} bytes each way · watchdog {res.hang_after_s:g} s", title_justify="left")
    for col in ("trial", "outcome", "engine a: returned/blocked", "engine b: returned/blocked", "verified a / b",
                "slowest ms", "evidence"):
        t.add_column(col)
    for tr in res.trials:
        a, b = (tr.sides + [None, None])[:2]
        style = {"pass": "bold green", "hang": "bold red", "fail": "bold red"}[tr.outcome]
        slow = max((s.slowest_ms or 0.0) for s in tr.sides) if tr.sides else 0.0
        evidence = tr.error or ("last lines: " + " / ".join(sorted({s.last_log_line for s in tr.sides}))
                                if tr.outcome == "hang" else "")
        t.add_row(str(tr.index), f"[{style}]{tr.outcome}[/]",
                  f"{a.returned}/{a.blocked}" if a else "-", f"{b.returned}/{b.blocked}" if b else "-",
                  f"{'yes' if a and a.verified else 'no'} / {'yes' if b and b.verified else 'no'}",
                  f"{slow:.0f}" if slow else "-", evidence[:160])
    console.print(t)
    v = f"[{STYLE.get(res.verdict, '')}]{res.verdict}[/]"
    console.print(f"{v}: {res.release} · {res.rates()} · {res.duration_s:.1f} s", highlight=False)
