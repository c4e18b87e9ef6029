"""`rdmacheck simopen` on one host: two peer processes opening endpoints to each other."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from rdmacheck.errors import DeadlineExceeded, RdmacheckError
from rdmacheck.roles.config import TOKEN_ENV
from rdmacheck.roles.process import RoleProcess, free_port
from rdmacheck.simopen.result import SimopenResult, SimopenRound
from rdmacheck.verbs.rc import QPTuning
from rdmacheck.verbs.resources import resource_counts

SIDES = ("A", "B")


@dataclass
class SimopenPlan:
    device: str
    endpoints: int = 64
    rounds: int = 5
    policy: str = "reuse"
    callers: int = 2
    concurrency: int = 16
    connect_timeout: float = 30.0
    io_timeout: float = 5.0
    start_timeout: float = 60.0
    host: str = "127.0.0.1"
    gid_index: int | None = None
    log_dir: Path | None = None
    tuning: QPTuning = field(default_factory=QPTuning)
    token: bytes | None = field(default=None, repr=False)  # given to both peers in their environment


def peer_args(plan: SimopenPlan, name: str, listen: str, peer: str) -> list[str]:
    return ["simopen", "--role", "peer", "--name", name, "--listen", listen, "--peer", peer, "--device", plan.device,
            "--endpoints", str(plan.endpoints), "--rounds", str(plan.rounds), "--passive-policy", plan.policy,
            "--callers", str(plan.callers), "--concurrency", str(plan.concurrency),
            "--connect-timeout", str(plan.connect_timeout), "--io-timeout", str(plan.io_timeout),
            "--qp-timeout", str(plan.tuning.timeout), "--retry-cnt", str(plan.tuning.retry_cnt),
            *(["--mtu", str(plan.tuning.mtu)] if plan.tuning.mtu else []),
            *(["--gid-index", str(plan.gid_index)] if plan.gid_index is not None else [])]


def _kernel_qps() -> int | None:
    try:
        return resource_counts()["qp"]
    except (OSError, ValueError):
        return None


def run_simopen(plan: SimopenPlan, on_step: Callable[[str], None] = lambda s: None) -> SimopenResult:
    res = SimopenResult(plan.device, plan.endpoints, plan.rounds, plan.policy, plan.callers)
    log_dir = Path(plan.log_dir or tempfile.mkdtemp(prefix="rdmacheck-simopen-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    res.logs = str(log_dir)
    res.qps_before = _kernel_qps()
    addrs = {s: f"{plan.host}:{free_port(plan.host)}" for s in SIDES}
    t0 = time.monotonic()
    env = {TOKEN_ENV: plan.token.decode()} if plan.token else None
    procs = {s: RoleProcess(s, peer_args(plan, s, addrs[s], addrs[o]), log_dir / f"{s}.log", env=env)
             for s, o in zip(SIDES, reversed(SIDES))}
    # A round may take every phase's deadline (the open and five barriers) plus the writes.
    round_deadline = 6 * plan.connect_timeout + plan.io_timeout + 30
    try:
        for s in SIDES:
            procs[s].wait_for("ready", plan.start_timeout, f"simopen peer {s} to be ready")
        on_step(f"peers ready on {plan.device}: {plan.endpoints} endpoints x {plan.rounds} rounds, "
                f"passive policy {plan.policy}")
        for r in range(plan.rounds):
            for s in SIDES:
                ev = procs[s].wait_for("round", round_deadline, f"peer {s} to finish round {r}")
                res.rounds.append(SimopenRound.from_event(s, ev))
            on_step(f"round {r}: " + "; ".join(f"{x.side} {x.verdict} {x.all_connected_ms:.0f} ms"
                                               + (f" ({', '.join(x.problems())})" if x.problems() else "")
                                               for x in res.rounds[-2:]))
        for s in SIDES:
            procs[s].wait_for("done", 60, f"peer {s} to finish")
            procs[s].wait_exit(10)
    except (DeadlineExceeded, RdmacheckError) as e:
        res.error = str(e)
    finally:
        for p in procs.values():
            p.stop(grace=10)
        res.duration_s = time.monotonic() - t0
        res.qps_after = _kernel_qps()
    return res
