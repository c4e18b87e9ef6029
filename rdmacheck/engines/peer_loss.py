"""When a peer dies and the survivor is not told: the failures NIXL's users report, engine against engine.

  dead-peer / dead-peer-errmode-none   three agents (initiator, target, third). The target is SIGKILLed and the
      initiator, told nothing, writes to it: the write must fail (how fast and with which error is recorded),
      never hang to its deadline nor be reported done. Its transfers with the third agent must then still be
      verified (after one REMOTE_DISCONNECT every later transfer failing is a broken survivor). Then the target
      restarts under its name, the initiator removes and re-adds it, and both directions are verified. UCX's
      error handling mode is the release's default (`peer` in 1.5.1) or `none`; the engine's own backend
      parameters, read back from it, prove which ran.
  next-peer   the target serves; the initiator transfers and is SIGKILLed with no remove and no invalidation;
      an agent under a new name connects to the target: its data is verified in both memories.
  stale-descriptor   the initiator keeps descriptor lists of the target's buffer (prep_xfer_dlist). The target
      restarts (a new registration); the initiator removes and re-adds it, then writes through the old lists and
      to the old address: each must fail loudly or put its data in the new target's memory, checked there; a
      write reported done whose data is not there is the silent corruption users report. Fresh descriptors are
      verified after.

Every transfer that counts is checked as in pair.py: written, read back over the same connection, then checked
in the receiver's own memory.
"""

from __future__ import annotations

import time

from rdmacheck.engines.nixl_side import ERROR_MODE, ERROR_MODE_ENV
from rdmacheck.engines.pair import (
    Engines,
    Failed,
    Hung,
    PairPlan,
    checked_transfer,
    finish,
    play_round,
)
from rdmacheck.engines.pair_result import PairResult, PairRound, Transfer
from rdmacheck.engines.process import fresh_log_dir
from rdmacheck.errors import RdmacheckError
from rdmacheck.pattern import new_seed

# UCX's error handling mode, asked for explicitly (1.5.1's default is `peer`) and read back from the engine.
ERROR_MODES = {"dead-peer": "peer", "dead-peer-errmode-none": "none"}
LOSS_SCENARIOS = (*ERROR_MODES, "next-peer", "stale-descriptor")


def _dead_write(e: Engines, rnd: PairRound, writer: str, dead: str) -> None:
    """`writer`, told nothing, writes to the agent that was killed: a loud failure is what it must do."""
    p = e.plan
    t0 = time.monotonic()
    try:  # posted, then waited for up to dead_peer_timeout: long enough for UCX's own retries to give up
        r = e.call(writer, p.step_timeout, f"the {writer} posting a write to the dead {dead}", op="post",
                   peer=e.ready[dead]["name"], remote_addr=e.ready[dead]["addr"] + p.length, seed=new_seed(),
                   length=p.length, count=1)
        if r["ok"]:
            r = e.call(writer, p.dead_peer_timeout + p.step_timeout, f"the {writer}'s write to the dead {dead}",
                       op="settle", wait_s=p.dead_peer_timeout)
    finally:
        rnd.probe_ms = round((time.monotonic() - t0) * 1000, 1)
    if r["ok"]:
        rnd.probe = f"reported done in {rnd.probe_ms:.0f} ms with the peer dead"
        raise Failed("engine-dead-peer-write-accepted", f"the write to the SIGKILLed {dead} was reported done "
                                                        f"in {rnd.probe_ms:.0f} ms")
    if "still in progress" in r["detail"]:
        rnd.probe = f"neither failed nor done after {rnd.probe_ms:.0f} ms: {r['detail'][:200]}"
        raise Failed("engine-write-hung", f"the write to the SIGKILLed {dead}: {r['detail'][:200]}")
    rnd.probe = f"failed in {rnd.probe_ms:.0f} ms: {r['detail'][:200]}"


def _survivor_transfers(e: Engines, rnd: PairRound, directions: list[tuple[str, str]], finding: str) -> None:
    """Transfers that must still work; any failure there is the scenario's own finding."""
    for writer, receiver in directions:
        try:
            t = checked_transfer(e, writer, receiver)
        except (Failed, Hung) as x:
            raise Failed(finding, f"{writer} -> {receiver}: {x}") from None
        rnd.transfers.append(t)
        if not (t.receiver_ok and t.readback_ok):
            raise Failed(finding, f"{writer} -> {receiver}: {t.detail}")


