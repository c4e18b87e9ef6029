"""The handshake listener on real loopback TCP: hostile input gets a Reject, and it keeps serving."""
import socket
import struct
import time

import pytest

from rdmacheck.errors import DeadlineExceeded
from rdmacheck.handshake import wire
from rdmacheck.handshake.client import Channel, PeerRejected
from rdmacheck.handshake.messages import Ping, Pong, Reject, Verify
from rdmacheck.handshake.server import HandshakeServer


class EchoHandler:
    def __init__(self):
        self.closed = []

    def on_message(self, session, msg):
        if isinstance(msg, Ping):
            return Pong(generation=42)
        return Reject(reason=f"no {msg.KIND} here")

    def on_close(self, session, reason):
        self.closed.append(reason)


@pytest.fixture
def server():
    rejects = []
    srv = HandshakeServer("127.0.0.1", 0, EchoHandler(), on_reject=lambda peer, why: rejects.append(why))
    srv.serve_in_background()
    srv.rejects = rejects
    yield srv
    srv.close()


def _raw(server, data: bytes) -> dict | None:
    with socket.create_connection(server.address, timeout=2) as s:
        s.sendall(data)
        try:
            return wire.read_frame(s, time.monotonic() + 2)
        except wire.PeerClosed:
            return None


def _ping_ok(server):
    ch = Channel.connect(*server.address, timeout=2)
    assert ch.request(Ping()) == Pong(generation=42)
    ch.close()


@pytest.mark.parametrize("data,reason", [
    (struct.pack(">I", 10_000_000) + b"x", "exceeds the cap"),
    (struct.pack(">I", 5) + b"garb!", "not UTF-8 JSON"),
    (struct.pack(">I", 2) + b"[]", "JSON object"),
    (wire.encode({"v": 99, "type": "ping"}), "unsupported protocol version"),
    (wire.encode({"v": 1, "type": "connect", "qp": {"qpn": -1}}), "invalid message"),
])
def test_hostile_frames_are_rejected_with_reason_and_server_keeps_serving(server, data, reason):
    reply = _raw(server, data)
    assert reply is not None and reply["type"] == "reject" and reason in reply["reason"]
    assert any(reason in r for r in server.rejects)
    _ping_ok(server)


def test_handler_reject_reaches_client_as_peer_rejected(server):
    ch = Channel.connect(*server.address, timeout=2)
    with pytest.raises(PeerRejected, match="no verify here"):
        ch.request(Verify(seed=1, offset=0, length=1))


def test_connect_to_nothing_fails_within_deadline_naming_address():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    with pytest.raises(DeadlineExceeded, match=f"127.0.0.1:{port}.*attempts"):
        Channel.connect("127.0.0.1", port, timeout=0.5)
    assert time.monotonic() - t0 < 2


def test_peer_close_is_noticed():
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)
    ch = Channel.connect(*lst.getsockname(), timeout=2)
    conn, _ = lst.accept()
    assert not ch.closed_within(0.05)
    conn.close()
    assert ch.closed_within(1.0)
    lst.close()


def test_with_a_token_unsigned_wrong_and_replayed_requests_are_refused():
    from rdmacheck.handshake.auth import Verifier, sign

    key = b"a-shared-secret-token"
    rejects = []
    srv = HandshakeServer("127.0.0.1", 0, EchoHandler(), on_reject=lambda peer, why: rejects.append(why),
                          verifier=Verifier(key))
    srv.serve_in_background()
    try:
        with pytest.raises(PeerRejected, match="requires a token"):
            Channel.connect(*srv.address, timeout=2).request(Ping())
        with pytest.raises(PeerRejected, match="wrong token"):
            Channel.connect(*srv.address, timeout=2, key=b"not-the-right-token!").request(Ping())
        signed = sign(key, Ping().envelope())
        assert _raw(srv, wire.encode(signed))["type"] == "pong"
        replay = _raw(srv, wire.encode(signed))
        assert replay["type"] == "reject" and "replayed" in replay["reason"]
        assert Channel.connect(*srv.address, timeout=2, key=key).request(Ping()) == Pong(generation=42)
        assert len(rejects) == 3 and all(r.startswith("refused: ") for r in rejects)
    finally:
        srv.close()
