"""The target: registers a buffer, answers handshakes, verifies what landed, survives peer restarts."""

from __future__ import annotations

import hashlib
import os
import secrets
import signal
import threading
import time

from rdmacheck.endpoint import REUSE_REFUSED, Endpoint, SilentReset, usable_mode
from rdmacheck.errors import EnvironmentProblem, RdmacheckError
from rdmacheck.handshake.address import format_hostport
from rdmacheck.handshake.auth import Verifier
from rdmacheck.handshake.messages import (
    Accept,
    BufferInfo,
    Connect,
    Message,
    Ping,
    Pong,
    QPInfo,
    Reject,
    Verify,
    VerifyResult,
)
from rdmacheck.handshake.server import HandshakeServer, Session
from rdmacheck.metadata.etcd import NameTakenOver
from rdmacheck.pattern import check_pattern
from rdmacheck.roles.checkpoint import checkpoint_for
from rdmacheck.roles.config import RoleConfig
from rdmacheck.roles.events import EventLog
from rdmacheck.verbs.cm import CmListener, event_name
from rdmacheck.verbs.compat import cm as cme
from rdmacheck.verbs.rc import Buffer, Device
from rdmacheck.words import resolve_strategy

MAX_PEERS = 64  # peer names (one QP each) a target keeps: a flood of names cannot make it create more


