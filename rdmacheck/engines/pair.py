"""Engine against engine, for any adapter: two engine processes of one release, data checked in each
engine's own memory after every step, every wait under a deadline (a call still blocked then is a hang,
a finding; the engines are killed, never waited out).

  restart-initiator / restart-target  that side is SIGKILLed after every round and comes back under its
      name; the survivor is told again (NIXL: remove_remote_agent + add_remote_agent with the new metadata,
      what an application does for a restarted peer). Each round both engines write to each other.
  remove-readd / remove-readd-inflight  the initiator removes the target's agent and adds it again at once
      (with a WRITE posted and not yet completed, for -inflight), then writes again (NIXL only).

Each transfer: the writer WRITEs a new pattern into the receiver, READs it back (ordered behind the WRITE
on the same connection), then the receiver checks its own memory.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rdmacheck.engines.catalog import adapter
from rdmacheck.engines.engine import Engine
from rdmacheck.engines.pair_result import PairResult, PairRound, Transfer
from rdmacheck.engines.process import fresh_log_dir, spawn_engine
from rdmacheck.errors import BadInput, DeadlineExceeded, RdmacheckError
from rdmacheck.findings import data_check_finding
from rdmacheck.pattern import new_seed
from rdmacheck.roles.process import RoleFailed, RoleProcess

PAIR_SCENARIOS = ("restart-initiator", "restart-target", "remove-readd", "remove-readd-inflight")
READD = ("remove-readd", "remove-readd-inflight")
TRANSFER_OPS = ("write", "read", "post", "settle")  # a call still blocked in these is a transfer's hang


@dataclass
class PairPlan:
    engine: Engine
    scenario: str
    host: str
    device: str = "rxe0"
    rounds: int = 2  # rounds after the first (restarts, or remove+add)
    length: int = 1 << 20
    transfer_timeout: float = 5.0  # the engine's own limit on one transfer
    step_timeout: float = 30.0  # a check of an engine's memory, adding or removing a peer
    # A write to a SIGKILLed peer: how long it may take to fail. Measured on rxe0 (NIXL 1.5.1, UCX error mode
    # peer): NIXL_ERR_REMOTE_DISCONNECT after 30.9-48.9 s; in mode none still in progress after 120 s.
    dead_peer_timeout: float = 120.0
    # remove-readd-inflight: stop once this many rounds showed a WRITE in flight at the remove (at most `rounds`)
    inflight_rounds: int = 2
    start_timeout: float = 150.0  # an engine's start (NIXL before 1.4 imports torch: 25-70 s each under TCG)
    log_dir: Path = Path("rdmacheck-logs/engines")


class Hung(Exception):
    """An engine had not answered when its deadline passed: a hang of a transfer call, or of another step."""

    def __init__(self, message: str, op: str):
        super().__init__(message)
        self.finding = "engine-write-hung" if op in TRANSFER_OPS else "deadline"


class Engines:
    """The engine processes of a scenario, by role (initiator, target, ...; each agent is named rdmacheck-ROLE),
    and what each said when it came up. `env`: every side's extra environment (NIXL's error mode)."""

    def __init__(self, plan: PairPlan, env: dict[str, str] | None = None):
        self.plan = plan
        self.env = env or {}
        self.proc: dict[str, RoleProcess] = {}
        self.ready: dict[str, dict] = {}
        self.starts: Counter[str] = Counter()
        self.posting = ""  # how the last `post` was made, in the side's words
        self.removed = ""  # what the last remove's reply said

    def log(self, role: str) -> Path:
        return self.plan.log_dir / f"{role}-{self.starts[role]}.log"

    def start(self, role: str) -> dict:
        p = self.plan
        self.proc[role] = spawn_engine(p.engine, f"{p.engine.label} {role}", p.host, p.device, 2 * p.length,
                                       self.log(role), name=f"rdmacheck-{role}",
                                       transfer_timeout=p.transfer_timeout, env=self.env)
        try:
            self.ready[role] = self.proc[role].wait_for("ready", p.start_timeout, f"the {role} engine to start")
        except (RoleFailed, DeadlineExceeded) as e:
            raise Failed("engine-restart-failed" if self.starts[role] else "role-crashed", str(e)[:300]) from None
        return self.ready[role]

    def call(self, role: str, timeout: float, what: str, **cmd) -> dict:
        proc = self.proc[role]
        mark = proc.mark()
        proc.send(cmd)
        try:
            return proc.wait_for("reply", timeout, what, since=mark)
        except DeadlineExceeded:
            raise Hung(f"{what}: no answer from the {role} engine within {timeout:g} s", cmd.get("op", "")) from None

    def introduce(self, role: str, other: str) -> None:
        """`role` learns `other` (NIXL: its metadata; Mooncake: nothing to learn, by name)."""
        r = self.call(role, self.plan.step_timeout, f"the {role} adding its peer", op="add_peer",
                      metadata=self.ready[other].get("metadata", ""), peer=self.ready[other]["name"])
        if not r["ok"]:
            raise Failed("engine-peer-add-failed", f"{role}: {r['detail']}")

    def forget(self, role: str, other: str) -> bool | None:
        """Remove the peer; whether a transfer it posted was still in flight at the remove (None: none posted,
        or the side did not say)."""
        r = self.call(role, self.plan.step_timeout, f"the {role} removing its peer", op="remove_peer",
                      peer=self.ready[other]["name"])
        if not r["ok"]:
            raise Failed("engine-peer-add-failed", f"{role} removing {other}: {r['detail']}")
        self.removed = str(r.get("detail", ""))
        if r.get("metadata"):  # it opened a new endpoint (DLSlime): a peer connects to that one now
            self.ready[role]["metadata"] = r["metadata"]
        m = IN_FLIGHT.search(str(r.get("detail", "")))
        return None if m is None or m.group(2) == "0" else m.group(1) != "0"

    def kill(self, role: str) -> None:
        proc = self.proc.pop(role, None)
        if proc is not None:
            proc.kill()  # SIGKILL: the peer never hears a goodbye, as after a crash
            proc.stop(grace=5.0)

    def close(self) -> None:
        for role in list(self.proc):
            self.kill(role)


class Failed(Exception):
    def __init__(self, finding: str, detail: str):
        super().__init__(detail)
        self.finding = finding


def checked_transfer(e: Engines, writer: str, receiver: str) -> Transfer:
    """WRITE a new pattern into the receiver's second half, READ it back, then the receiver checks it."""
    p = e.plan
    t = Transfer(writer)
    io = dict(peer=e.ready[receiver]["name"], remote_addr=e.ready[receiver]["addr"] + p.length, seed=new_seed(),
              length=p.length)
    limit = p.transfer_timeout + p.step_timeout
    w = e.call(writer, limit, f"the {writer}'s write", op="write", **io)
    t.write_ms = w.get("ms")
    if not w["ok"]:
        t.detail = f"write: {w['detail']}"
        raise Failed("engine-write-hung" if "still in progress" in w["detail"] else "engine-write-failed", t.detail)
    r = e.call(writer, limit, f"the {writer}'s read-back", op="read", **io)
    t.readback_ok = bool(r["ok"])
    v = e.call(receiver, p.step_timeout, f"the {receiver}'s check of its memory", op="verify", seed=io["seed"],
               offset=p.length, length=p.length)
    t.receiver_ok = bool(v["ok"])
    t.detail = f"receiver: {v['detail']}; read back: {r['detail']}"
    if not r["ok"] and not r["detail"].startswith("first mismatch"):  # the READ itself failed: no data check
        raise Failed("engine-write-hung" if "still in progress" in r["detail"] else "engine-write-failed",
                      f"read back: {r['detail']}")
    return t


