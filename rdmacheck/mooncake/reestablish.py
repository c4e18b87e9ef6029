"""`rdmacheck mooncake reestablish`: the seed's scenario against a real Mooncake engine.

The engine is one side, rdmacheck's Mooncake-dialect peer the other. The initiator (whichever
it is) is SIGKILLed after each round and restarted under the same name (its handshake port is
pinned), as the seed test destroys and recreates its initiator; every round writes a new
pattern, has the target verify it in its own memory, reads it back and verifies it again.
--restart target kills and restarts the target instead, under a live initiator: that shows what
the engine does when its peer dies (on rxe: nothing, ever; reported as a finding).
"""

from __future__ import annotations

import re
import time

from rdmacheck.engines.evidence import mooncake_not_on_rdma
from rdmacheck.engines.process import spawn_engine
from rdmacheck.errors import DeadlineExceeded, RdmacheckError
from rdmacheck.findings import data_check_finding
from rdmacheck.mooncake.reestablish_result import (
    MooncakePlan,
    MooncakeResult,
    MooncakeRound,
)
from rdmacheck.pattern import new_seed
from rdmacheck.roles.process import RoleFailed, RoleProcess

RDMACHECK_MODULE = "rdmacheck.mooncake.side"
# What the engine logs about re-establishment (glog lines), counted as findings.
ENGINE_LOG_MARKS = {
    "reestablish": re.compile(r"Re-establish connection"),
    "retired": re.compile(r"Retiring endpoint"),
    "ready_ack": re.compile(r"Received RDMA ready ACK"),
    "handshake_errors": re.compile(r"^E\d{4} .*(Handshake|handshake|reply|GID|QP count)"),
}


def _side(plan: MooncakePlan, role: str, label: str) -> RoleProcess:
    """Spawn one side; the restarted side on its role's pinned port (so it keeps its name)."""
    who = plan.who(role)
    port = plan.initiator_port if role == "initiator" else plan.target_port
    args = ["--host", plan.host, "--device", plan.device, "--length", str(plan.length)]
    log = plan.log_dir / f"{who}-{role}.log"
    if who == "engine":
        env = {"MC_TRANSFER_TIMEOUT": str(plan.engine_transfer_timeout)}
        if plan.etcd:  # the name is what we give; its RPC port is the engine's pick, published in etcd
            return spawn_engine(plan.engine, label, plan.host, plan.device, plan.length, log, plan.metadata,
                                {**env, "MC_TCP_BIND_ADDRESS": plan.host}, name=f"rdmacheck-{role}")
        if role == plan.restart:  # pinned only where the name must survive a restart: an engine's
            env.update(MC_MIN_RPC_PORT=str(port), MC_MAX_RPC_PORT=str(port))  # port stays in TIME_WAIT
        return spawn_engine(plan.engine, label, plan.host, plan.device, plan.length, log, env=env)
    args += ["--port", str(port), "--io-timeout", str(plan.step_timeout)]
    return RoleProcess(label, args, log, module=RDMACHECK_MODULE)


def _call(proc: RoleProcess, timeout: float, what: str, **cmd) -> dict:
    mark = proc.mark()
    proc.send(cmd)
    return proc.wait_for("reply", timeout, what, since=mark)


def _count_events(result: MooncakeResult, proc: RoleProcess) -> None:
    """What rdmacheck's peer saw (connected, reestablished, ready_ack, rejections); engines emit none."""
    for ev in proc.events:
        if ev["event"] not in ("reply", "ready"):
            result.rdmacheck_events[ev["event"]] = result.rdmacheck_events.get(ev["event"], 0) + 1


def _exchange(plan: MooncakePlan, rnd: MooncakeRound, init: RoleProcess, target: RoleProcess,
              tready: dict) -> None:
    """Write a new pattern, read it back on the same connection (ordered behind the write, so the
    data is placed once it completes), then have the target check its memory."""
    seed = new_seed()
    io = dict(peer=tready["name"], remote_addr=tready["addr"], seed=seed, length=plan.length)
    w = _call(init, plan.step_timeout + plan.engine_transfer_timeout, "the initiator's write", op="write", **io)
    rnd.first_write_ms = w.get("ms")
    if not w["ok"]:
        rnd.error = f"write: {w['detail']}"
        rnd.finding, rnd.finding_detail = ("engine-write-failed" if plan.who("initiator") == "engine"
                                           else "write-failed"), w["detail"]
        if plan.who("initiator") == "engine" and rnd.index > 0 and plan.restart == "target":
            rnd.finding, rnd.finding_detail = _rehandshake_evidence(target, w, plan)
        return
    r = _call(init, plan.step_timeout, "the initiator's read-back", op="read", **io)
    v = _call(target, plan.step_timeout, "the target's check of its memory", op="verify", seed=seed, offset=0,
              length=plan.length)
    rnd.target_verify, rnd.readback = v["detail"], r["detail"]
    rnd.target_ok, rnd.readback_ok = v["ok"], r["ok"]
    rnd.ok = v["ok"] and r["ok"]
    if not rnd.ok:
        rnd.error = "target verify failed" if not v["ok"] else "read-back failed"
        rnd.finding = data_check_finding(bool(v["ok"]), bool(r["ok"]))
        rnd.finding_detail = f"target: {v['detail']}; read back: {r['detail']}"


