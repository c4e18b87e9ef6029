"""One simopen process: opens N endpoints to its peer while the peer opens the same N to it,
released by a barrier so both sides dial at the same instant; then every endpoint carries a
verified RDMA WRITE both ways, and every QP is destroyed and counted before the next round.

Slot i of each side's buffer receives the peer's WRITE over endpoint i. The slot's seed names the
writer's QP, the round and the channel, so the receiver checks not only the bytes but that they
came through the QP its own endpoint is paired with (a crossed connection fails here).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from rdmacheck.errors import DeadlineExceeded, RdmacheckError
from rdmacheck.handshake.address import format_hostport
from rdmacheck.handshake.auth import Verifier
from rdmacheck.handshake.client import Channel
from rdmacheck.handshake.messages import (
    Barrier,
    BarrierState,
    BufferInfo,
    Message,
    Open,
    Opened,
    Ping,
    Pong,
    QPInfo,
    Reject,
)
from rdmacheck.handshake.server import MAX_SESSIONS, HandshakeServer, Session
from rdmacheck.pattern import check_pattern, pattern
from rdmacheck.roles.events import EventLog
from rdmacheck.simopen.fabric import VerbsFabric
from rdmacheck.simopen.manager import (
    CONNECTED,
    EndpointKey,
    EndpointManager,
    HandshakeFailed,
)
from rdmacheck.verbs.errors import CompletionError
from rdmacheck.verbs.rc import Buffer, Device, QPTuning
from rdmacheck.verbs.resources import listed_qps
from rdmacheck.words import Verdict

SLOT = 4096
SHOWN = 5  # endpoints named per problem in an event (the counts are complete)


@dataclass
class SimopenConfig:
    name: str
    device: str
    listen: tuple[str, int]
    peer: tuple[str, int]
    endpoints: int = 64
    rounds: int = 5
    policy: str = "reuse"
    callers: int = 2  # callers asking for each endpoint at once (the second one must wait, not dial)
    concurrency: int = 16  # dialing threads
    connect_timeout: float = 30.0  # per round: every endpoint connected by then, or it is a hang
    io_timeout: float = 5.0
    start_timeout: float = 60.0  # the peer process to come up
    gid_index: int | None = None
    ib_port: int | None = None
    tuning: QPTuning = field(default_factory=QPTuning)
    token: bytes | None = field(default=None, repr=False)  # authenticates every handshake (--token)


WRITTEN = 1 << 62  # set in every slot seed: a slot never written (zeros) cannot pass as round 0 channel 0


def slot_seed(writer_qpn: int, round_: int, channel: int) -> int:
    return WRITTEN | (round_ << 40) | (channel << 24) | writer_qpn


def seed_fields(seed: int) -> tuple[int, int, int] | None:
    """(writer QPN, round, channel), or None for a slot nobody wrote."""
    if not seed & WRITTEN:
        return None
    return seed & 0xFFFFFF, (seed & ~WRITTEN) >> 40, (seed >> 24) & 0xFFFF


class SimopenPeer:
    def __init__(self, cfg: SimopenConfig, ev: EventLog):
        self.cfg = cfg
        self.ev = ev
        self.reached: set[tuple[int, str]] = set()
        self.peer_reached: set[tuple[int, str]] = set()
        self.peer_name: str | None = None
        self.peer_device: str | None = None
        self.peer_buffer: BufferInfo | None = None
        self.round_lock = threading.Lock()

    # --- handshake handler ---------------------------------------------------------------------

    def on_message(self, session: Session, msg: Message) -> Message:
        if isinstance(msg, Barrier):
            with self.round_lock:
                self.peer_reached.add((msg.round, msg.stage))
                arrived = (msg.round, msg.stage) in self.reached
            return BarrierState(arrived=arrived, name=self.cfg.name, device=self.dev.name)
        if isinstance(msg, Open):
            self.peer_buffer = msg.buffer
            key = EndpointKey(self.dev.name, msg.qp.name, msg.qp.device, msg.channel)
            try:
                mine = self.mgr.on_handshake(key, msg.qp)
            except (HandshakeFailed, RdmacheckError) as e:
                return Reject(reason=str(e))
            return Opened(qp=mine, buffer=self.recv_info)
        if isinstance(msg, Ping):
            return Pong(generation=self.ev.generation)
        return Reject(reason=f"unexpected message {msg.KIND!r} for a simopen peer")

    def on_close(self, session: Session, reason: str) -> None:
        pass

    # --- the active handshake ------------------------------------------------------------------

    def _dial(self, key: EndpointKey, local: QPInfo, timeout: float) -> QPInfo:
        try:
            chan = Channel.connect(*self.cfg.peer, timeout=min(timeout, 2.0), key=self.cfg.token)
        except DeadlineExceeded as e:
            raise HandshakeFailed(str(e)) from None
        try:
            reply = chan.request(Open(qp=local, channel=key.channel, buffer=self.recv_info), timeout=min(timeout, 10.0))
        except RdmacheckError as e:  # lost, rejected, invalid: all mean "try again"
            raise HandshakeFailed(str(e)) from None
        finally:
            chan.close()
        if not isinstance(reply, Opened):
            raise HandshakeFailed(f"the peer answered open with {reply.KIND!r}")
        self.peer_buffer = reply.buffer
        return reply.qp

    # --- the run -------------------------------------------------------------------------------

    def run(self) -> int:
        cfg = self.cfg
        self.dev = Device.open(cfg.device, cfg.gid_index, cfg.ib_port)
        n = cfg.endpoints
        self.buf = Buffer(self.dev, 2 * n * SLOT)  # first half: receive slots; second half: send staging
        self.recv_info = BufferInfo(self.buf.addr, n * SLOT, self.buf.rkey)
        self.fabric = VerbsFabric(self.dev, cfg.tuning, cfg.name, self.ev.generation)
        self.mgr = EndpointManager(self.fabric, self._dial, policy=cfg.policy)
        # Both peers are ours and dial from one address with many threads: no per-source cap here.
        server = HandshakeServer(cfg.listen[0], cfg.listen[1], self, max_per_source=MAX_SESSIONS,
                                 verifier=Verifier(cfg.token) if cfg.token else None,
                                 on_reject=lambda peer, why: self.ev.emit("handshake_rejected", peer=peer, reason=why))
        server.serve_in_background()
        self.ev.emit("ready", device=self.dev.name, listen=format_hostport(*server.address), endpoints=n,
                     policy=cfg.policy)
        self.ctl = Channel.connect(*cfg.peer, timeout=cfg.start_timeout, key=cfg.token)
        failures = 0
        try:
            self._barrier(0, "start", cfg.start_timeout)
            for r in range(cfg.rounds):
                failures += self._round(r)
        finally:
            left = self.mgr.close_all()
            self.ctl.close()
            server.close()
        self.ev.emit("done", rounds=cfg.rounds, failed_rounds=failures, qps_created=self.fabric.created,
                     qps_destroyed=self.fabric.destroyed, destroyed_at_exit=left)
        return 1 if failures else 0

    def _barrier(self, r: int, stage: str, timeout: float) -> None:
        """Both sides at (round, stage) before either goes on; released within one round trip."""
        deadline = time.monotonic() + timeout
        with self.round_lock:
            self.reached.add((r, stage))
        while True:
            with self.round_lock:
                if (r, stage) in self.peer_reached and self.peer_name:
                    return
            reply = self.ctl.request(Barrier(stage=stage, round=r), timeout=max(0.1, deadline - time.monotonic()))
            if not isinstance(reply, BarrierState):
                raise RdmacheckError(f"the peer answered a barrier with {reply.KIND!r}")
            self.peer_name, self.peer_device = reply.name, reply.device
            if reply.arrived:
                return
            if time.monotonic() >= deadline:
                raise DeadlineExceeded(f"the peer at the {stage!r} barrier of round {r}", timeout)
            time.sleep(0.005)

    def _keys(self) -> list[EndpointKey]:
        return [EndpointKey(self.dev.name, self.peer_name, self.peer_device, ch) for ch in range(self.cfg.endpoints)]

    def _round(self, r: int) -> int:
        cfg = self.cfg
        keys = self._keys()
        stats_before = self.mgr.stats.to_dict()
        self._barrier(r, "open", cfg.connect_timeout)
        t0 = time.monotonic()
        hangs: list[str] = []
        errors: list[str] = []
        done_at = [t0]
        lock = threading.Lock()

        def open_one(key: EndpointKey) -> None:
            try:
                self.mgr.get(key, cfg.connect_timeout)
                with lock:
                    done_at[0] = max(done_at[0], time.monotonic())
            except DeadlineExceeded as e:
                with lock:
                    hangs.append(f"{key}: {e}")
            except RdmacheckError as e:
                with lock:
                    errors.append(f"{key}: {e}")

        with ThreadPoolExecutor(cfg.concurrency) as pool:
            list(pool.map(open_one, [k for k in keys for _ in range(cfg.callers)]))
        all_connected_ms = round((done_at[0] - t0) * 1000, 3)
        reclaimed = self.mgr.reclaim()  # delete policy: the old bug destroyed these under traffic
        self._barrier(r, "connected", cfg.connect_timeout)
        write_failures = self._write_all(r, keys)
        self._barrier(r, "written", cfg.connect_timeout)
        check = self._check_all(r, keys)
        eps = [self.mgr.endpoints.get(k) for k in keys]
        duplicates = [str(ep.key) for ep in eps if ep is not None and len(set(ep.peer_qpns)) > 1]
        crossed = [f"{ep.key}: {ep.crossed}" for ep in eps if ep is not None and ep.crossed]
        unconnected = sum(1 for ep in eps if ep is None or ep.state != CONNECTED)
        # The kernel's QP list is read only while neither side creates or destroys QPs: a netlink
        # dump resumes by position, so entries destroyed meanwhile make it skip others.
        ours = self.fabric.live_qpns()
        in_use = self._listed(ours)  # the count sees our QPs before it must see none
        self._barrier(r, "checked", cfg.connect_timeout)
        self.mgr.close_all()
        self._barrier(r, "closed", cfg.connect_timeout)
        leaked = self._listed(ours | self.fabric.live_qpns())
        hangs_n = len({h.split(":")[0] for h in hangs})
        stats = {k: v - stats_before.get(k, 0) for k, v in self.mgr.stats.to_dict().items()}
        failed = bool(hangs or errors or duplicates or crossed or write_failures or check["bad"] or leaked or
                      unconnected)
        self.ev.emit("round", round=r, endpoints=cfg.endpoints, all_connected_ms=all_connected_ms,
                     hangs=hangs_n, errors=len(errors), unconnected=unconnected, duplicates=len(duplicates),
                     crossed=len(crossed), write_failures=len(write_failures), verified=check["ok"],
                     verify_failures=len(check["bad"]), reclaimed_qps=reclaimed, qps_in_use=in_use, leaked_qps=leaked,
                     handshakes=stats, verdict=Verdict.FAIL if failed else Verdict.PASS,
                     examples={k: v[:SHOWN] for k, v in (("hangs", hangs), ("errors", errors),
                                                          ("duplicates", duplicates), ("crossed", crossed),
                                                          ("write_failures", write_failures),
                                                          ("verify_failures", check["bad"])) if v})
        return 1 if failed else 0

    def _listed(self, qpns: set[int]) -> int | None:
        """How many of these QPs the kernel lists, or None where the rdma tool is missing."""
        try:
            return listed_qps(self.dev.name, qpns)
        except (OSError, ValueError):
            return None

    def _write_all(self, r: int, keys: list[EndpointKey]) -> list[str]:
        """One WRITE per endpoint into the peer's slot for it, through the endpoint's QP."""
        cfg = self.cfg
        base = cfg.endpoints * SLOT
        failures: list[str] = []

        def write(key: EndpointKey) -> None:
            ep = self.mgr.endpoints.get(key)
            if ep is None or ep.state != CONNECTED or self.peer_buffer is None:
                return  # counted as unconnected
            off = base + key.channel * SLOT
            self.buf.write(off, pattern(slot_seed(ep.qp.qpn, r, key.channel), SLOT))
            try:
                ep.qp.transfer("write", self.buf, off, self.peer_buffer.addr + key.channel * SLOT,
                               self.peer_buffer.rkey, SLOT, cfg.io_timeout)
            except (CompletionError, DeadlineExceeded, RdmacheckError) as e:
                failures.append(f"{key}: {e}")

        with ThreadPoolExecutor(cfg.concurrency) as pool:
            list(pool.map(write, keys))
        return failures

    def _check_all(self, r: int, keys: list[EndpointKey]) -> dict:
        """Every slot holds this round's pattern for its channel, written by the QP it is paired with."""
        ok, bad = 0, []
        for key in keys:
            ep = self.mgr.endpoints.get(key)
            got = self.buf.read(key.channel * SLOT, SLOT)
            seed = int.from_bytes(got[:8], "little")
            fields = seed_fields(seed)
            qpn, rr, ch = fields or (None, None, None)
            expected_qpn = ep.peer.qpn if ep is not None and ep.peer is not None else None
            if fields is None:
                bad.append(f"{key}: no write arrived (the slot is blank)")
            elif (rr, ch) != (r, key.channel):
                bad.append(f"{key}: no write of this round arrived (slot holds round {rr} channel {ch})")
            elif qpn != expected_qpn:
                bad.append(f"{key}: written through peer QP {qpn}, but this endpoint is paired with {expected_qpn}")
            elif check_pattern(seed, got) is not None:
                bad.append(f"{key}: the data differs from the pattern")
            else:
                ok += 1
        return {"ok": ok, "bad": bad}


def run_peer(cfg: SimopenConfig) -> int:
    from rdmacheck.roles.events import new_generation
    from rdmacheck.roles.run import exit_on_sigterm, run_guarded

    ev = EventLog(role="simopen", name=cfg.name, generation=new_generation())
    ev.log(f"simopen peer {cfg.name!r} on {cfg.device}: {cfg.endpoints} endpoints, policy {cfg.policy}")
    exit_on_sigterm()
    return run_guarded(ev, SimopenPeer(cfg, ev).run)