def play_round(e: Engines, res: PairResult, index: int, action: str, before,
               directions: list[tuple[str, str]] | None = None) -> PairRound:
    """`before` (the round's action), then each (writer, receiver) transfer checked; the round's finding is the
    first that failed. Default directions: the initiator's after a remove+add, both ways otherwise."""
    rnd = PairRound(index, action)
    res.rounds.append(rnd)
    t0 = time.monotonic()
    try:
        before(rnd)
        rnd.action_ms = round((time.monotonic() - t0) * 1000, 1)
        if directions is None:
            directions = [("initiator", "target")] if action.startswith("remove") else [("initiator", "target"),
                                                                                      ("target", "initiator")]
        for writer, receiver in directions:
            t = checked_transfer(e, writer, receiver)
            rnd.transfers.append(t)
            found = data_check_finding(t.receiver_ok, bool(t.readback_ok))
            if found:
                rnd.finding, rnd.error = found, f"{writer} -> {receiver}: {t.detail}"
                return rnd
        rnd.ok = True
    except Failed as x:
        rnd.finding, rnd.error = x.finding, str(x)
    except Hung as x:
        rnd.finding, rnd.error = x.finding, str(x)
    except RoleFailed as x:
        rnd.finding, rnd.error = "role-crashed", str(x)[:300]
    return rnd


def _restart(e: Engines, side: str):
    other = "target" if side == "initiator" else "initiator"

    def before(rnd: PairRound) -> None:
        e.kill(side)
        e.starts[side] += 1
        old = e.ready[side]["name"]
        e.start(side)
        if e.ready[side]["name"] != old:
            raise Failed("engine-name-changed", f"the restarted {side} came back as {e.ready[side]['name']}, not {old}")
        e.forget(other, side)  # the survivor drops the dead agent and learns the new one
        e.introduce(other, side)
        e.introduce(side, other)
    return before


