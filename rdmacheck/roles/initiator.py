"""The initiator: connects, writes a pattern, reads it back on the same QP, has the target verify it;
then holds the connection and, when the target dies and comes back, re-establishes."""

from __future__ import annotations

import errno
import os
import threading
import time
from dataclasses import dataclass

from rdmacheck.endpoint import Endpoint, ReuseRefused, usable_mode
from rdmacheck.errors import DeadlineExceeded, EnvironmentProblem, RdmacheckError
from rdmacheck.findings import data_check_finding, deadline_finding
from rdmacheck.handshake.address import parse_hostport
from rdmacheck.handshake.client import Channel, ChannelLost, PeerRejected, warm_resolver
from rdmacheck.handshake.messages import (
    Accept,
    Connect,
    Ping,
    Pong,
    Verify,
    VerifyResult,
)
from rdmacheck.metadata.etcd import NameTakenOver
from rdmacheck.pattern import first_mismatch, new_seed, pattern
from rdmacheck.roles.checkpoint import checkpoint_for
from rdmacheck.roles.config import RoleConfig
from rdmacheck.roles.events import EventLog
from rdmacheck.verbs.cm import CmError, cm_connect
from rdmacheck.verbs.errors import CompletionError, VerbsError
from rdmacheck.verbs.measure import LinkPlan, Remote, measure_link
from rdmacheck.verbs.rc import Buffer, Device, QPTuning
from rdmacheck.words import resolve_strategy

PROBE_BYTES = 64
ETCD_CONNECT_TRY = 1.0  # seconds on one address read from etcd before reading it again
_DOWN = object()  # etcd did not answer a read


class PeerLost(Exception):
    def __init__(self, via: str):
        super().__init__(via)
        self.via = via


def probe_deadline_s(tuning: QPTuning, io_timeout: float) -> float:
    """How long the dead-peer probe waits: twice the transport's own retry bound plus 0.5 s (1.44 s
    with the defaults) - past it, the QP has failed to notice within its promise, and waiting on
    (siw sometimes neither completes nor flushes for 10 s and more) only delays re-establishing."""
    bound = tuning.retry_bound_s()
    return min(io_timeout, 10.0 if bound is None else 2 * bound + 0.5)


@dataclass
class SmallWrite:
    """How one 64 B RDMA WRITE to the peer ended."""
    status: str  # SUCCESS, a completion status, "post refused (ERRNO)", "no completion", "none"
    after_ms: float | None = None
    message: str | None = None

    def described(self) -> str:
        if self.status == "no completion":
            return f"no completion within {(self.after_ms or 0) / 1000:g} s"
        return self.status if self.status.startswith("post refused") else f"completion {self.status}"


