"""`rdmacheck mooncake simopen`: a simultaneous open forced on a real engine.

rdmacheck is the server of the engine's active handshake, so it controls the interleaving: the
engine is told to write to rdmacheck's segments; when its Connection request arrives, rdmacheck
holds the reply, sends its own Connection request for the same NIC path pair to the engine, waits
(a deadline) for the engine's answer, and only then answers the held request. Both sides then
use one endpoint (rdmacheck sends the same QPs in its request and its reply), as a correct
simultaneous open must. Then: is the engine's data in rdmacheck's buffer, and does a write the
other way arrive (checked by the engine in its own memory)? The engine is killed at the end.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from rdmacheck.engines.mooncake import Engine
from rdmacheck.engines.evidence import evidence, log_lines, mooncake_not_on_rdma
from rdmacheck.engines.process import fresh_log_dir, log_size, spawn_engine
from rdmacheck.errors import DeadlineExceeded
from rdmacheck.handshake.address import parse_hostport
from rdmacheck.mooncake import wire
from rdmacheck.mooncake.forced_open_result import (
    ForcedOpenResult,
    ForcedOpenRound,
    HeldHandshake,
)
from rdmacheck.mooncake.messages import ConnectionDesc, split_nic_path
from rdmacheck.pattern import check_pattern, new_seed, pattern
from rdmacheck.roles.process import RoleFailed, RoleProcess, free_port


@dataclass
class ForcedOpenPlan:
    engine: Engine
    host: str
    device: str = "rxe0"
    endpoints: int = 1  # rdmacheck segments the engine opens to at once, each one forced
    rounds: int = 1  # each round a fresh engine process
    length: int = 1 << 20
    answer_timeout: float = 5.0  # how long the engine may take to answer rdmacheck's request
    step_timeout: float = 20.0  # engine start, its write
    io_timeout: float = 5.0  # rdmacheck's write back over the endpoint the simultaneous open made
    engine_transfer_timeout: int = 10  # MC_TRANSFER_TIMEOUT: the engine's own bound on a sync call
    log_dir: Path = Path("rdmacheck-logs/mooncake-simopen")


class _Forcer:
    """The hook of one rdmacheck segment: hold the engine's first Connection request, cross it."""

    def __init__(self, peer, plan: ForcedOpenPlan, rec: HeldHandshake, t0: float):
        self.peer, self.plan, self.rec, self.t0 = peer, plan, rec, t0
        self.arrived = threading.Event()

    def __call__(self, req: ConnectionDesc) -> ConnectionDesc:
        peer, rec = self.peer, self.rec
        if self.arrived.is_set():  # only the first request is forced; later ones as usual
            peer.connection_hook = None
            return peer.answer_connection(req)
        self.arrived.set()
        rec.engine_request_at_s = round(time.monotonic() - self.t0, 3)
        rec.engine_request_qpns = list(req.qp_num)
        ep = peer.new_endpoint(req.local_nic_path)
        ours = ConnectionDesc(peer.nic_path, req.local_nic_path, [q.qpn for q in ep.qps], peer.gid, peer.dev.lid,
                              ready_ack=False)
        host, port = parse_hostport(split_nic_path(req.local_nic_path)[0], "engine name")
        t1 = time.monotonic()
        reply = None
        try:
            reply = ConnectionDesc.from_json(wire.request(host, port, wire.CONNECTION, ours.to_json(),
                                                          self.plan.answer_timeout))
            rec.engine_answer_ms = round((time.monotonic() - t1) * 1000, 1)
            rec.engine_answer_qpns = list(reply.qp_num)
            rec.engine_reply_msg = reply.reply_msg
        except (OSError, TimeoutError, ValueError) as e:
            rec.engine_answer_error = f"{type(e).__name__}: {e}"
            rec.engine_answer_ms = round((time.monotonic() - t1) * 1000, 1)
        try:
            peer.bring_up(ep, req)
        except Exception as e:  # noqa: BLE001 - the engine still gets an answer, with the reason
            ep.destroy()
            rec.our_error = f"bringing up rdmacheck's QPs: {e}"
            return peer.reply_to(req, [], rec.our_error)
        with peer.lock:
            peer.endpoints[req.local_nic_path] = ep
        rec.answered_at_s = round(time.monotonic() - self.t0, 3)
        if reply is not None and not reply.reply_msg:
            threading.Thread(target=self._ack, args=(ep, reply), daemon=True).start()
        return peer.reply_to(req, [q.qpn for q in ep.qps])

    def _ack(self, ep, reply: ConnectionDesc) -> None:
        try:
            self.peer.send_ready_ack(ep, reply)
            self.rec.ack = "sent" if reply.ready_ack is not None else "not sent (legacy peer: no ready_ack key)"
        except (OSError, TimeoutError, ValueError) as e:
            self.rec.ack = f"failed: {e}"


