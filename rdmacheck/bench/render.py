"""`rdmacheck bench` results as rich tables."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from rdmacheck.bench.result import STEPS, BenchResult


def render_bench(res: BenchResult, console: Console) -> None:
    # Titles as lines of their own: a table title wraps at the (narrow) table's width.
    console.print(f"latency · {res.device} ({res.provider}) · {res.iters} iterations, one at a time, busy-polled",
                  highlight=False)
    t = Table()
    for col in ("operation", "min us", "median us", "p99 us", "max us"):
        t.add_column(col)
    for name, d in res.latency_us.items():
        t.add_row(name, f"{d.min:.1f}", f"{d.median:.1f}", f"{d.p99:.1f}", f"{d.max:.1f}")
    console.print(t)
    console.print(f"bandwidth · {res.size} B operations, {res.depth} in flight", highlight=False)
    b = Table()
    b.add_column("operation")
    b.add_column("MB/s")
    for name, v in res.bandwidth_MBps.items():
        b.add_row(name, f"{v:.1f}")
    console.print(b)
    for strategy, steps in res.reestablish_ms.items():
        console.print(f"re-establishment · {strategy} · ms per step over {steps['total'].n} rounds", highlight=False)
        r = Table()
        for col in ("step", "min", "median", "p99", "max"):
            r.add_column(col)
        for step in STEPS:
            d = steps[step]
            r.add_row(step, f"{d.min:.2f}", f"{d.median:.2f}", f"{d.p99:.2f}", f"{d.max:.2f}")
        console.print(r)
    if res.verified is not None:
        console.print(f"the target verified the {res.verified} bytes the bandwidth WRITEs left in its buffer")
    for note in res.notes:
        console.print(f"note: {note}", highlight=False)