class InitiatorRole:
    def __init__(self, cfg: RoleConfig, events: EventLog):
        self.cfg = cfg
        self.ev = events
        self.failures = 0
        self.measured = False

    def run(self) -> int:
        cfg = self.cfg
        if cfg.peer is None and cfg.metadata is None:
            raise RdmacheckError("the initiator needs the target's address (--peer) or etcd metadata")
        dev = Device.open(cfg.device, cfg.gid_index, cfg.ib_port)
        self.strategy = resolve_strategy(cfg.strategy, dev.info)
        self.mode = usable_mode(cfg.mode, dev)
        self.src_ip = cfg.cm_addr or dev.ipv4()
        if self.mode == "cm" and not self.src_ip:
            raise EnvironmentProblem(f"{dev.name} has no IPv4 address in this network namespace; give --cm-addr")
        self.buf = Buffer(dev, max(cfg.length, PROBE_BYTES))
        self.checkpoint = checkpoint_for(cfg.inject, self.ev)
        self.ep = Endpoint(dev, cfg.tuning, cfg.name, self.ev.generation, faults=cfg.inject.verbs,
                           checkpoint=self.checkpoint)
        self.handshake_faults = cfg.inject.handshake
        self.ep.create()
        self.store = None
        self.name_lost: dict | None = None  # etcd: a successor claimed our name while our lease lapsed
        self.target_addr: tuple[str, int] = cfg.peer or ("", 0)  # where the target's handshake was reached
        claim_wait = self._publish(dev) if cfg.metadata else None
        if cfg.peer:
            warm_resolver(*cfg.peer)
        self.ev.emit("ready", claim_wait_s=round(claim_wait, 3) if claim_wait is not None else None, device=dev.name, provider=dev.info.provider, port=dev.port, gid_index=dev.gid.index,
                     gid=dev.gid.gid, qpn=self.ep.qp.qpn, strategy=self.strategy, mode=self.mode, peer_addr=f"{cfg.peer[0]}:{cfg.peer[1]}" if cfg.peer else None,
                     metadata=cfg.metadata.shown() if cfg.metadata else "p2p")
        target_gen: int | None = None
        renew = None
        done = 0
        need_new = False  # after an etcd watch saw the target go: wait for its new generation
        path_down_since: float | None = None  # a transient connect failure (link down): retry until the timeout
        while True:
            try:
                chan, accept = self._handshake(target_gen if need_new else None)
                if target_gen is not None and accept.qp.generation != target_gen:
                    self.ev.emit("peer_restarted", peer=accept.qp.name, old_generation=target_gen,
                                 new_generation=accept.qp.generation, new_peer_qpn=accept.qp.qpn)
                timings = self._connect_qp(accept)
                path_down_since = None
            except (PeerRejected, VerbsError) as e:
                if not getattr(e, "transient", False):
                    raise
                path_down_since = path_down_since or time.monotonic()
                if time.monotonic() - path_down_since > cfg.reconnect_timeout:
                    raise DeadlineExceeded(f"the path to the target to come back ({e})", cfg.reconnect_timeout)
                self.ev.emit("connect_retry", message=str(e))
                if isinstance(e, VerbsError):  # our QP stopped half-way: make it ready for a new try
                    chan.close()
                    renew = self.ep.renew(self.strategy)
                time.sleep(cfg.heartbeat)
                continue
            mtu = {} if self.ep.dev.is_iwarp else {"path_mtu": self.ep.qp.queried_path_mtu()}  # iWARP has none
            if renew is not None:
                self.ev.emit("reestablished", peer=accept.qp.name, peer_qpn=accept.qp.qpn, **renew.to_dict(),
                             connect_timings_ms=timings, **mtu)
            else:
                self.ev.emit("connected", peer=accept.qp.name, peer_generation=accept.qp.generation,
                             qpn=self.ep.qp.qpn, peer_qpn=accept.qp.qpn, timings_ms=timings, **mtu)
            target_gen = accept.qp.generation
            try:
                failures = self.failures
                self._round(chan, accept, done)
                if cfg.measure_link and not self.measured and self.failures == failures:
                    self._measure(accept)
                done += 1
                if cfg.rounds and done >= cfg.rounds:
                    self.ev.emit("done", rounds=done, failures=self.failures)
                    chan.close()
                    if self.store:
                        self.store.close()
                    return 1 if self.failures else 0
                if self.store:  # etcd mode: no standing connection; the watch says when the target goes
                    chan.close()
                    while self._hold_watch(accept.qp.generation):  # its key lapsed, the target lived
                        chan, _ = self._recheck(accept, done)
                        chan.close()
                else:
                    self._hold(chan, accept)
            except PeerLost as lost:
                t_lost = time.time()
                need_new = lost.via.startswith("etcd")
                self.ev.emit("peer_lost", via=lost.via)
                self._probe(accept)
                self.ev.log(f"peer lost ({lost.via}) at {t_lost:.3f}; re-establishing with {self.strategy}")
            chan.close()
            renew = self.ep.renew(self.strategy)
            self.checkpoint("during-reestablish")

    def _connect_qp(self, accept: Accept) -> dict[str, float]:
        """Bring our QP up towards the target: by hand (oob) or through rdma_cm (cm)."""
        if self.mode == "oob":
            return self.ep.establish(accept.qp)
        if not accept.cm_addr or accept.cm_token is None:
            raise RdmacheckError("the target did not send an rdma_cm address and token for cm mode")
        ip, port = parse_hostport(accept.cm_addr, "the target's cm_addr")
        try:
            self.ep.cm = cm_connect(self.ep.qp, self.src_ip, ip, port, accept.cm_token.to_bytes(8, "little"),
                                    timeout=self.cfg.io_timeout, iwarp=self.ep.dev.is_iwarp)
        except (CmError, DeadlineExceeded) as e:
            if self.ep.last_renew == "reset":
                raise ReuseRefused(f"connecting the reset QP failed: {e}") from None
            raise
        self.ep.peer = accept.qp
        return dict(self.ep.qp.timings_ms)

    # --- etcd metadata -------------------------------------------------------------------------

    def _publish(self, dev: Device) -> float:
        from rdmacheck.metadata.etcd import EtcdStore

        cfg = self.cfg
        self.store = EtcdStore.connect_waiting(cfg.metadata, cfg.reconnect_timeout, on_event=self._on_metadata)
        waited = self.store.publish_waiting(cfg.name, {
            "role": "initiator", "name": cfg.name, "generation": self.ev.generation, "pid": os.getpid(),
            "device": dev.name, "provider": dev.info.provider, "gid": dev.gid.gid, "lid": dev.lid,
            "port": dev.port, "mode": self.mode, "qpn": self.ep.qp.qpn}, cfg.metadata.ttl * 2 + 1, cfg.reconnect_timeout)
        self.store.keep_alive_in_background()
        return waited

    def _address(self, old_gen: int | None, timeout: float) -> tuple[str, int]:
        """p2p: --peer. etcd: the target's published handshake address (a new generation after a
        restart), waiting out an etcd that does not answer until the deadline."""
        if not self.store:
            self.target_addr = self.cfg.peer
            return self.cfg.peer
        from rdmacheck.metadata.etcd import MetadataError, wait_for

        name = self.cfg.target_name
        what = f"target {name!r} to publish {'a new' if old_gen else 'its'} descriptor in etcd"
        deadline = time.monotonic() + timeout
        down = False
        while True:
            try:
                desc, _ = wait_for(self.store, name, (lambda d: d.get("generation") != old_gen) if old_gen
                                   else (lambda d: True), max(0.1, deadline - time.monotonic()), what)
                break
            except MetadataError as e:
                if time.monotonic() >= deadline:
                    raise DeadlineExceeded(f"{what} (etcd did not answer: {e})", timeout) from None
                if not down:
                    self.ev.emit("metadata_unreachable", operation=f"look up {name}", error=str(e))
                    down = True
                time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
        if down:
            self.ev.emit("metadata_resumed", operation=f"look up {name}")
        self.target_addr = parse_hostport(desc["handshake"], f"the handshake address etcd has for {name!r}")
        return self.target_addr

    def _recheck(self, accept: Accept, index: int) -> tuple[Channel, Accept]:
        """The target lived through a lapsed lease: one more verified round over the same QPs."""
        host, port = self.target_addr
        chan = Channel.connect(host, port, key=self.cfg.token, timeout=self.cfg.reconnect_timeout)
        # The same handshake again (idempotent for the target, no QP touched): verify needs a session.
        again = chan.request(Connect(qp=self.ep.local_info(), mode=self.mode), timeout=self.cfg.io_timeout)
        if not isinstance(again, Accept) or again.qp != accept.qp:
            chan.close()
            raise PeerLost("the target answered the repeated handshake with another QP: it restarted")
        self._round(chan, again, index)
        return chan, again

    def _on_metadata(self, kind: str, info: dict) -> None:
        self.ev.emit(kind, **info)
        if kind == "name_lost":
            self.name_lost = info

    def _hold_watch(self, generation: int) -> bool:
        """Hold until the target goes: a new generation published, or its key gone and the target
        no longer answering where it listened. A deleted key (a lapsed lease) under a target that
        still answers with its generation is no loss: returns True, and the caller re-checks the
        connection with data. With the watch broken (etcd away) the target is pinged every
        heartbeat, so its death is still seen; the watch resumes by itself."""
        name = self.cfg.target_name
        got = self._metadata(lambda: self.store.get(name))
        if got is not None and got is not _DOWN:
            if got[0].get("generation") != generation:
                raise PeerLost("etcd: a new target generation is already published")
        state: dict = {"suspect": "etcd: the target's key is already gone" if got is None else None,
                       "lost": None, "broken": got is _DOWN}
        wake = threading.Event()

        def changed(kind: str, desc: dict | None) -> None:
            if kind == "delete":
                state["suspect"] = "etcd watch: target key deleted (lease expired)"
            elif kind == "put" and desc and desc.get("generation") != generation:
                state["lost"] = "etcd watch: new target generation"
            elif kind == "put":
                state["suspect"] = None  # the same generation back: it lived
            elif kind == "error":
                state["broken"] = True
                self.ev.emit("metadata_unreachable", operation=f"watch {name}", **(desc or {}))
            elif kind == "resumed":
                state["broken"] = False
                self.ev.emit("metadata_resumed", operation=f"watch {name}", **(desc or {}))
            wake.set()

        start = got[1] + 1 if got not in (None, _DOWN) else 1
        cancel = self.store.watch(name, start, changed)
        try:
            while True:
                wake.wait(self.cfg.heartbeat)
                wake.clear()
                if self.name_lost:
                    raise NameTakenOver(f"etcd: the name {self.cfg.name!r} was claimed by generation "
                                        f"{self.name_lost.get('holder_generation')} while this initiator's lease "
                                        f"had lapsed")
                if state["lost"]:
                    raise PeerLost(state["lost"])
                if state["suspect"] or state["broken"]:
                    answer = self._ping_target()
                    why = state["suspect"] or "etcd unreachable"
                    if answer is None:
                        raise PeerLost(f"{why}, and the target no longer answers at {self._where()}")
                    if answer != generation:
                        raise PeerLost(f"{why}; the target at {self._where()} answers with a new generation")
                    if state["suspect"]:
                        self.ev.emit("peer_key_lapsed", peer=name, generation=generation,
                                     detail=f"{state['suspect']}, but the target still answers with generation "
                                            f"{generation}: it lived; re-checking the connection with data")
                        return True
        finally:
            cancel()

    def _metadata(self, fn):
        """fn() against etcd, or _DOWN when etcd does not answer (the caller copes; nothing waits forever)."""
        from rdmacheck.metadata.etcd import MetadataError  # noqa: PLC0415

        try:
            return fn()
        except MetadataError:
            return _DOWN

    def _ping_target(self) -> int | None:
        """The generation the target answers a Ping with at its handshake address, or None."""
        host, port = self.target_addr
        try:
            chan = Channel.connect(host, port, timeout=1.0, key=self.cfg.token)
        except DeadlineExceeded:
            return None
        try:
            pong = chan.request(Ping(), timeout=1.0)
            return pong.generation if isinstance(pong, Pong) else None
        except RdmacheckError:
            return None
        finally:
            chan.close()

    def _where(self) -> str:
        return f"{self.target_addr[0]}:{self.target_addr[1]}"

    def _handshake(self, old_gen: int | None = None) -> tuple[Channel, Accept]:
        """Connect (retrying until reconnect_timeout) and exchange QP info; refusals are retried too."""
        cfg = self.cfg
        deadline = time.monotonic() + cfg.reconnect_timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DeadlineExceeded("a handshake with the target", cfg.reconnect_timeout)
            host, port = self._address(old_gen, left)
            try:
                # etcd: a refused address may be a stale descriptor; read etcd again after a short try.
                chan = Channel.connect(host, port, key=cfg.token, timeout=max(0.1, min(
                    deadline - time.monotonic(), ETCD_CONNECT_TRY if self.store else cfg.reconnect_timeout)))
            except DeadlineExceeded:
                if self.store and deadline - time.monotonic() > 0:
                    continue
                raise
            if self.handshake_faults:  # injected once, at the sender
                fault = self.handshake_faults.pop(0)
                self.ev.emit("fault_injected", fault=str(fault))
                if fault.name == "handshake-drop":  # the message is lost: the connection closes, we retry
                    chan.close()
                    continue
                chan.fault = fault
            self.checkpoint("before-handshake")
            chan.after_send = lambda: self.checkpoint("after-handshake-sent")
            try:
                reply = chan.request(Connect(qp=self.ep.local_info(), mode=self.mode), timeout=min(10.0, max(left, 0.1)))
            except PeerRejected:
                chan.close()
                raise
            except ChannelLost as e:  # the old target still closing, or a new one not ready: retry
                self.ev.log(f"handshake retry: {e}")
                chan.close()
                time.sleep(0.02)
                continue
            if not isinstance(reply, Accept):
                chan.close()
                raise RdmacheckError(f"target answered connect with {reply.KIND!r}")
            if self.cfg.offset + self.cfg.length > reply.buffer.length:
                chan.close()
                raise RdmacheckError(f"--offset {self.cfg.offset} + --length {self.cfg.length} exceeds the target's "
                                     f"buffer of {reply.buffer.length} bytes")
            return chan, reply

    def _round(self, chan: Channel, accept: Accept, index: int) -> None:
        """WRITE a new pattern, READ the range back on the same QP, only then ask the target to check
        its memory, and compare the read-back. The READ is ordered behind the WRITE on the QP, so once
        it has completed the WRITE's data is placed; a WRITE completion alone says only that the send
        buffer may be reused (iWARP completes it once the bytes are handed to TCP), and a Verify sent
        over the control connection could overtake the data."""
        cfg = self.cfg
        qp = self.ep.qp
        seed = new_seed()
        data = pattern(seed, cfg.length)
        self.buf.write(0, data)
        raddr = accept.buffer.addr + cfg.offset
        step = "write"
        try:
            write_s = qp.transfer("write", self.buf, 0, raddr, accept.buffer.rkey, cfg.length, cfg.io_timeout,
                                  on_posted=lambda: self.checkpoint("mid-write"))
            self.checkpoint("after-write")
            self.ev.emit("write_done", round=index, bytes=cfg.length, write_ms=round(write_s * 1000, 3))
            step = "read back"
            self.buf.write(0, bytes(cfg.length))  # so a READ that does nothing cannot pass
            read_s = qp.transfer("read", self.buf, 0, raddr, accept.buffer.rkey, cfg.length, cfg.io_timeout)
            self.ev.emit("read_done", round=index, bytes=cfg.length, read_ms=round(read_s * 1000, 3))
            step = "verify on target"
            res = chan.request(Verify(seed=seed, offset=cfg.offset, length=cfg.length), timeout=cfg.io_timeout)
            if not isinstance(res, VerifyResult):  # a real check: asserts vanish under python -O
                raise RdmacheckError(f"the target answered verify with {res.KIND!r}")
            self.ev.emit("target_checked", round=index, ok=res.ok, target_verify_ms=res.ms)
        except CompletionError as e:
            self.ev.emit("round_error", round=index, step=e.op, wc_status=e.status, message=str(e))
            raise PeerLost(f"completion {e.status}") from None
        except ChannelLost as e:
            raise PeerLost(f"control connection: {e}") from None
        except DeadlineExceeded as e:
            self.failures += 1
            # The step that timed out decides the finding; a QP reused after a reset, ours or the
            # target's (its Accept says so), explains a stalled WRITE or READ.
            reused = self.ep.last_renew == "reset" or (accept.reestablished and accept.strategy == "reset")
            self.ev.emit("verify_failed", round=index, step=step, finding=deadline_finding(step, reused), detail=str(e),
                         target_ok=False, readback_ok=False)
            return
        got = self.buf.read(0, cfg.length)
        mm = first_mismatch(data, got)
        fields = dict(round=index, bytes=cfg.length, qpn=qp.qpn, peer_qpn=accept.qp.qpn,
                      write_ms=round(write_s * 1000, 3), read_ms=round(read_s * 1000, 3), target_verify_ms=res.ms,
                      target_ok=res.ok, readback_ok=mm is None)
        if res.ok and mm is None:
            self.ev.emit("verified", **fields)
            return
        self.failures += 1
        reused = self.ep.last_renew == "reset" or (accept.reestablished and accept.strategy == "reset")
        back = "matched" if mm is None else f"first mismatch at byte {mm.offset}: expected {mm.expected:#04x}, " \
                                            f"found {mm.found:#04x}"
        self.ev.emit("verify_failed", **fields, step="verify on target" if not res.ok else "read back",
                     finding=data_check_finding(res.ok, mm is None, reused),
                     detail=f"target: {res.detail or 'ok'}; read back: {back}")

    def _measure(self, accept: Accept) -> None:
        """The link's latency and bandwidth on the QP whose data was just verified (once a life): an event either
        way; a completion error is the peer lost, as in a round."""
        self.measured = True
        cfg = self.cfg
        region = min(cfg.length, accept.buffer.length - cfg.offset)
        remote = Remote(accept.buffer.addr + cfg.offset, accept.buffer.rkey)
        try:
            stats = measure_link(self.ep.qp, self.buf, remote, region, LinkPlan(), cfg.io_timeout)
        except CompletionError as e:
            self.ev.emit("link_measure_failed", detail=str(e)[:300])
            raise PeerLost(f"completion {e.status}") from None
        except (DeadlineExceeded, VerbsError) as e:
            self.ev.emit("link_measure_failed", detail=str(e)[:300])
            return
        self.ev.emit("link_measured", **stats)

    def _hold(self, chan: Channel, accept: Accept) -> None:
        """Until the target goes away: watch the control connection, ping it every heartbeat, and
        with --hold-probe also WRITE 64 B through the QP (the control path may live while the RDMA
        path is down, e.g. a link taken down)."""
        while True:
            if chan.closed_within(self.cfg.heartbeat):
                raise PeerLost("control connection closed")
            try:
                chan.request(Ping(), timeout=max(2.0, self.cfg.heartbeat * 4))
            except ChannelLost as e:
                raise PeerLost(f"heartbeat: {e}") from None
            if self.cfg.hold_probe:
                self._rdma_heartbeat(accept)

    def _rdma_heartbeat(self, accept: Accept) -> None:
        w = self._small_write(accept, min(self.cfg.io_timeout, 10.0))
        if w.status != "SUCCESS":
            raise PeerLost(f"RDMA heartbeat: {w.described()}")

    def _probe(self, accept: Accept) -> None:
        """One small RDMA WRITE to the lost peer: how long until the QP itself reports the death?"""
        try:
            w = self._small_write(accept, probe_deadline_s(self.cfg.tuning, self.cfg.io_timeout))
        except RdmacheckError as e:
            w = SmallWrite("none", message=str(e))
        self.ev.emit("dead_peer_probe", wc_status=w.status,
                     **{k: v for k, v in (("after_ms", w.after_ms), ("message", w.message)) if v is not None})

    def _small_write(self, accept: Accept, deadline_s: float) -> SmallWrite:
        """A 64 B RDMA WRITE to the peer's buffer (heartbeat and dead-peer probe) and how it ended."""
        try:
            s = self.ep.qp.transfer("write", self.buf, 0, accept.buffer.addr, accept.buffer.rkey, PROBE_BYTES,
                                    deadline_s=deadline_s)
            return SmallWrite("SUCCESS", round(s * 1000, 3))
        except CompletionError as e:
            return SmallWrite(e.status, round(e.after_s * 1000, 3))
        except VerbsError as e:  # siw: once the TCP stream is reset the QP refuses new work outright
            return SmallWrite(f"post refused ({errno.errorcode.get(e.errno, e.errno)})", message=str(e))
        except DeadlineExceeded as e:  # bounded: the QP neither completed nor failed the WRITE in time
            return SmallWrite("no completion", round(e.seconds * 1000, 3), str(e))
