"""The target's handshake listener: one thread per connection, persistent sessions.

A bad frame or an invalid message is answered with a Reject naming the reason, that connection
is closed, and the listener keeps serving everybody else.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

from rdmacheck.handshake import wire
from rdmacheck.handshake.auth import AuthError, Verifier
from rdmacheck.handshake.messages import InvalidMessage, Message, Ping, Reject, parse

IDLE_TIMEOUT = 60.0  # a live initiator pings far more often than this
FIRST_FRAME_TIMEOUT = 5.0  # a new connection's first (authenticated) frame: an initiator sends it at once
MAX_SESSIONS = 64
MAX_PER_SOURCE = 16  # sessions from one IP address


@dataclass
class Session:
    peer_addr: str
    sock: socket.socket
    state: dict = field(default_factory=dict)  # what the handler remembers about this peer


class Handler(Protocol):
    def on_message(self, session: Session, msg: Message) -> Message: ...
    def on_close(self, session: Session, reason: str) -> None: ...


@dataclass
class _Slot:
    """A connection holding one of the capped session slots."""
    conn: socket.socket
    ip: str
    since: float
    trusted: bool = False  # its first frame passed (authenticated, valid): never evicted for a newcomer


class _Refused(Exception):
    """A frame the session ends on, with the reason sent in the Reject."""


class HandshakeServer:
    def __init__(self, host: str, port: int, handler: Handler,
                 on_reject: Callable[[str, str], None] | None = None, verifier: Verifier | None = None,
                 max_sessions: int = MAX_SESSIONS, max_per_source: int = MAX_PER_SOURCE,
                 first_frame_timeout: float = FIRST_FRAME_TIMEOUT):
        self.handler = handler
        self.verifier = verifier  # with a token: unauthenticated or replayed messages never reach the handler
        self.on_reject = on_reject or (lambda addr, reason: None)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        # A restarted target must get its port back at once (no TIME_WAIT wait).
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))  # listen() only when serving: nobody connects before then
        self.address = self.sock.getsockname()[:2]
        # Slots are taken before any frame is read, so idle or trickling connections could fill them:
        # each must send its first frame within first_frame_timeout, and until it has, a newcomer
        # takes its slot (the oldest such, of the same source first). A full house answers with a
        # transient Reject, which an initiator retries within its deadline.
        self.max_sessions, self.max_per_source = max_sessions, max_per_source
        self.first_frame_timeout = first_frame_timeout
        self._slots: dict[int, _Slot] = {}
        self._slots_lock = threading.Lock()
        self._stop = threading.Event()

    def serve_in_background(self) -> threading.Thread:
        self.sock.listen(16)
        t = threading.Thread(target=self._accept_loop, name="handshake-accept", daemon=True)
        t.start()
        return t

    def close(self) -> None:
        self._stop.set()
        try:
            self.sock.close()
        except OSError:
            pass

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                conn, addr = self.sock.accept()
            except OSError:
                return
            peer = f"{addr[0]}:{addr[1]}"
            full = self._admit(conn, addr[0])
            if full:
                self._reject(conn, peer, full, transient=True)
                conn.close()
                continue
            threading.Thread(target=self._serve, args=(conn, peer), name=f"session-{peer}", daemon=True).start()

    def _admit(self, conn: socket.socket, ip: str) -> str | None:
        """Give conn a slot (evicting a not yet trusted one if need be), or say why there is none."""
        with self._slots_lock:
            mine = [s for s in self._slots.values() if s.ip == ip]
            for pool, cap, what in ((mine, self.max_per_source, f"from {ip}"),
                                    (list(self._slots.values()), self.max_sessions, "")):
                if len(pool) < cap:
                    continue
                untrusted = sorted((s for s in pool if not s.trusted), key=lambda s: s.since)
                if not untrusted:
                    return f"too many concurrent handshake sessions{' ' + what if what else ''} (cap {cap}); retry"
                self._evict(untrusted[0])
            self._slots[id(conn)] = _Slot(conn, ip, time.monotonic())
        return None

    def _evict(self, slot: _Slot) -> None:
        self._slots.pop(id(slot.conn), None)
        self.on_reject(slot.ip, "an idle unauthenticated session gave its slot to a new connection")
        try:
            slot.conn.shutdown(socket.SHUT_RDWR)  # its session thread wakes up and ends
        except OSError:
            pass

    def _sealed(self, reply: dict, request: dict | None) -> dict:
        """With a token every reply is signed, bound to the request it answers (re:<its nonce>)."""
        return self.verifier.sign_reply(reply, request or {}) if self.verifier else reply

    def _reject(self, conn: socket.socket, peer: str, reason: str, transient: bool = False,
                request: dict | None = None) -> None:
        self.on_reject(peer, reason)
        try:
            wire.send_frame(conn, self._sealed(Reject(reason=reason, transient=transient).envelope(), request),
                            time.monotonic() + 1.0)
        except (OSError, TimeoutError, wire.FrameError):
            pass

    def _answer(self, session: Session, raw: dict) -> Message:
        """The reply to one frame; _Refused (with the reason the peer and the events get) for anything
        that must end the session, a bug of a handler included: a session thread never dies silently."""
        if self.verifier:
            try:
                self.verifier.check(raw)
            except AuthError as e:
                raise _Refused(f"refused: {e}") from None
        try:
            msg = parse(raw)
        except InvalidMessage as e:
            raise _Refused(f"invalid message: {e}") from None
        except Exception as e:  # noqa: BLE001 - validation must not kill the session thread
            raise _Refused(f"invalid message ({type(e).__name__}: {str(e)[:80]})") from None
        try:
            return self.handler.on_message(session, msg)
        except Exception as e:  # noqa: BLE001 - the handler's failure is answered, and logged as a rejection
            raise _Refused(f"internal error handling {msg.KIND}: {type(e).__name__}: {str(e)[:120]}") from None

    def _serve(self, conn: socket.socket, peer: str) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        session = Session(peer_addr=peer, sock=conn)
        reason = "closed"
        slot = self._slots.get(id(conn))
        try:
            while not self._stop.is_set():
                trusted = slot is not None and slot.trusted
                wait, what = (IDLE_TIMEOUT, "the next handshake frame") if trusted else \
                    (self.first_frame_timeout, "the first handshake frame")
                try:
                    raw = wire.read_frame(conn, time.monotonic() + wait, what=what)
                except wire.PeerClosed as e:
                    reason = str(e)
                    return
                except (wire.FrameError, InvalidMessage) as e:
                    reason = f"bad frame: {e}"
                    self._reject(conn, peer, reason)
                    return
                except (TimeoutError, OSError) as e:
                    reason = str(e)
                    if not trusted:
                        self.on_reject(peer, f"no valid first frame: {e}")
                    return
                try:
                    reply = self._answer(session, raw)
                except _Refused as e:
                    reason = str(e)
                    self._reject(conn, peer, reason, request=raw)
                    return
                if slot is not None and (self.verifier is not None or raw.get("type") != Ping.KIND):
                    # Trust (a slot no newcomer may take) is earned by an authenticated frame, or without
                    # a token by what only an initiator sends: a Ping alone costs nothing to send.
                    slot.trusted = True
                wire.send_frame(conn, self._sealed(reply.envelope(), raw), time.monotonic() + 5.0)
                getattr(self.handler, "on_replied", lambda s, m: None)(session, reply)
                if isinstance(reply, Reject):
                    reason = f"rejected: {reply.reason}"
                    return
        except (OSError, TimeoutError) as e:
            reason = str(e)
        finally:
            conn.close()
            with self._slots_lock:
                self._slots.pop(id(conn), None)
            self.handler.on_close(session, reason)
