"""The simopen table."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from rdmacheck.output.console import line, styled
from rdmacheck.output.style import verdict_text
from rdmacheck.simopen.result import SimopenResult


def render_simopen(res: SimopenResult, console: Console) -> None:
    t = Table(title=f"simopen · {res.device} · {res.endpoints} endpoints x {res.callers} callers per side · "
                    f"passive policy {res.policy}", title_justify="left")
    for col in ("round", "side", "verdict", "all connected ms", "handshakes sent/answered/merged/retried/waited",
                "hangs", "dup", "crossed", "verified", "leaked QPs", "problem"):
        t.add_column(col, no_wrap=col != "problem")
    for r in res.rounds:
        h = r.handshakes
        example = next((v[0] for v in r.examples.values() if v), "")
        t.add_row(str(r.round), r.side, verdict_text(r.verdict), f"{r.all_connected_ms:.0f}",
                  "/".join(str(h.get(k, 0)) for k in ("sent", "answered", "merged", "retried", "waited")),
                  str(r.hangs), str(r.duplicates), str(r.crossed), f"{r.verified}/{res.endpoints}",
                  "-" if r.leaked_qps is None else str(r.leaked_qps), example)
    console.print(t)
    tot = res.totals()
    worst = max((r.all_connected_ms for r in res.rounds), default=0.0)
    leaked = "unknown" if res.leaked_total is None else str(res.leaked_total)
    if res.unknown_counts():
        console.print(line(styled("unreadable counts (not a pass):", "bold red"),
                                    f" {'; '.join(res.unknown_counts())} (is `rdma` from iproute2 installed?)"))
    console.print(line(verdict_text(res.verdict), f": {len({r.round for r in res.rounds})}/{res.rounds_planned} "
                  f"rounds, all connected in <= {worst:.0f} ms, hangs {tot['hangs']}, duplicate QPs "
                  f"{tot['duplicates']}, crossed {tot['crossed']}, data verified on {tot['verified']} endpoint-"
                  f"rounds (failures {tot['write_failures'] + tot['verify_failures']}), leaked QPs {leaked} "
                  f"({res.duration_s:.1f} s)" + (f"; error: {res.error}" if res.error else "")))