def _round(plan: ForcedOpenPlan, index: int) -> ForcedOpenRound:
    from rdmacheck.mooncake.peer import MooncakePeer  # noqa: PLC0415 - pyverbs

    rnd = ForcedOpenRound(index)
    log = plan.log_dir / f"engine-round{index}.log"
    # The engine's own call must outlast rdmacheck's hold, or its MC_TRANSFER_TIMEOUT, not the handshake,
    # decides the round (measured: with both at 5 s, 0.3.10's writes returned -1 as the hold ended).
    transfer_timeout = max(plan.engine_transfer_timeout, math.ceil(plan.answer_timeout) + 5)
    engine = spawn_engine(plan.engine, f"engine {plan.engine.label} (round {index})", plan.host, plan.device,
                          plan.endpoints * plan.length, log, env={"MC_TRANSFER_TIMEOUT": str(transfer_timeout)})
    peers: list = []
    try:
        ready = engine.wait_for("ready", plan.step_timeout, "the engine to start")
        rnd.engine_name = ready["name"]
        t0 = time.monotonic()
        forcers = []
        for i in range(plan.endpoints):
            peer = MooncakePeer.open(plan.device, plan.host, free_port(plan.host), plan.length,
                                     on_event=lambda kind, **f: None)
            peers.append(peer)
            rec = HeldHandshake(segment=peer.name)
            rnd.handshakes.append(rec)
            forcers.append(_Forcer(peer, plan, rec, t0))
            peer.connection_hook = forcers[-1]
        seeds = [new_seed() for _ in peers]
        mark = engine.mark()
        engine.send({"op": "write_many", "at": time.time(), "targets": [
            {"peer": p.name, "remote_addr": p.buf.addr, "seed": s, "length": plan.length} for p, s in zip(peers, seeds)]})
        _engine_writes(plan, rnd, engine, mark, t0)
        for peer, seed, rec in zip(peers, seeds, rnd.handshakes):
            if rec.engine_write_ok:  # the engine READs its write back first: only then is the data placed
                mark = engine.mark()
                engine.send({"op": "read", "peer": peer.name, "remote_addr": peer.buf.addr, "seed": seed,
                             "length": plan.length})
                v = engine.wait_for("reply", plan.step_timeout, "the engine's read-back of its write", since=mark)
                rec.engine_readback_ok, rec.engine_readback = bool(v["ok"]), v["detail"]
            mm = check_pattern(seed, peer.buf.read(0, plan.length))
            rec.data_ok = mm is None
            rec.data = "the engine's pattern arrived" if mm is None else f"first mismatch at byte {mm.offset}"
        _write_back(plan, rnd, engine, peers, ready)
    except (RoleFailed, DeadlineExceeded) as e:
        rnd.error = str(e)
    finally:
        end = log_size(engine, log)
        engine.kill()
        engine.stop(grace=5.0)
        for p in peers:
            p.close()
        lines = log_lines(log, 0, end)
        rnd.engine_log = evidence(lines)
        rnd.engine_last_line = (lines or ["(nothing)"])[-1][:220]
    return rnd


