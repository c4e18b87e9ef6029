"""Rich tables for `rdmacheck mooncake`: probe, segments, reestablish."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from rdmacheck.report.mooncake_result import MooncakeResult, ProbeResult, SegmentEntry
from rdmacheck.report.render import STYLE
from rdmacheck.verbs.gid import byte_gid
from rdmacheck.words import Verdict


def _verdict(v: str) -> str:
    return f"[{STYLE.get(v, '')}]{v}[/]"


def render_probe(res: ProbeResult, console: Console) -> None:
    seg = res.segment
    if seg is not None:
        t = Table(title=f"segment {seg.name} ({seg.protocol})", title_justify="left")
        for col in ("device", "lid", "gid"):
            t.add_column(col, no_wrap=True)
        for d in seg.devices:
            t.add_row(d.name, str(d.lid), byte_gid(d.gid))
        console.print(t)
        b = Table(title="registered buffers", title_justify="left")
        for col in ("name", "addr", "length", "end", "rkey per device"):
            b.add_column(col, no_wrap=True)
        for buf in seg.buffers:
            b.add_row(buf.name, f"{buf.addr:#x}", str(buf.length), f"{buf.end:#x}", ",".join(map(str, buf.rkey)))
        console.print(b)
    for p in res.problems:
        console.print(f"problem: {p}", highlight=False)
    if res.probe_unanswered:
        console.print(f"note: {res.probe_unanswered}", highlight=False)
    timing = f"probe {res.probe_ms} ms, metadata {res.metadata_ms} ms" if res.metadata_ms is not None else ""
    console.print(f"{_verdict(res.verdict)}: " + (res.error or f"{res.address} answered ({timing}); "
                  f"{len(res.problems)} problem(s)"), highlight=False)


def render_segments(rows: list[SegmentEntry], console: Console) -> None:
    t = Table(title="mooncake segments in etcd", title_justify="left")
    for col in ("segment", "devices", "buffers", "bytes", "age s", "rpc", "state"):
        t.add_column(col, no_wrap=col != "state")
    for r in rows:
        style = "green" if r.alive.startswith("alive") else "red"
        t.add_row(r.name, ",".join(r.devices), str(r.buffers), str(r.buffer_bytes),
                  "-" if r.age_s is None else f"{r.age_s:.0f}", r.rpc or "-", f"[{style}]{r.alive}[/]")
    console.print(t)
    stale = sum(1 for r in rows if not r.alive.startswith("alive"))
    console.print(f"{len(rows)} segment(s), {stale} stale or unreachable", highlight=False)


def render_mooncake(res: MooncakeResult, console: Console) -> None:
    p = res.plan
    t = Table(title=f"mooncake reestablish · {p.device} · engine is the {p.engine_role} · the {p.who(p.restart)} "
                    f"{p.restart} is killed and restarted under one name · {p.length} bytes per round",
              title_justify="left")
    for col in ("round", "verdict", "restarted", "start s", "first write ms", "target verify", "read back",
                "finding / error"):
        t.add_column(col, no_wrap=col not in ("finding / error", "target verify", "read back"))
    for r in res.rounds:
        t.add_row(str(r.index), _verdict(Verdict.PASS if r.ok else Verdict.FAIL), r.restarted_name,
                  "-" if r.start_s is None else f"{r.start_s:.2f}",
                  "-" if r.first_write_ms is None else f"{r.first_write_ms:.1f}",
                  "ok" if r.target_ok else r.target_verify or "-", "ok" if r.readback_ok else r.readback or "-",
                  r.finding_text or r.error or "")
    console.print(t)
    seen = ", ".join(f"{k} {v}" for k, v in res.engine_log.items())
    console.print(f"engine log: {seen or 'none'}", highlight=False)
    for line in res.engine_errors:
        console.print(f"engine error: {line}", highlight=False, markup=False)
    if res.rdmacheck_events:
        console.print("rdmacheck peer: " + ", ".join(f"{k} {v}" for k, v in sorted(res.rdmacheck_events.items())),
                      highlight=False)
    ok = sum(r.ok for r in res.rounds)
    console.print(f"{_verdict(res.verdict)}: {ok}/{p.rounds} rounds verified ({res.duration_s:.1f} s; logs: "
                  f"{p.log_dir})" + (f"; error: {res.error}" if res.error else ""), highlight=False)
