"""`rdmacheck mooncake reestablish`: the seed's scenario against a real Mooncake engine.

The engine is one side, rdmacheck's Mooncake-dialect peer the other. The initiator (whichever
it is) is SIGKILLed after each round and restarted under the same name (its handshake port is
pinned), as the seed test destroys and recreates its initiator; every round writes a new
pattern, has the target verify it in its own memory, reads it back and verifies it again.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from rdmacheck.errors import DeadlineExceeded, RdmacheckError
from rdmacheck.pattern import new_seed
from rdmacheck.scenario.process import RoleFailed, RoleProcess

ENGINE_MODULE = "rdmacheck.mooncake.engine_side"
RDMACHECK_MODULE = "rdmacheck.mooncake.side"
# What the engine logs about re-establishment (glog lines), counted as findings.
ENGINE_LOG_MARKS = {
    "reestablish": re.compile(r"Re-establish connection"),
    "retired": re.compile(r"Retiring endpoint"),
    "ready_ack": re.compile(r"Received RDMA ready ACK"),
    "handshake_errors": re.compile(r"^E\d{4} .*(Handshake|handshake|reply|GID|QP count)"),
}


@dataclass
class MooncakePlan:
    host: str  # the IP both sides name themselves by ('<ip>:<port>', P2P handshake)
    device: str = "rxe0"
    engine_role: str = "target"  # the engine's role; rdmacheck's peer takes the other
    rounds: int = 3
    length: int = 1 << 20
    initiator_port: int = 17100  # pinned: the restarted initiator keeps its name
    target_port: int = 17200  # rdmacheck's target (the engine target picks its own)
    step_timeout: float = 60.0
    log_dir: Path = Path("rdmacheck-logs/mooncake")


@dataclass
class MooncakeRound:
    index: int
    ok: bool = False
    initiator: str = ""  # its name: the same every round
    start_s: float | None = None  # spawn -> ready
    first_write_ms: float | None = None  # ready -> first write done (handshake included): reconnect latency
    target_ok: bool = False
    readback_ok: bool = False
    target_verify: str = ""  # what the check found (the seed, or the first mismatch)
    readback: str = ""
    error: str | None = None


@dataclass
class MooncakeResult:
    plan: MooncakePlan
    target: str = ""
    rounds: list[MooncakeRound] = field(default_factory=list)
    engine_log: dict[str, int] = field(default_factory=dict)
    engine_errors: list[str] = field(default_factory=list)
    rdmacheck_events: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    duration_s: float = 0.0

    @property
    def verdict(self) -> str:
        ok = not self.error and len(self.rounds) == self.plan.rounds and all(r.ok for r in self.rounds)
        return "PASS" if ok else "FAIL"

    def to_dict(self) -> dict:
        from dataclasses import asdict  # noqa: PLC0415
        d = asdict(self)
        d["plan"]["log_dir"] = str(self.plan.log_dir)
        d["verdict"] = self.verdict
        return d


def _side(plan: MooncakePlan, who: str, role: str, label: str) -> RoleProcess:
    """Spawn one side; the initiator is pinned to initiator_port so a restart keeps its name."""
    port = plan.initiator_port if role == "initiator" else plan.target_port
    args = ["--host", plan.host, "--device", plan.device, "--length", str(plan.length)]
    env = {}
    if who == "engine":
        module = ENGINE_MODULE
        if role == "initiator":
            env = {"MC_MIN_RPC_PORT": str(port), "MC_MAX_RPC_PORT": str(port)}
    else:
        module = RDMACHECK_MODULE
        args += ["--port", str(port), "--io-timeout", str(plan.step_timeout)]
    return RoleProcess(label, args, plan.log_dir / f"{who}-{role}.log", env=env, module=module)


def _call(proc: RoleProcess, timeout: float, what: str, **cmd) -> dict:
    mark = proc.mark()
    proc.send(cmd)
    return proc.wait_for("reply", timeout, what, since=mark)


def _count_events(result: MooncakeResult, proc: RoleProcess) -> None:
    """What rdmacheck's peer saw (connected, reestablished, ready_ack, rejections); engines emit none."""
    for ev in proc.events:
        if ev["event"] not in ("reply", "ready"):
            result.rdmacheck_events[ev["event"]] = result.rdmacheck_events.get(ev["event"], 0) + 1


def _round(plan: MooncakePlan, result: MooncakeResult, target: RoleProcess, tready: dict,
           who_init: str) -> MooncakeRound:
    index = len(result.rounds)
    rnd = MooncakeRound(index)
    t0 = time.monotonic()
    init = _side(plan, who_init, "initiator", f"{who_init} initiator (round {index})")
    try:
        ready = init.wait_for("ready", plan.step_timeout, f"the {who_init} initiator to start")
        rnd.initiator = ready["name"]
        rnd.start_s = round(time.monotonic() - t0, 3)
        seed = new_seed()
        io = dict(peer=tready["name"], remote_addr=tready["addr"], seed=seed, length=plan.length)
        w = _call(init, plan.step_timeout, "the initiator's first write", op="write", **io)
        rnd.first_write_ms = w.get("ms")
        if not w["ok"]:
            rnd.error = f"write: {w['detail']}"
            return rnd
        v = _call(target, plan.step_timeout, "the target's check of its memory", op="verify", seed=seed, offset=0,
                  length=plan.length)
        rnd.target_verify = v["detail"]
        r = _call(init, plan.step_timeout, "the initiator's read-back", op="read", **io)
        rnd.readback = r["detail"]
        rnd.target_ok, rnd.readback_ok = v["ok"], r["ok"]
        rnd.ok = v["ok"] and r["ok"]
        if not rnd.ok:
            rnd.error = "target verify failed" if not v["ok"] else "read-back failed"
        return rnd
    except (RoleFailed, DeadlineExceeded) as e:
        rnd.error = str(e)
        return rnd
    finally:
        init.kill()  # SIGKILL: the engine never hears a goodbye, as after a crash
        init.stop(grace=5.0)
        _count_events(result, init)


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
    if plan.engine_role not in ("target", "initiator"):
        raise RdmacheckError(f"--engine-role must be target or initiator, not {plan.engine_role!r}")
    plan.log_dir.mkdir(parents=True, exist_ok=True)
    for old in plan.log_dir.glob("*.log"):
        old.unlink()
    result = MooncakeResult(plan)
    t0 = time.monotonic()
    who_target = "engine" if plan.engine_role == "target" else "rdmacheck"
    who_init = "rdmacheck" if who_target == "engine" else "engine"
    target = _side(plan, who_target, "target", f"{who_target} target")
    try:
        tready = target.wait_for("ready", plan.step_timeout, f"the {who_target} target to start")
        result.target = tready["name"]
        for _ in range(plan.rounds):
            result.rounds.append(_round(plan, result, target, tready, who_init))
    except (RoleFailed, DeadlineExceeded) as e:
        result.error = str(e)
    finally:
        target.stop(grace=5.0)
        _count_events(result, target)
        _engine_findings(result, plan)
        result.duration_s = round(time.monotonic() - t0, 3)
    return result