def _rehandshake_evidence(target: RoleProcess, write: dict, plan: MooncakePlan) -> tuple[str, str]:
    """What rdmacheck's restarted target saw of the engine after it came up (its own events), never
    a guessed cause: a Connection request, or none at all."""
    target.mark()  # read everything it has said
    seen = [e["event"] for e in target.events if e["event"] in ("connected", "reestablished", "ready_ack",
                                                               "connection_rejected", "handshake_rejected")]
    waited = f"the engine's write failed after {write.get('ms', 0) / 1000:.1f} s " \
             f"(MC_TRANSFER_TIMEOUT {plan.engine_transfer_timeout} s)"
    if not seen:
        return ("engine-never-rehandshook", f"the restarted target received no Connection request from the engine "
                f"(its events: {', '.join(e['event'] for e in target.events) or 'none'}); {waited}")
    return "engine-write-failed-after-rehandshake", f"the restarted target saw {', '.join(seen)}; {waited}"


def _brief(e: Exception) -> str:
    """A role failure without the traceback: what we waited for and the last line it printed."""
    head, sep, tail = str(e).partition("; last output:")
    return f"{head}: {tail.split(' | ')[-1].strip()}" if sep else head


def _round(plan: MooncakePlan, result: MooncakeResult, stable: RoleProcess, stable_ready: dict) -> MooncakeRound:
    rnd = MooncakeRound(len(result.rounds))
    role = plan.restart
    t0 = time.monotonic()
    fresh = _side(plan, role, f"{plan.who(role)} {role} (round {rnd.index})")
    try:
        ready = fresh.wait_for("ready", plan.step_timeout, f"the {plan.who(role)} {role} to start")
        rnd.restarted_name = ready["name"]
        first = result.rounds[0].restarted_name if result.rounds else ready["name"]
        if ready["name"] != first:  # measured, not assumed: some releases ignore the pinned port
            rnd.error = f"the restarted {plan.who(role)} {role} came back as {ready['name']}, not {first}"
            rnd.finding = "engine-name-changed"
            rnd.finding_detail = ("the restarted engine is a new peer, so this is not a same-name restart (its "
                                  "handshake port was pinned with MC_MIN_RPC_PORT=MC_MAX_RPC_PORT)")
            return rnd
        rnd.start_s = round(time.monotonic() - t0, 3)
        if role == "initiator":
            _exchange(plan, rnd, fresh, stable, stable_ready)
        else:
            _exchange(plan, rnd, stable, fresh, ready)
    except (RoleFailed, DeadlineExceeded) as e:
        rnd.error = _brief(e)
        rnd.finding = "deadline" if isinstance(e, DeadlineExceeded) else "role-crashed"
        if plan.who(role) == "engine" and any("No valid port" in line for line in fresh.tail):
            line = next(x for x in fresh.tail if "No valid port" in x)
            rnd.finding = "engine-port-unavailable"
            rnd.finding_detail = f"the restarted engine could not bind its pinned port ({line.strip()[:160]})"
    finally:
        fresh.kill()  # SIGKILL: the peer never hears a goodbye, as after a crash
        fresh.stop(grace=5.0)
        _count_events(result, fresh)
    return rnd


def _engine_findings(result: MooncakeResult, plan: MooncakePlan) -> None:
    counts = {k: 0 for k in ENGINE_LOG_MARKS}
    errors: list[str] = []
    for role in ("initiator", "target"):
        path = plan.log_dir / f"engine-{role}.log"
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            for key, rx in ENGINE_LOG_MARKS.items():
                if rx.search(line):
                    counts[key] += 1
                    if key == "handshake_errors" and len(errors) < 5:
                        errors.append(line[line.find("]") + 1:].strip()[:200])
    result.engine_log = counts
    result.engine_errors = errors


def run_mooncake(plan: MooncakePlan) -> MooncakeResult:
    if plan.engine_role not in ("target", "initiator") or plan.restart not in ("target", "initiator"):
        raise RdmacheckError(f"engine role and restart side must be target or initiator, not "
                             f"{plan.engine_role!r} / {plan.restart!r}")
    plan.log_dir.mkdir(parents=True, exist_ok=True)
    for old in plan.log_dir.glob("*.log"):
        old.unlink()
    result = MooncakeResult(plan)
    t0 = time.monotonic()
    role = "target" if plan.restart == "initiator" else "initiator"
    stable = _side(plan, role, f"{plan.who(role)} {role}")
    try:
        ready = stable.wait_for("ready", plan.step_timeout, f"the {plan.who(role)} {role} to start")
        for _ in range(plan.rounds):
            result.rounds.append(_round(plan, result, stable, ready))
    except (RoleFailed, DeadlineExceeded) as e:
        result.error = str(e)
    finally:
        stable.stop(grace=5.0)
        _count_events(result, stable)
        _engine_findings(result, plan)
        if any(r.ok for r in result.rounds):
            result.not_on_rdma = mooncake_not_on_rdma(sorted(plan.log_dir.glob("engine-*.log")), plan.device) or ""
        result.duration_s = round(time.monotonic() - t0, 3)
    return result
