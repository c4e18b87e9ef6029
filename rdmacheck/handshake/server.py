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
from rdmacheck.handshake.messages import InvalidMessage, Message, Reject, parse

IDLE_TIMEOUT = 60.0  # a live initiator pings far more often than this
MAX_SESSIONS = 64


@dataclass
class Session:
    peer_addr: str
    sock: socket.socket
    state: dict = field(default_factory=dict)  # what the handler remembers about this peer


class Handler(Protocol):
    def on_message(self, session: Session, msg: Message) -> Message: ...
    def on_close(self, session: Session, reason: str) -> None: ...


class _Refused(Exception):
    """A frame the session ends on, with the reason sent in the Reject."""


class HandshakeServer:
    def __init__(self, host: str, port: int, handler: Handler,
                 on_reject: Callable[[str, str], None] | None = None, verifier: Verifier | None = None):
        self.handler = handler
        self.verifier = verifier  # with a token: unauthenticated or replayed messages never reach the handler
        self.on_reject = on_reject or (lambda addr, reason: None)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        # A restarted target must get its port back at once (no TIME_WAIT wait).
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))  # listen() only when serving: nobody connects before then
        self.address = self.sock.getsockname()[:2]
        self._sessions = threading.BoundedSemaphore(MAX_SESSIONS)
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
            if not self._sessions.acquire(blocking=False):
                self._reject(conn, peer, f"too many concurrent handshake sessions (cap {MAX_SESSIONS})")
                conn.close()
                continue
            threading.Thread(target=self._serve, args=(conn, peer), name=f"session-{peer}", daemon=True).start()

    def _reject(self, conn: socket.socket, peer: str, reason: str) -> None:
        self.on_reject(peer, reason)
        try:
            wire.send_frame(conn, Reject(reason=reason).envelope(), time.monotonic() + 1.0)
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
        try:
            while not self._stop.is_set():
                try:
                    raw = wire.read_frame(conn, time.monotonic() + IDLE_TIMEOUT, what="the next handshake frame")
                except wire.PeerClosed as e:
                    reason = str(e)
                    return
                except (wire.FrameError, InvalidMessage) as e:
                    reason = f"bad frame: {e}"
                    self._reject(conn, peer, reason)
                    return
                except (TimeoutError, OSError) as e:
                    reason = str(e)
                    return
                try:
                    reply = self._answer(session, raw)
                except _Refused as e:
                    reason = str(e)
                    self._reject(conn, peer, reason)
                    return
                wire.send_frame(conn, reply.envelope(), time.monotonic() + 5.0)
                getattr(self.handler, "on_replied", lambda s, m: None)(session, reply)
                if isinstance(reply, Reject):
                    reason = f"rejected: {reply.reason}"
                    return
        except (OSError, TimeoutError) as e:
            reason = str(e)
        finally:
            conn.close()
            self._sessions.release()
            self.handler.on_close(session, reason)