def _readd(e: Engines, inflight: bool):
    def before(rnd: PairRound) -> None:
        p = e.plan
        if inflight:
            r = e.call("initiator", p.step_timeout, "the initiator posting its writes", op="post",
                       peer=e.ready["target"]["name"], remote_addr=e.ready["target"]["addr"] + p.length,
                       seed=new_seed(), length=p.length, count=IN_FLIGHT_WRITES)
            if not r["ok"]:
                raise Failed("engine-write-failed", f"post: {r['detail']}")
            e.posting = r["detail"]
        shown = e.forget("initiator", "target")
        if inflight:
            rnd.in_flight_at_remove, rnd.at_remove = bool(shown), e.removed[:300]
        e.introduce("initiator", "target")
        if inflight:
            s = e.call("initiator", p.transfer_timeout + p.step_timeout, "the posted write to end", op="settle")
            rnd.inflight = "completed" if s["ok"] else s["detail"][:200]
            if not s["ok"] and "still in progress" in s["detail"]:
                raise Failed("engine-write-hung", f"the write posted before the remove: {s['detail']}")
    return before


def run_pair(plan: PairPlan) -> PairResult:
    if plan.scenario not in PAIR_SCENARIOS:
        raise RdmacheckError(f"unknown engine scenario {plan.scenario!r} (one of {', '.join(PAIR_SCENARIOS)})")
    if "remove_peer" not in adapter(plan.engine).peer_ops:
        # Measured with Mooncake 0.3.13.post1: an engine that accepted handshakes on its pinned port cannot bind
        # it again at once ("P2P: No valid port found"), so its same-name restarts run against rdmacheck's
        # Mooncake-dialect peer instead (mooncake/reestablish.py).
        raise RdmacheckError(f"{plan.scenario} engine against engine needs an engine that forgets and learns a peer "
                             f"(NIXL); {plan.engine.kind}'s restarts run in `mooncake reestablish`")
    fresh_log_dir(plan.log_dir, "*.log")
    inflight = plan.scenario.endswith("inflight")
    if inflight and not 1 <= plan.inflight_rounds <= plan.rounds:
        raise BadInput(f"remove-readd-inflight: {plan.inflight_rounds} rounds with a WRITE in flight cannot be "
                       f"shown in at most {plan.rounds} rounds")
    res = PairResult(plan.scenario, plan.engine.label, plan.device, plan.rounds + 1,
                     inflight_wanted=plan.inflight_rounds if inflight else 0)
    e = Engines(plan)
    t0 = time.monotonic()
    try:

        def first(rnd: PairRound) -> None:
            e.start("target")
            e.start("initiator")
            e.introduce("initiator", "target")
            e.introduce("target", "initiator")

        play_round(e, res, 0, "start", first)
        if res.rounds[0].ok:
            for i in range(1, plan.rounds + 1):
                if plan.scenario in READD:
                    play_round(e, res, i, "remove+add", _readd(e, inflight))
                    if inflight and res.inflight_shown >= plan.inflight_rounds:
                        break  # enough rounds showed the condition; the rest would show it again
                else:
                    side = plan.scenario.split("-", 1)[1]
                    play_round(e, res, i, f"restart {side}", _restart(e, side))
    finally:
        finish(e, res, t0)
    return res


def finish(e: Engines, res: PairResult, t0: float) -> None:
    """Kill the engines, then read their logs: the evidence, and whether they show RDMA on the device."""
    plan = e.plan
    e.close()
    res.posting = e.posting
    res.backend_params = res.backend_params or dict(e.ready.get("initiator", {}).get("backend_params") or {})
    logs = sorted(plan.log_dir.glob("*.log"))
    a = adapter(plan.engine)
    res.engine_log = a.evidence(logs, 8)
    if any(r.ok for r in res.rounds):
        res.not_on_rdma = a.not_on_rdma(logs, plan.device) or ""
        if res.not_on_rdma:
            res.engine_log.insert(0, res.not_on_rdma)
    res.duration_s = round(time.monotonic() - t0, 3)


# WRITEs posted before a remove. On rxe0 NIXL's transfer() returned DONE for each (1 MiB, 64 x 4 MiB, 256-
# descriptor lists; with and without the progress thread, 1 or 4 UCX workers): only a remove made while a
# transfer() call runs on the agent's posting thread meets one in flight. 1 MiB calls took 50-100 ms each.
IN_FLIGHT_WRITES = 8
IN_FLIGHT = re.compile(r"in flight at the remove: (\d+)/(\d+)")