class TargetRole:
    def __init__(self, cfg: RoleConfig, events: EventLog):
        self.cfg = cfg
        self.ev = events
        self.lock = threading.Lock()  # one QP operation at a time
        self.peers: dict[str, Endpoint] = {}
        self.dev: Device | None = None
        self.buf: Buffer | None = None
        self.strategy = cfg.strategy
        self.mode = cfg.mode
        self.listener: CmListener | None = None
        # cm mode: token -> (endpoint awaiting its CM request, when the token expires)
        self.pending: dict[int, tuple[Endpoint, float]] = {}
        self.stop = threading.Event()  # SIGTERM, or a failure that ends the role (stop_reason)
        self.stop_reason: RdmacheckError | None = None
        self.store = None  # etcd metadata, when configured
        self.watching: dict[str, object] = {}  # peer name -> cancel() of its etcd watch
        self.checkpoint = checkpoint_for(cfg.inject, events)

    def run(self) -> int:
        cfg = self.cfg
        assert cfg.listen is not None
        self.dev = Device.open(cfg.device, cfg.gid_index, cfg.ib_port)
        self.strategy = resolve_strategy(cfg.strategy, self.dev.info)
        self.mode = usable_mode(cfg.mode, self.dev)
        t0 = time.perf_counter()
        self.buf = Buffer(self.dev, cfg.buffer_size)
        reg_ms = (time.perf_counter() - t0) * 1000
        server = HandshakeServer(cfg.listen[0], cfg.listen[1], self,
                                 on_reject=lambda peer, why: self.ev.emit("handshake_rejected", peer=peer, reason=why),
                                 verifier=Verifier(cfg.token, self.ev.generation) if cfg.token else None)
        stop = self.stop
        if self.mode == "cm":
            ip = cfg.cm_addr or self.dev.ipv4()
            if not ip:
                raise EnvironmentProblem(f"{self.dev.name} has no IPv4 address in this network namespace; "
                                         f"give --cm-addr")
            self.listener = CmListener.open(ip, cfg.cm_port or server.address[1] + 1)
            threading.Thread(target=self._cm_loop, args=(stop,), name="cm-events", daemon=True).start()
        # Claim the name before serving: a duplicate must fail before it answers anyone, and a
        # restarted target must not answer (on its old, fixed port) while its predecessor's key lives.
        claim_wait = self._publish(server) if cfg.metadata else None
        server.serve_in_background()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        self.ev.emit("ready", device=self.dev.name, provider=self.dev.info.provider, port=self.dev.port,
                     gid_index=self.dev.gid.index, gid=self.dev.gid.gid, listen=format_hostport(*server.address),
                     strategy=self.strategy, mode=self.mode,
                     cm_addr=f"{self.listener.ip}:{self.listener.port}" if self.listener else None, buffer={"addr": self.buf.addr, "length": self.buf.length,
                                                     "rkey": self.buf.rkey}, register_ms=round(reg_ms, 3),
                     metadata=cfg.metadata.shown() if cfg.metadata else "p2p",
                     claim_wait_s=round(claim_wait, 3) if claim_wait is not None else None)
        self.ev.log(f"serving on {format_hostport(*server.address)} with {self.dev.name}, "
                    f"{cfg.buffer_size} bytes exposed, strategy {self.strategy}")
        stop.wait()
        server.close()
        if self.stop_reason:
            raise self.stop_reason
        if self.store:
            for cancel in self.watching.values():
                cancel()  # before the client closes, or etcd3's watch thread dies with a traceback
            self.store.close()
        if self.listener:
            self.listener.close()
        self.ev.emit("stopped")
        return 0

    # --- etcd metadata -------------------------------------------------------------------------

    def _on_metadata(self, kind: str, info: dict) -> None:
        self.ev.emit(kind, **info)
        if kind == "name_lost":  # a successor holds our name: serving on would split the name in two
            self.stop_reason = NameTakenOver(f"etcd: the name {info.get('name')!r} was claimed by generation "
                                             f"{info.get('holder_generation')} while this target's lease had lapsed")
            self.stop.set()

    def _publish(self, server: HandshakeServer) -> float:
        from rdmacheck.metadata.etcd import EtcdStore

        cfg = self.cfg
        self.store = EtcdStore.connect_waiting(cfg.metadata, cfg.reconnect_timeout, on_event=self._on_metadata)
        desc = {"role": "target", "name": cfg.name, "generation": self.ev.generation, "pid": os.getpid(),
                "device": self.dev.name, "provider": self.dev.info.provider, "gid": self.dev.gid.gid,
                "lid": self.dev.lid, "port": self.dev.port, "mode": self.mode,
                "handshake": format_hostport(*server.address),
                "cm_addr": f"{self.listener.ip}:{self.listener.port}" if self.listener else None,
                "buffer": {"addr": self.buf.addr, "length": self.buf.length, "rkey": self.buf.rkey}}
        waited = self.store.publish_waiting(cfg.name, desc, cfg.metadata.ttl * 2 + 1, cfg.reconnect_timeout)
        self.store.keep_alive_in_background()
        return waited

    def _watch_peer(self, name: str, generation: int) -> None:
        """Watch a peer's key from the revision read now: its DELETE (lease expired) or a PUT with a
        new generation means it restarted, and the QP is renewed right away."""
        if not self.store:
            return
        with self.lock:
            if name in self.watching:
                return
            self.watching[name] = lambda: None  # taken: a concurrent handshake of the same peer skips
        from rdmacheck.metadata.etcd import MetadataError  # noqa: PLC0415

        try:
            got = self.store.get(name)
            start: int | None = got[1] + 1 if got else 1
        except MetadataError as e:  # etcd away right now: the watch catches up when it is back
            self.ev.emit("metadata_unreachable", operation=f"get {name}", error=str(e))
            start = None
        except RdmacheckError as e:  # the peer's key holds no descriptor (forged or damaged): watch anyway
            self.ev.emit("metadata_invalid", operation=f"get {name}", error=str(e))
            start = None
        self.watching[name] = self.store.watch(name, start, lambda kind, desc: self._on_peer_change(name, kind, desc))

    def _on_peer_change(self, name: str, kind: str, desc: dict | None) -> None:
        if kind == "error":
            self.ev.emit("metadata_unreachable", operation=f"watch {name}", **(desc or {}))
            return
        with self.lock:
            ep = self.peers.get(name)
            if ep is None or ep.peer is None:
                return  # nothing connected to renew (or already renewed)
            if kind == "put" and desc and desc.get("generation") == ep.peer.generation:
                return  # the same process re-published (etcd came back)
            via = "etcd watch: key deleted (lease expired)" if kind == "delete" else "etcd watch: new generation"
            self.ev.emit("peer_restarted", peer=name, via=via, old_generation=ep.peer.generation,
                         new_generation=desc.get("generation") if desc else None, old_peer_qpn=ep.peer.qpn)
            try:
                ep.pending_renew = ep.renew(self.strategy)
                self.ev.emit("qp_renewed", peer=name, **ep.pending_renew.to_dict())
            except RdmacheckError as e:
                self.ev.emit("error", step="renew", finding=getattr(e, "finding", None), message=str(e), fatal=False)
                self.peers.pop(name, None)

    def _take_pending(self, ep: Endpoint, peer: QPInfo, timings: dict | None) -> Accept:
        """The QP was renewed when the watch saw the restart: connect it and report."""
        report, ep.pending_renew = ep.pending_renew, None
        self.ev.emit("reestablished", peer=peer.name, peer_qpn=peer.qpn, triggered_by="etcd watch",
                     **report.to_dict(), connect_timings_ms=timings or {})
        return self._accept(ep, True)

    # --- handshake handler ---------------------------------------------------------------------

    def on_message(self, session: Session, msg: Message) -> Message:
        if isinstance(msg, Connect):
            self.checkpoint("before-handshake")
            with self.lock:
                reply = self._connect(session, msg.qp, msg.mode)
            watch = session.state.pop("watch", None)
            if watch:  # an etcd read: never under the lock every handshake and watch callback takes
                self._watch_peer(*watch)
            return reply
        if isinstance(msg, Verify):
            self.checkpoint("after-write")
            return self._verify(session, msg)
        if isinstance(msg, Ping):
            return Pong(generation=self.ev.generation)
        return Reject(reason=f"unexpected message {msg.KIND!r} for a target")

    def on_replied(self, session: Session, reply: Message) -> None:
        if isinstance(reply, Accept):
            self.checkpoint("after-handshake-sent")

    def on_close(self, session: Session, reason: str) -> None:
        if "peer" in session.state:
            self.ev.emit("peer_disconnected", peer=session.state["peer"], reason=reason)

    def _accept(self, ep: Endpoint, reestablished: bool) -> Accept:
        assert self.buf is not None
        cm = {}
        if self.listener:
            token = secrets.randbits(62)  # unguessable: it is what lets a CM request onto this QP
            now = time.monotonic()
            self.pending = {t: (e, exp) for t, (e, exp) in self.pending.items() if exp > now}
            self.pending[token] = (ep, now + CM_TOKEN_TTL_S)
            cm = {"cm_addr": f"{self.listener.ip}:{self.listener.port}", "cm_token": token}
        return Accept(qp=ep.local_info(), buffer=BufferInfo(self.buf.addr, self.buf.length, self.buf.rkey),
                      reestablished=reestablished, strategy=self.strategy if reestablished else None, **cm)

    def _bring_up(self, ep: Endpoint, peer: QPInfo) -> dict | None:
        """oob: INIT -> RTR -> RTS towards the peer now (returns the timings). cm: the QP waits in
        RESET for the peer's CM request, which the CM thread accepts onto it (returns None)."""
        if self.mode == "cm":
            ep.peer = peer
            return None
        return ep.establish(peer)

    def _connect(self, session: Session, peer: QPInfo, mode: str) -> Message:
        """A new peer gets a QP; the same handshake again is idempotent; the same name with another
        generation or QP is a restarted peer: renew the QP with the strategy, then bring it up."""
        assert self.dev is not None
        if session.state.get("peer", peer.name) != peer.name:
            return Reject(reason=f"one handshake connection connects one peer: this one is {session.state['peer']!r}")
        if peer.name not in self.peers and len(self.peers) >= MAX_PEERS:
            return Reject(reason=f"too many peers: this target keeps QPs for at most {MAX_PEERS} peer names",
                          transient=True)
        session.state["peer"] = peer.name
        if mode != self.mode:
            return Reject(reason=f"mode mismatch: this target connects with {self.mode}, the initiator asked {mode}")
        ep = self.peers.get(peer.name)
        try:
            if ep is None:
                ep = Endpoint(self.dev, self.cfg.tuning, self.cfg.name, self.ev.generation,
                              faults=self.cfg.inject.verbs, checkpoint=self.checkpoint)
                ep.create()
                timings = self._bring_up(ep, peer)
                self.peers[peer.name] = ep
                if timings is not None:
                    self.ev.emit("connected", peer=peer.name, peer_generation=peer.generation, qpn=ep.qp.qpn,
                                 peer_qpn=peer.qpn, timings_ms=timings)
                session.state["watch"] = (peer.name, peer.generation)
                return self._accept(ep, False)
            if ep.peer is None and ep.pending_renew is not None:
                return self._take_pending(ep, peer, self._bring_up(ep, peer))
            if ep.peer == peer:  # the same handshake again: idempotent
                self.ev.emit("handshake_repeated", peer=peer.name, qpn=ep.qp.qpn)
                return self._accept(ep, False)
            old = ep.peer
            self.ev.emit("peer_restarted", peer=peer.name,
                         old_generation=old.generation if old else None, new_generation=peer.generation,
                         old_peer_qpn=old.qpn if old else None, new_peer_qpn=peer.qpn)
            report = ep.renew(self.strategy)
            self.checkpoint("during-reestablish")
            timings = self._bring_up(ep, peer)
            self.ev.emit("reestablished", peer=peer.name, peer_qpn=peer.qpn, **report.to_dict(),
                         connect_timings_ms=timings or {})
            return self._accept(ep, True)
        except SilentReset as e:
            self.ev.emit("error", step="reset", finding=e.finding, message=str(e), fatal=False)
            self.peers.pop(peer.name, None)
            return Reject(reason=str(e))
        except RdmacheckError as e:
            self.ev.emit("error", step="connect", message=str(e), fatal=False)
            if ep is not None and ep.peer is None:  # half-connected: drop it (and its QP) for a fresh try
                self.peers.pop(peer.name, None)
                ep.close()
            return Reject(reason=str(e), transient=bool(getattr(e, "transient", False)))

    def _cm_loop(self, stop: threading.Event) -> None:
        """All rdma_cm events of the target. If this loop dies, the target would still answer
        handshakes but never accept again: a failure here stops the whole role with a finding."""
        try:
            self._cm_events(stop)
        except Exception as e:  # noqa: BLE001 - whatever it was, the role must not live on without it
            self.stop_reason = CmLoopDied(f"the rdma_cm event loop stopped: {type(e).__name__}: {e}")
            stop.set()

    def _cm_events(self, stop: threading.Event) -> None:
        assert self.listener is not None
        injected = self.cfg.inject.has("cm-event-error")
        while not stop.is_set():
            if injected:
                self.ev.emit("fault_injected", fault="cm-event-error")
                raise OSError("injected: rdma_get_cm_event failed (cm-event-error)")
            ev = self.listener.channel.next_event(0.5)
            if ev is None:
                continue
            kind = ev.event_type
            if kind != cme.RDMA_CM_EVENT_CONNECT_REQUEST:
                ev.ack_cm_event()
                self.ev.emit("cm_event", cm_event=event_name(kind))
                continue
            private = bytes(ev.private_data or b"")
            token = int.from_bytes(private[:8].ljust(8, b"\0"), "little")
            with self.lock:
                ep, expires = self.pending.pop(token, (None, 0.0))
                if ep is None or expires < time.monotonic():
                    self.listener.reject(ev, b"unknown token")
                    why = "an unknown" if ep is None else f"an expired ({CM_TOKEN_TTL_S:g} s)"
                    self.ev.emit("handshake_rejected", peer="rdma_cm",
                                 reason=f"CM request with {why} token (private data {private[:16].hex() or 'none'})")
                    continue
                try:
                    ep.drop_cm()
                    ep.cm = _Child(self.listener.accept(ev, ep.qp, self.dev.is_iwarp))
                    self.ev.emit("connected", peer=ep.peer.name, peer_generation=ep.peer.generation, via="rdma_cm",
                                 qpn=ep.qp.qpn, peer_qpn=ep.peer.qpn, timings_ms=dict(ep.qp.timings_ms))
                except RdmacheckError as e:
                    finding = REUSE_REFUSED if ep.last_renew == "reset" else None
                    self.ev.emit("error", step="rdma_accept", message=str(e), finding=finding, fatal=False)

    def _verify(self, session: Session, msg: Verify) -> Message:
        if self.buf is None:
            return Reject(reason="not ready: no buffer registered yet")
        ep = self.peers.get(session.state.get("peer", ""))
        if ep is None or ep.peer is None:  # else any TCP client could read the buffer through verdicts
            why = "verify needs a connected session: send connect first"
            self.ev.emit("handshake_rejected", peer=session.peer_addr, reason=why)
            return Reject(reason=why)
        if msg.offset + msg.length > self.buf.length:
            return Reject(reason=f"verify range {msg.offset}+{msg.length} exceeds the buffer of {self.buf.length}")
        t0 = time.perf_counter()
        got = self.buf.read(msg.offset, msg.length)
        mm = check_pattern(msg.seed, got)
        ms = int((time.perf_counter() - t0) * 1000)
        peer = session.state.get("peer")
        if mm is None:
            self.ev.emit("verified", peer=peer, length=msg.length, verify_ms=ms)
            return VerifyResult(ok=True, ms=ms)
        # Offsets and a hash, never the bytes themselves: the verdict must not disclose the buffer.
        digest = hashlib.sha256(got).hexdigest()[:16]
        differ = f", {mm.differing_bytes} bytes differ" if mm.differing_bytes >= 0 else ""
        detail = f"first mismatch at byte {mm.offset}{differ}; sha256 of the region the target holds {digest}"
        self.ev.emit("verify_failed", peer=peer, length=msg.length, mismatch_offset=mm.offset, detail=detail)
        return VerifyResult(ok=False, mismatch_offset=mm.offset, detail=detail, ms=ms)


class CmLoopDied(RdmacheckError):
    finding = "cm-loop-died"
    step = "rdma_get_cm_event"


CM_TOKEN_TTL_S = 30.0  # a CM request must follow its handshake's Accept within this


class _Child:
    """The accepted connection's CM id, closed when the peer's QP is renewed."""

    def __init__(self, cmid):
        self.cmid = cmid

    def close(self) -> None:
        for fn in (self.cmid.disconnect, self.cmid.close):
            try:
                fn()
            except Exception:  # noqa: BLE001 - the peer is usually gone already
                pass
