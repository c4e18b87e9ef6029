"""Rich output of the `rdmacheck mooncake` commands: probe, segments, reestablish, simopen, race."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from rdmacheck.engines.race_result import RaceResult
from rdmacheck.mooncake.forced_open_result import ForcedOpenResult
from rdmacheck.mooncake.probe import ProbeResult
from rdmacheck.mooncake.reestablish_result import MooncakeResult
from rdmacheck.mooncake.segments import SegmentEntry
from rdmacheck.output.console import line as text_line, styled
from rdmacheck.output.style import verdict_text
from rdmacheck.verbs.gid import byte_gid
from rdmacheck.words import Verdict


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
    console.print(text_line(verdict_text(res.verdict), f": {res.release} · "
                                f"{', '.join(res.findings()) or 'no finding'} · {res.duration_s:.1f} s"))


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
        t.add_row(str(tr.index), styled(tr.outcome, style),
                  f"{a.returned}/{a.blocked}" if a else "-", f"{b.returned}/{b.blocked}" if b else "-",
                  f"{'yes' if a and a.verified else 'no'} / {'yes' if b and b.verified else 'no'}",
                  f"{slow:.0f}" if slow else "-", evidence[:160])
    console.print(t)
    console.print(text_line(verdict_text(res.verdict), f": {res.release} · {res.rates()} · {res.duration_s:.1f} s"))


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
    console.print(text_line(verdict_text(res.verdict), ": " + (res.error or f"{res.address} answered ({timing}); "
                                                                   f"{len(res.problems)} problem(s)")))


def render_segments(rows: list[SegmentEntry], console: Console) -> None:
    t = Table(title="mooncake segments in etcd", title_justify="left")
    for col in ("segment", "devices", "buffers", "bytes", "age s", "rpc", "state"):
        t.add_column(col, no_wrap=col != "state")
    for r in rows:
        style = "green" if r.alive.startswith("alive") else "red"
        t.add_row(r.name, ",".join(r.devices), str(r.buffers), str(r.buffer_bytes),
                  "-" if r.age_s is None else f"{r.age_s:.0f}", r.rpc or "-", styled(r.alive, style))
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
        t.add_row(str(r.index), verdict_text(Verdict.PASS if r.ok else Verdict.FAIL), r.restarted_name,
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
    console.print(text_line(verdict_text(res.verdict), f": {ok}/{p.rounds} rounds verified ({res.duration_s:.1f} s; "
                                f"logs: {p.log_dir})" + (f"; error: {res.error}" if res.error else "")))