def _dead_peer(e: Engines, res: PairResult, cycles: int) -> None:
    def first(rnd: PairRound) -> None:
        for role in ("target", "third", "initiator"):
            e.start(role)
        for a, b in (("initiator", "target"), ("target", "initiator"), ("initiator", "third"), ("third", "initiator")):
            e.introduce(a, b)

    play_round(e, res, 0, "start", first, [("initiator", "target"), ("target", "initiator"), ("initiator", "third")])
    for c in range(cycles):
        if not res.rounds[-1].ok:
            return

        def unwarned(rnd: PairRound) -> None:
            e.kill("target")
            _dead_write(e, rnd, "initiator", "target")
            _survivor_transfers(e, rnd, [("initiator", "third"), ("third", "initiator")], "engine-survivor-broken")

        play_round(e, res, len(res.rounds), "kill target, initiator not told", unwarned, [])
        if not res.rounds[-1].ok:
            return

        def back(rnd: PairRound) -> None:
            e.starts["target"] += 1
            e.start("target")
            e.forget("initiator", "target")
            e.introduce("initiator", "target")
            e.introduce("target", "initiator")

        play_round(e, res, len(res.rounds), "restart target, remove+add", back)


def _next_peer(e: Engines, res: PairResult, cycles: int) -> None:
    def first(rnd: PairRound) -> None:
        e.start("target")
        e.start("initiator")
        e.introduce("initiator", "target")
        e.introduce("target", "initiator")

    play_round(e, res, 0, "start", first)
    last = "initiator"
    for c in range(1, cycles + 1):
        if not res.rounds[-1].ok:
            return
        new = f"next{c}"

        def next_one(rnd: PairRound, gone: str = last, new: str = new) -> None:
            e.kill(gone)  # no remove, no invalidation: the target still holds its metadata
            e.start(new)
            e.introduce(new, "target")
            e.introduce("target", new)
            _survivor_transfers(e, rnd, [(new, "target"), ("target", new)], "engine-next-peer-failed")

        play_round(e, res, len(res.rounds), f"kill {last} unannounced, {new} connects", next_one, [])
        last = new


def _prepped_write(e: Engines, rnd: PairRound, stale: bool) -> Transfer | None:
    """The initiator writes through the descriptor lists it kept for the target, reads back at the same place, and
    the target checks its memory there. `stale`: the lists describe the target before its restart, so a failure is
    the right answer (recorded in rnd.probe); a write reported done must have put its data in the new memory."""
    p = e.plan
    old = e.ready["target"].get("prepped_addr", e.ready["target"]["addr"])
    io = dict(peer=e.ready["target"]["name"], seed=new_seed(), length=p.length)
    t0 = time.monotonic()
    w = e.call("initiator", p.transfer_timeout + p.step_timeout, "the initiator's write through kept descriptors",
               op="write_prepped", **io)
    took = round((time.monotonic() - t0) * 1000, 1)
    if not w["ok"]:
        if "still in progress" in w["detail"]:
            raise Failed("engine-write-hung", f"write through kept descriptors: {w['detail'][:200]}")
        if not stale:
            raise Failed("engine-write-failed", f"write through prepared descriptors: {w['detail'][:200]}")
        rnd.probe = f"kept descriptors: refused in {took:.0f} ms: {w['detail'][:160]}"
        return None
    t = _check_at(e, old, io["seed"])
    if stale:
        rnd.probe = (f"kept descriptors: reported done in {took:.0f} ms; the new target's memory "
                     f"{'holds' if t.receiver_ok else 'does not hold'} the data")
        if not t.receiver_ok:
            raise Failed("engine-stale-write-accepted", f"a write through the target's old descriptors was reported "
                                                        f"done; the restarted target's memory: {t.detail}")
    elif not (t.receiver_ok and t.readback_ok):
        raise Failed("engine-write-failed", f"through prepared descriptors: {t.detail}")
    return t


def _check_at(e: Engines, remote_addr: int, seed: int) -> Transfer:
    """Read back what the initiator wrote at remote_addr (an operation behind the write on the same connection),
    then the target checks its own second half."""
    p = e.plan
    t = Transfer("initiator")
    r = e.call("initiator", p.transfer_timeout + p.step_timeout, "the initiator's read-back", op="read",
               peer=e.ready["target"]["name"], remote_addr=remote_addr, seed=seed, length=p.length)
    t.readback_ok = bool(r["ok"])
    v = e.call("target", p.step_timeout, "the target's check of its memory", op="verify", seed=seed,
               offset=p.length, length=p.length)
    t.receiver_ok = bool(v["ok"])
    t.detail = f"receiver: {v['detail']}; read back: {r['detail']}"
    return t