def _engine_writes(plan: ForcedOpenPlan, rnd: ForcedOpenRound, engine: RoleProcess, mark: int, t0: float) -> None:
    """Each of the engine's writes: returned (and what), or still blocked at the deadline."""
    deadline = time.monotonic() + plan.answer_timeout + plan.step_timeout
    engine.cursor = mark
    got: dict[int, dict] = {}
    while len(got) < plan.endpoints:
        try:
            ev = engine.wait_for("wrote", max(0.001, deadline - time.monotonic()), "the engine's writes")
        except DeadlineExceeded:
            break
        got[ev["target"]] = ev
    if len(got) == plan.endpoints:  # write_many's own answer, so a later check's answer is the check's
        engine.wait_for("reply", plan.step_timeout, "the engine's answer to write_many")
    for i, rec in enumerate(rnd.handshakes):
        ev = got.get(i)
        if ev is None:
            rec.engine_write = f"blocked: transfer_sync_write had not returned {time.monotonic() - t0:.1f} s after it was called"
            rec.engine_write_ok = False
        else:
            rec.engine_write_ok = ev["ok"]
            rec.engine_write = f"returned 0 after {ev['ms'] / 1000:.2f} s" if ev["ok"] else \
                f"failed after {ev['ms'] / 1000:.2f} s: {ev['detail']}"


def _write_back(plan: ForcedOpenPlan, rnd: ForcedOpenRound, engine: RoleProcess, peers: list, ready: dict) -> None:
    """rdmacheck writes a new pattern into the engine over the endpoint the simultaneous open made;
    the engine checks its own memory."""
    for i, (peer, rec) in enumerate(zip(peers, rnd.handshakes)):
        if not rec.engine_write_ok:
            rec.write_back = "not tried: the engine's own write did not succeed"
            continue
        seed = new_seed()
        peer.buf.write(0, pattern(seed, plan.length))
        remote = ready["addr"] + i * plan.length
        try:
            peer.transfer("write", rnd.engine_name, remote, plan.length, plan.io_timeout)
            peer.buf.write(0, bytes(plan.length))  # so a READ that does nothing cannot pass
            peer.transfer("read", rnd.engine_name, remote, plan.length, plan.io_timeout)  # ordered behind it
        except Exception as e:  # noqa: BLE001 - a verbs error, a timeout: all evidence
            rec.write_back = f"rdmacheck's write or read-back failed: {type(e).__name__}: {e}"[:300]
            continue
        back = check_pattern(seed, peer.buf.read(0, plan.length))
        mark = engine.mark()
        engine.send({"op": "verify", "seed": seed, "offset": i * plan.length, "length": plan.length})
        v = engine.wait_for("reply", plan.step_timeout, "the engine's check of its memory", since=mark)
        rec.write_back_ok = bool(v["ok"]) and back is None
        rec.write_back = (f"read back: {'ok' if back is None else f'first mismatch at byte {back.offset}'}; "
                          f"then the engine checked its memory: {v['detail']}")


def run_forced_open(plan: ForcedOpenPlan) -> ForcedOpenResult:
    fresh_log_dir(plan.log_dir, "engine-round*.log")
    res = ForcedOpenResult(release=plan.engine.release, device=plan.device, endpoints=plan.endpoints,
                           rounds_planned=plan.rounds, answer_timeout_s=plan.answer_timeout)
    t0 = time.monotonic()
    for i in range(plan.rounds):
        res.rounds.append(_round(plan, i))
    if any(r.ok for r in res.rounds):
        res.not_on_rdma = mooncake_not_on_rdma(sorted(plan.log_dir.glob("engine-round*.log")), plan.device) or ""
    res.duration_s = round(time.monotonic() - t0, 3)
    return res
