"""The target: registers a buffer, answers handshakes, verifies what landed, survives peer restarts."""

from __future__ import annotations

import signal
import threading
import time

from rdmacheck.endpoint import Endpoint, SilentReset, resolve_strategy
from rdmacheck.errors import RdmacheckError
from rdmacheck.handshake.address import format_hostport
from rdmacheck.handshake.messages import (Accept, BufferInfo, Connect, Message, Ping, Pong, QPInfo, Reject,
                                          Verify, VerifyResult)
from rdmacheck.handshake.server import HandshakeServer, Session
from rdmacheck.pattern import first_mismatch, pattern
from rdmacheck.roles.config import RoleConfig
from rdmacheck.roles.events import EventLog
from rdmacheck.verbs.rc import Buffer, Device


class TargetRole:
    def __init__(self, cfg: RoleConfig, events: EventLog):
        self.cfg = cfg
        self.ev = events
        self.lock = threading.Lock()  # one QP operation at a time
        self.peers: dict[str, Endpoint] = {}
        self.dev: Device | None = None
        self.buf: Buffer | None = None
        self.strategy = cfg.strategy

    def run(self) -> int:
        cfg = self.cfg
        assert cfg.listen is not None
        self.dev = Device.open(cfg.device, cfg.gid_index, cfg.ib_port)
        self.strategy = resolve_strategy(cfg.strategy, self.dev)
        t0 = time.perf_counter()
        self.buf = Buffer(self.dev, cfg.buffer_size)
        reg_ms = (time.perf_counter() - t0) * 1000
        server = HandshakeServer(cfg.listen[0], cfg.listen[1], self,
                                 on_reject=lambda peer, why: self.ev.emit("handshake_rejected", peer=peer, reason=why))
        server.serve_in_background()
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        self.ev.emit("ready", device=self.dev.name, provider=self.dev.info.provider, port=self.dev.port,
                     gid_index=self.dev.gid.index, gid=self.dev.gid.gid, listen=format_hostport(*server.address),
                     strategy=self.strategy, buffer={"addr": self.buf.addr, "length": self.buf.length,
                                                     "rkey": self.buf.rkey}, register_ms=round(reg_ms, 3))
        self.ev.log(f"serving on {format_hostport(*server.address)} with {self.dev.name}, "
                    f"{cfg.buffer_size} bytes exposed, strategy {self.strategy}")
        stop.wait()
        server.close()
        self.ev.emit("stopped")
        return 0

    # --- handshake handler ---------------------------------------------------------------------

    def on_message(self, session: Session, msg: Message) -> Message:
        if isinstance(msg, Connect):
            with self.lock:
                return self._connect(session, msg.qp)
        if isinstance(msg, Verify):
            return self._verify(session, msg)
        if isinstance(msg, Ping):
            return Pong(generation=self.ev.generation)
        return Reject(reason=f"unexpected message {msg.KIND!r} for a target")

    def on_close(self, session: Session, reason: str) -> None:
        if "peer" in session.state:
            self.ev.emit("peer_disconnected", peer=session.state["peer"], reason=reason)

    def _accept(self, ep: Endpoint, reestablished: bool) -> Accept:
        assert self.buf is not None
        return Accept(qp=ep.local_info(), buffer=BufferInfo(self.buf.addr, self.buf.length, self.buf.rkey),
                      reestablished=reestablished, strategy=self.strategy if reestablished else None)

    def _connect(self, session: Session, peer: QPInfo) -> Message:
        assert self.dev is not None
        session.state["peer"] = peer.name
        ep = self.peers.get(peer.name)
        try:
            if ep is None:
                ep = Endpoint(self.dev, self.cfg.tuning, self.cfg.name, self.ev.generation)
                ep.create()
                timings = ep.establish(peer)
                self.peers[peer.name] = ep
                self.ev.emit("connected", peer=peer.name, peer_generation=peer.generation, qpn=ep.qp.qpn,
                             peer_qpn=peer.qpn, timings_ms=timings)
                return self._accept(ep, False)
            if ep.peer == peer:  # the same handshake again: idempotent
                self.ev.emit("handshake_repeated", peer=peer.name, qpn=ep.qp.qpn)
                return self._accept(ep, False)
            old = ep.peer
            self.ev.emit("peer_restarted", peer=peer.name,
                         old_generation=old.generation if old else None, new_generation=peer.generation,
                         old_peer_qpn=old.qpn if old else None, new_peer_qpn=peer.qpn)
            report = ep.renew(self.strategy)
            timings = ep.establish(peer)
            self.ev.emit("reestablished", peer=peer.name, peer_qpn=peer.qpn, **report.to_dict(),
                         connect_timings_ms=timings)
            return self._accept(ep, True)
        except SilentReset as e:
            self.ev.emit("error", step="reset", finding=e.finding, message=str(e), fatal=False)
            self.peers.pop(peer.name, None)
            return Reject(reason=str(e))
        except RdmacheckError as e:
            self.ev.emit("error", step="connect", message=str(e), fatal=False)
            if ep is not None and ep.peer is None:
                self.peers.pop(peer.name, None)
            return Reject(reason=str(e))

    def _verify(self, session: Session, msg: Verify) -> Message:
        assert self.buf is not None
        if msg.offset + msg.length > self.buf.length:
            return Reject(reason=f"verify range {msg.offset}+{msg.length} exceeds the buffer of {self.buf.length}")
        t0 = time.perf_counter()
        got = self.buf.read(msg.offset, msg.length)
        mm = first_mismatch(pattern(msg.seed, msg.length), got)
        ms = int((time.perf_counter() - t0) * 1000)
        peer = session.state.get("peer")
        if mm is None:
            self.ev.emit("verified", peer=peer, length=msg.length, verify_ms=ms)
            return VerifyResult(ok=True, ms=ms)
        detail = (f"first mismatch at byte {mm.offset}: expected {mm.expected:#04x}, found {mm.found:#04x}"
                  f" ({mm.differing_bytes} bytes differ)" if mm.differing_bytes >= 0 else
                  f"first mismatch at byte {mm.offset}")
        self.ev.emit("verify_failed", peer=peer, length=msg.length, mismatch_offset=mm.offset, detail=detail)
        return VerifyResult(ok=False, mismatch_offset=mm.offset, detail=detail, ms=ms)
