"""With a token, replies are authenticated too, and state-changing requests are bound to the target
process: a forged or replayed reply is a finding, a message replayed to a restarted target fails.
On real loopback TCP."""
import socket
import threading
import time

import pytest

from rdmacheck.handshake import wire
from rdmacheck.handshake.auth import Verifier, sign
from rdmacheck.handshake.client import Channel, PeerRejected, ReplyNotAuthenticated
from rdmacheck.handshake.messages import Ping, Pong, Verify, VerifyResult
from rdmacheck.handshake.server import HandshakeServer

KEY = b"a-shared-secret-token"


class VerifyingHandler:
    def __init__(self, generation: int):
        self.generation = generation

    def on_message(self, session, msg):
        if isinstance(msg, Ping):
            return Pong(generation=self.generation)
        return VerifyResult(ok=False, mismatch_offset=0, detail="nothing written", ms=0)

    def on_close(self, session, reason):
        pass


def _target(generation: int):
    rejects = []
    srv = HandshakeServer("127.0.0.1", 0, VerifyingHandler(generation), verifier=Verifier(KEY, generation),
                          on_reject=lambda p, why: rejects.append(why))
    srv.serve_in_background()
    srv.rejects = rejects
    return srv


class Impostor:
    """Answers every frame with what `reply(request)` returns: what someone on the path could send."""

    def __init__(self, reply):
        self.reply = reply
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.address = self.sock.getsockname()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                try:
                    while True:
                        req = wire.read_frame(conn, time.monotonic() + 3)
                        conn.sendall(wire.encode(self.reply(req)))
                except (wire.FrameError, TimeoutError, OSError):
                    pass

    def close(self):
        self.sock.close()


def test_a_forged_verify_result_is_refused_not_a_pass():
    forged = Impostor(lambda req: Pong(generation=7).envelope() if req["type"] == "ping"
                      else VerifyResult(ok=True, ms=0).envelope())
    try:
        ch = Channel.connect(*forged.address, timeout=2, key=KEY)
        with pytest.raises(ReplyNotAuthenticated) as e:
            ch.request(Verify(seed=1, offset=0, length=64))
        assert e.value.finding == "reply-unauthenticated"
    finally:
        forged.close()


def test_a_genuine_reply_replayed_for_another_request_is_refused():
    real = _target(11)
    try:
        ch = Channel.connect(*real.address, timeout=2, key=KEY)
        first = sign(KEY, Verify(seed=1, offset=0, length=64).envelope(), "gen:11")
        with socket.create_connection(real.address, timeout=2) as s:  # what someone on the path recorded
            s.sendall(wire.encode(sign(KEY, Ping().envelope())))
            wire.read_frame(s, time.monotonic() + 2)
            s.sendall(wire.encode(first))
            captured = wire.read_frame(s, time.monotonic() + 2)
        assert captured["type"] == "verify_result"
        ch.close()
    finally:
        real.close()
    replayer = Impostor(lambda req: captured if req["type"] == "verify" else
                        Verifier(KEY).sign_reply(Pong(generation=11).envelope(), req))
    try:
        ch = Channel.connect(*replayer.address, timeout=2, key=KEY)
        with pytest.raises(ReplyNotAuthenticated, match="forged or replayed"):
            ch.request(Verify(seed=2, offset=0, length=64))
    finally:
        replayer.close()


def test_a_request_captured_from_one_target_process_is_refused_by_its_restarted_successor():
    old, new = _target(100), _target(200)
    try:
        ch = Channel.connect(*old.address, timeout=2, key=KEY)
        assert isinstance(ch.request(Verify(seed=1, offset=0, length=64)), VerifyResult)  # bound to gen:100
        captured = sign(KEY, Verify(seed=1, offset=0, length=64).envelope(), "gen:100")
        with socket.create_connection(new.address, timeout=2) as s:
            s.sendall(wire.encode(captured))
            reply = wire.read_frame(s, time.monotonic() + 2)
        assert reply["type"] == "reject" and "bound to another target process" in reply["reason"], reply
        assert any("gen:100" in r for r in new.rejects)
        fresh = Channel.connect(*new.address, timeout=2, key=KEY)  # learns gen:200 from a signed Pong
        assert isinstance(fresh.request(Verify(seed=1, offset=0, length=64)), VerifyResult)
        assert fresh.generation == 200
    finally:
        old.close()
        new.close()


def test_an_unauthenticated_reject_is_still_a_rejection_marked_as_such():
    liar = Impostor(lambda req: {"v": 1, "type": "reject", "reason": "go away", "transient": False})
    try:
        with pytest.raises(PeerRejected, match=r"\(unauthenticated\) go away"):
            Channel.connect(*liar.address, timeout=2, key=KEY).request(Ping())
    finally:
        liar.close()
