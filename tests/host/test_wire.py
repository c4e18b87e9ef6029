import socket
import struct
import time

import pytest

from rdmacheck.handshake import wire


def _pair():
    a, b = socket.socketpair()
    return a, b


def test_roundtrip():
    a, b = _pair()
    wire.send_frame(a, {"v": 1, "type": "ping"}, time.monotonic() + 1)
    assert wire.read_frame(b, time.monotonic() + 1) == {"v": 1, "type": "ping"}


def test_declared_length_over_cap_is_rejected_before_reading_body():
    a, b = _pair()
    a.sendall(struct.pack(">I", 1 << 31))
    with pytest.raises(wire.FrameError, match="exceeds the cap"):
        wire.read_frame(b, time.monotonic() + 1)


@pytest.mark.parametrize("body,match", [
    (b"\xff\xfe", "not UTF-8 JSON"),
    (b"[1,2]", "JSON object"),
    (b"{" * 5 + b"}" * 5, "not UTF-8 JSON"),
    (b'{"a":{"b":{"c":{"d":{"e":{"f":{"g":{"h":{"i":1}}}}}}}}}', "nests deeper"),
])
def test_bad_bodies(body, match):
    a, b = _pair()
    a.sendall(struct.pack(">I", len(body)) + body)
    with pytest.raises(wire.FrameError, match=match):
        wire.read_frame(b, time.monotonic() + 1)


def test_truncated_frame_reports_peer_closed_with_progress():
    a, b = _pair()
    a.sendall(struct.pack(">I", 100) + b'{"v":')
    a.close()
    with pytest.raises(wire.PeerClosed, match="after 5 of 100 bytes"):
        wire.read_frame(b, time.monotonic() + 1)


def test_silence_times_out_naming_what_was_awaited():
    a, b = _pair()
    t0 = time.monotonic()
    with pytest.raises(TimeoutError, match="the reply to connect"):
        wire.read_frame(b, time.monotonic() + 0.2, what="the reply to connect")
    assert time.monotonic() - t0 < 2


def test_encode_refuses_oversized():
    with pytest.raises(wire.FrameError):
        wire.encode({"x": "a" * (wire.MAX_FRAME + 1)})
