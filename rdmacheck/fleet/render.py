"""The fleet on a terminal: a host x host matrix (up to 32 hosts; a summary beyond), then one
`host | Healthy` / `host | ERROR <finding>` line per host, the form health-check tooling parses."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.table import Table
from rich.text import Text

from rdmacheck.fleet.result import FleetResult
from rdmacheck.output.console import styled
from rdmacheck.words import Verdict

MATRIX_MAX = 32


def _mark(res: FleetResult, a: str, b: str) -> Text:
    if a == b:
        return styled("·", "dim")
    o = res.verdict_of(a, b)
    if o is None:
        return styled("-", "dim")
    if any(set(p) == {a, b} for p in res.diagnosis.flaky_links):
        return styled("FLAKY", "bold magenta")
    if o.verdict == Verdict.PASS:
        slow = o.pair in res.diagnosis.slowness.slow_pairs
        return styled("SLOW", "bold blue") if slow else styled(Verdict.PASS, "bold green")
    return styled("DOWN" if o.finding == "host-down" else Verdict.FAIL, "bold red")


def render_fleet(res: FleetResult, console: Console) -> None:
    hosts = res.hosts
    if len(hosts) <= MATRIX_MAX:
        t = Table(title=f"fleet {res.run} · pairing {res.pairing} · {len(hosts)} hosts · "
                        f"{len(res.final_pairs())} pairs · {len(res.rounds)} rounds", title_justify="left")
        t.add_column("", no_wrap=True)
        for h in hosts:
            t.add_column(h, no_wrap=True, justify="center")
        for a in hosts:
            t.add_row(a, *[_mark(res, a, b) for b in hosts])
        console.print(t)
    else:
        counts = Counter(o.verdict for o in res.final_pairs())
        console.print(f"fleet {res.run}: {len(hosts)} hosts, {sum(counts.values())} pairs: "
                      f"{counts.get(Verdict.PASS, 0)} passed, {counts.get(Verdict.FAIL, 0)} failed", highlight=False)
    for o in res.final_pairs():
        if o.verdict != Verdict.PASS:
            console.print(f"  {o.target} <- {o.initiator} (round {o.round}): {o.finding}"
                          + (f" at {o.step}" if o.step else "") + (f": {o.detail[:160]}" if o.detail else ""),
                          highlight=False, soft_wrap=True)
    for line in res.host_lines():
        console.print(line, highlight=False)
    d = res.diagnosis
    for r in d.bad_links:
        console.print(f"bad link: {r.pair.target} <-> {r.pair.initiator} ({r.finding}; both pass with others)",
                      highlight=False)
    for r in d.untested:
        console.print(f"untested: {r.pair.target} <-> {r.pair.initiator} ({r.finding}: control plane only, no "
                      "data-plane evidence; both pass with others)", highlight=False)
    for pair, seen in d.flaky_links.items():
        console.print(f"flaky link: {pair.target} <-> {pair.initiator} ({seen})", highlight=False, soft_wrap=True)
    slow = d.slowness
    for pair, why in slow.slow_links.items():
        console.print(f"slow link: {pair.target} <-> {pair.initiator} ({why}; both fast with others)", highlight=False,
                      soft_wrap=True)
    if slow.measured:
        base = slow.baseline.get("read_lat_us_min", {})
        bw = slow.baseline.get("write_MBps", {})
        shown = (f"fastest 64 B READ: median {base['median']:.4g} µs (MAD {base['mad']:.3g}), WRITE median "
                 f"{bw['median']:.4g} MB/s" if "median" in base and "median" in bw else
                 f"fastest 64 B READ: min {base['min']:.4g} µs, WRITE max {bw['max']:.4g} MB/s"
                 if "min" in base and "max" in bw
                 else slow.note)
        console.print(f"links: {slow.measured} measured · {shown} · slow if {slow.rule}: {len(slow.slow_pairs)} flagged",
                      highlight=False, soft_wrap=True)
    reconnect = sorted(ms for o in res.final_pairs() for ms in o.reconnect_ms)
    timing = (f" · reconnect median {reconnect[len(reconnect) // 2]:.0f} ms, max {reconnect[-1]:.0f} ms"
              if reconnect else "")
    state = "healthy" if res.healthy else "NOT healthy"
    console.print(f"fleet {res.run}: {state} · {res.duration_s:.1f} s{timing}", highlight=False)
