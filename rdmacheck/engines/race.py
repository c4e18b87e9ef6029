"""The natural simultaneous open, engine against engine (`rdmacheck mooncake race`, the engines matrix's race cells).

Two fresh engine processes per trial, each told to write to the other at one wall-clock instant
(the same clock: one machine) with several threads; every call has a watchdog (`hang_after`):
a call still blocked then is a hang and both engines are killed, never waited out. A trial passes
only when every call returned 0 and each engine finds the other's pattern in its own memory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from rdmacheck.engines.catalog import adapter
from rdmacheck.engines.mooncake import Engine
from rdmacheck.engines.evidence import evidence, log_lines
from rdmacheck.engines.process import fresh_log_dir, log_size, spawn_engine
from rdmacheck.engines.race_result import RaceResult, RaceSide, RaceTrial
from rdmacheck.errors import DeadlineExceeded
from rdmacheck.pattern import new_seed
from rdmacheck.roles.process import RoleFailed, RoleProcess


@dataclass
class RacePlan:
    engine: Engine
    host: str
    device: str = "rxe0"
    trials: int = 5
    threads: int = 1  # write calls per engine, all at the instant (0.3.10 hung 7/8 with 1, 6/8 with 4)
    length: int = 1 << 20  # bytes each engine writes to the other (split over the threads)
    hang_after: float = 5.0  # a call not returned this long after the instant is a hang
    lead: float = 1.0  # the instant is this far after both engines are ready
    step_timeout: float = 30.0  # engine start, the memory checks
    log_dir: Path = Path("rdmacheck-logs/mooncake-race")


def _collect(plan: RacePlan, engines: list[RoleProcess], marks: list[int], at: float,
             sides: list[RaceSide]) -> None:
    """Every `wrote` event until each call has returned or the watchdog fires."""
    deadline = time.monotonic() + max(0.0, at - time.time()) + plan.hang_after
    want = plan.threads
    for proc, mark, side in zip(engines, marks, sides):
        proc.cursor = mark
        got = 0
        while got < want:
            try:
                ev = proc.wait_for("wrote", max(0.001, deadline - time.monotonic()), "the engine's writes")
            except DeadlineExceeded:
                break
            got += 1
            side.returned += bool(ev["ok"])
            side.failed += not ev["ok"]
            side.slowest_ms = max(side.slowest_ms or 0.0, ev["ms"])
        side.blocked = want - got


def _trial(plan: RacePlan, index: int) -> RaceTrial:
    trial = RaceTrial(index)
    logs = [plan.log_dir / f"trial{index}-engine{k}.log" for k in "ab"]
    engines = [spawn_engine(plan.engine, f"engine {k} {plan.engine.label} (trial {index})", plan.host, plan.device,
                            2 * plan.length, log, name=f"rdmacheck-race-{k}")
               for k, log in zip("ab", logs)]
    try:
        ready = [p.wait_for("ready", plan.step_timeout, "the engine to start") for p in engines]
        for k, proc in enumerate(engines):  # an engine that learns a peer from its metadata (NIXL) learns it now
            mark = proc.mark()
            proc.send({"op": "add_peer", "metadata": ready[1 - k].get("metadata", ""), "peer": ready[1 - k]["name"]})
            r = proc.wait_for("reply", plan.step_timeout, "the engine adding its peer", since=mark)
            if not r["ok"]:
                raise RoleFailed(f"engine {'ab'[k]} could not add its peer: {r['detail']}")
        trial.sides = [RaceSide(name=r["name"]) for r in ready]
        seeds = [new_seed(), new_seed()]
        at = time.time() + plan.lead
        marks = [p.mark() for p in engines]
        for k, proc in enumerate(engines):
            other = ready[1 - k]
            proc.send({"op": "write_many", "at": at, "targets": [
                {"peer": other["name"], "remote_addr": other["addr"] + plan.length, "seed": seeds[k],
                 "length": plan.length, "threads": plan.threads}]})
        _collect(plan, engines, marks, at, trial.sides)
        if not any(s.blocked for s in trial.sides):
            for proc in engines:  # write_many's own answer first, so it is never taken for the check's
                proc.wait_for("reply", plan.step_timeout, "the engine's answer to write_many")
            for k, proc in enumerate(engines):  # each READs its write back (ordered behind it) before any check
                mark = proc.mark()
                proc.send({"op": "read", "peer": ready[1 - k]["name"], "remote_addr": ready[1 - k]["addr"] + plan.length,
                           "seed": seeds[k], "length": plan.length})
                v = proc.wait_for("reply", plan.step_timeout, "the engine's read-back of its write", since=mark)
                trial.sides[k].readback_ok = bool(v["ok"])
            for k, proc in enumerate(engines):
                mark = proc.mark()
                proc.send({"op": "verify", "seed": seeds[1 - k], "offset": plan.length, "length": plan.length})
                v = proc.wait_for("reply", plan.step_timeout, "the engine's check of its memory", since=mark)
                trial.sides[k].checked = True
                trial.sides[k].verified, trial.sides[k].verify = bool(v["ok"]), v["detail"]
    except (RoleFailed, DeadlineExceeded) as e:
        trial.error = str(e)[:400]
    finally:
        ends = [log_size(proc, log) for proc, log in zip(engines, logs)]
        for proc in engines:
            proc.kill()
            proc.stop(grace=5.0)
        lines = [log_lines(log, 0, end) for log, end in zip(logs, ends)]
        trial.engine_log = evidence([x for ls in lines for x in ls])
        for side, ls in zip(trial.sides, lines):
            side.last_log_line = (ls or ["(nothing)"])[-1][:220]
    return trial


def run_race(plan: RacePlan) -> RaceResult:
    fresh_log_dir(plan.log_dir, "trial*.log")
    res = RaceResult(release=plan.engine.release, device=plan.device, threads=plan.threads, length=plan.length,
                     hang_after_s=plan.hang_after, trials_planned=plan.trials)
    t0 = time.monotonic()
    for i in range(plan.trials):
        res.trials.append(_trial(plan, i))
    if res.count("pass"):
        res.not_on_rdma = adapter(plan.engine).not_on_rdma(sorted(plan.log_dir.glob("trial*.log")), plan.device) or ""
    res.duration_s = round(time.monotonic() - t0, 3)
    return res