def _prep(e: Engines) -> None:
    p = e.plan
    addr = e.ready["target"]["addr"] + p.length
    r = e.call("initiator", p.step_timeout, "the initiator preparing descriptors", op="prep",
               peer=e.ready["target"]["name"], remote_addr=addr, length=p.length)
    if not r["ok"]:
        raise Failed("engine-write-failed", f"prep_xfer_dlist: {r['detail'][:200]}")
    e.ready["target"]["prepped_addr"] = addr


def _stale_descriptor(e: Engines, res: PairResult, cycles: int) -> None:
    def first(rnd: PairRound) -> None:
        e.start("target")
        e.start("initiator")
        e.introduce("initiator", "target")
        e.introduce("target", "initiator")
        _prep(e)
        rnd.transfers.append(_prepped_write(e, rnd, stale=False))

    play_round(e, res, 0, "start, write through prepared descriptors", first, [("target", "initiator")])
    for _ in range(cycles):
        if not res.rounds[-1].ok:
            return

        def restarted(rnd: PairRound) -> None:
            old_addr = e.ready["target"]["prepped_addr"]
            e.kill("target")
            e.starts["target"] += 1
            e.start("target")
            e.ready["target"]["prepped_addr"] = old_addr  # what the initiator's kept lists still describe
            e.forget("initiator", "target")
            e.introduce("initiator", "target")
            e.introduce("target", "initiator")
            moved = "the same" if old_addr == e.ready["target"]["addr"] + e.plan.length else "another"
            stale = _prepped_write(e, rnd, stale=True)
            if stale is not None:
                rnd.transfers.append(stale)
            rnd.probe += f" (the restarted target registered {moved} address)"
            _prep(e)  # fresh descriptors: what an application does once it knows
            rnd.transfers.append(_prepped_write(e, rnd, stale=False))

        play_round(e, res, len(res.rounds), "restart target, write through kept descriptors", restarted,
                   [("initiator", "target"), ("target", "initiator")])


def run_loss(plan: PairPlan) -> PairResult:
    """One loss scenario; `plan.rounds` is the number of deaths (each a round, dead-peer's restart another)."""
    if plan.scenario not in LOSS_SCENARIOS:
        raise RdmacheckError(f"unknown engine scenario {plan.scenario!r} (one of {', '.join(LOSS_SCENARIOS)})")
    mode = ERROR_MODES.get(plan.scenario, "")
    per_death = 2 if plan.scenario in ERROR_MODES else 1  # dead-peer: the unwarned round, then the restart
    res = PairResult(plan.scenario, plan.engine.label, plan.device, 1 + per_death * plan.rounds)
    fresh_log_dir(plan.log_dir, "*.log")
    e = Engines(plan, {ERROR_MODE_ENV: mode} if mode else None)
    t0 = time.monotonic()
    try:
        if plan.scenario in ERROR_MODES:
            if not _mode_in_effect(e, res, mode):
                return res
            _dead_peer(e, res, plan.rounds)
        elif plan.scenario == "next-peer":
            _next_peer(e, res, plan.rounds)
        else:
            _stale_descriptor(e, res, plan.rounds)
        res.backend_params = res.backend_params or dict(e.ready.get("target", {}).get("backend_params") or {})
    finally:
        finish(e, res, t0)
    return res


def _mode_in_effect(e: Engines, res: PairResult, mode: str) -> bool:
    """Start one agent and read back its backend's error mode: a release without the parameter is a SKIP naming
    the parameters it has, never a cell that claims a mode it did not run."""
    try:
        ready = e.start("target")
    except Failed as x:
        res.error = str(x)
        return False
    e.starts["target"] += 1
    res.backend_params = dict(ready.get("backend_params") or {})
    if res.backend_params.get(ERROR_MODE) != mode:
        res.untested = (f"{e.plan.engine.label}'s UCX backend did not take {ERROR_MODE}={mode} (it reports "
                        f"{res.backend_params or 'no parameters'})")
        return False
    e.kill("target")
    return True
