"""The initiator's side: connect with bounded retries and back-off, request/reply with deadlines."""

from __future__ import annotations

import select
import socket
import time
from dataclasses import dataclass

from rdmacheck.errors import DeadlineExceeded, RdmacheckError
from rdmacheck.faults import Fault
from rdmacheck.handshake import wire
from rdmacheck.handshake.auth import BOUND_KINDS, AuthError, check_reply, nonce_of, sign
from rdmacheck.handshake.address import format_hostport
from rdmacheck.handshake.messages import Accept, InvalidMessage, Message, Ping, Pong, Reject, parse


class PeerRejected(RdmacheckError):
    def __init__(self, reason: str, transient: bool = False):
        super().__init__(f"peer rejected the handshake: {reason}")
        self.reason = reason
        self.transient = transient  # the peer could not connect for now (e.g. the link is down)


class ReplyNotAuthenticated(RdmacheckError):
    """With a token, a reply whose MAC is missing, wrong or bound to another request."""

    finding = "reply-unauthenticated"


class ChannelLost(RdmacheckError):
    """The control connection to the peer closed or stopped answering."""


@dataclass
class Backoff:
    # A refused connect costs one RST: retrying every 50 ms keeps a restarted peer's wait short.
    first: float = 0.02
    cap: float = 0.05
    factor: float = 2.0

    def delays(self):
        d = self.first
        while True:
            yield d
            d = min(self.cap, d * self.factor)


def warm_resolver(host: str, port: int) -> None:
    """Resolve once before a clock starts: a process's first getaddrinfo loads the resolver's
    configuration (23 ms of a 25 ms first connect under the lab's emulation, measured), which a
    restarted initiator would otherwise pay inside its reconnect."""
    try:
        socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
    except OSError:
        pass  # the connect itself reports an address that does not resolve


class Channel:
    def __init__(self, sock: socket.socket, addr: str, key: bytes | None = None):
        self.sock = sock
        self.addr = addr
        self.key = key  # the shared token: every request is signed with it, every reply checked
        self.generation: int | None = None  # the target process's, from a checked reply: what requests are bound to
        self.fault: Fault | None = None  # injected into the next request: handshake-delay:MS | handshake-garble
        self.after_send = None  # called once the next request is on the wire (kill-at:after-handshake-sent)

    @classmethod
    def connect(cls, host: str, port: int, timeout: float, backoff: Backoff | None = None,
                attempts_cb=None, key: bytes | None = None) -> "Channel":
        """Try until `timeout` passes; refusals (peer not up yet) are retried with back-off."""
        addr = format_hostport(host, port)
        deadline = time.monotonic() + timeout
        last = "no attempt"
        tries = 0
        for delay in (backoff or Backoff()).delays():
            tries += 1
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                sock = socket.create_connection((host, port), timeout=min(left, 2.0))
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if attempts_cb:
                    attempts_cb(tries)
                return cls(sock, addr, key)
            except OSError as e:
                last = e.strerror or str(e)
            time.sleep(max(0.0, min(delay, deadline - time.monotonic())))
        raise DeadlineExceeded(f"a handshake connection to {addr} ({tries} attempts; last: {last})", timeout)

    def request(self, msg: Message, timeout: float = 10.0) -> Message:
        deadline = time.monotonic() + timeout
        if self.key and msg.KIND in BOUND_KINDS and self.generation is None:
            self.request(Ping(), timeout)  # learn, from a signed reply, which target process this is
        try:
            envelope = msg.envelope()
            if self.key:
                envelope = sign(self.key, envelope, f"gen:{self.generation}" if msg.KIND in BOUND_KINDS else "")
            fault, self.fault = self.fault, None
            if fault and fault.name == "handshake-delay":
                time.sleep(fault.delay_ms / 1000)
            if fault and fault.name == "handshake-garble":  # a frame the receiver must reject cleanly
                frame = bytearray(wire.encode(envelope))
                for i in range(wire.HEADER.size, len(frame), 7):
                    frame[i] ^= 0x5A
                self.sock.sendall(bytes(frame))
            else:
                wire.send_frame(self.sock, envelope, deadline)
            hook, self.after_send = self.after_send, None
            if hook:
                hook()
            raw = wire.read_frame(self.sock, deadline, what=f"the reply to {msg.KIND} from {self.addr}")
            reply = parse(raw)
            if self.key:
                reply = self._checked(reply, raw, envelope)
        except wire.PeerClosed as e:
            raise ChannelLost(f"{self.addr}: {e}") from None
        except TimeoutError as e:
            raise ChannelLost(f"{self.addr}: {e}") from None
        except (wire.FrameError, InvalidMessage) as e:
            raise RdmacheckError(f"{self.addr} sent an invalid reply to {msg.KIND}: {e}") from None
        except OSError as e:
            raise ChannelLost(f"{self.addr}: {e.strerror or e}") from None
        if isinstance(reply, Reject):
            raise PeerRejected(reply.reason, reply.transient)
        return reply

    def _checked(self, reply: Message, raw: dict, request: dict) -> Message:
        try:
            check_reply(self.key, raw, nonce_of(request) or "")
        except AuthError as e:
            if isinstance(reply, Reject):  # e.g. a full house answers before it reads the request
                return Reject(reason=f"(unauthenticated) {reply.reason}", transient=reply.transient)
            raise ReplyNotAuthenticated(f"{self.addr}: {reply.KIND} refused: {e}") from None
        if isinstance(reply, Pong):
            self.generation = reply.generation
        elif isinstance(reply, Accept):
            self.generation = reply.qp.generation
        return reply

    def closed_within(self, timeout: float) -> bool:
        """True if the peer closed the connection (EOF/reset) within timeout; False if still open."""
        r, _, _ = select.select([self.sock], [], [], timeout)
        if not r:
            return False
        try:
            return self.sock.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
