"""Mooncake's handshake framing and messages (pure logic; the real engine is in tests/lab)."""
import socket
import struct
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st

from rdmacheck.handshake.messages import InvalidMessage
from rdmacheck.handshake.wire import FrameError
from rdmacheck.mooncake import wire
from rdmacheck.mooncake.messages import ConnectionDesc, SegmentDesc, split_nic_path
from rdmacheck.verbs.gid import byte_gid

# What a real engine (0.3.13.post1, lab, rxe0) sent when asked to write to an unknown segment.
CAPTURED = (Path(__file__).parent / "data" / "mooncake_metadata_request.bin").read_bytes()


def test_a_captured_engine_metadata_request_decodes():
    (length,) = struct.unpack("<Q", CAPTURED[:8])
    assert length == len(CAPTURED) - 8  # the length counts the type byte and the text with its newline
    kind, obj = wire.decode(CAPTURED[8:])
    assert kind == wire.METADATA
    seg = SegmentDesc.from_json(obj)
    assert seg.name == "169.254.30.1:15539" and seg.protocol == "rdma"
    assert [d.name for d in seg.devices] == ["rxe0"] and seg.devices[0].gid.endswith("a9fe:1e01")
    assert seg.buffers[0].length == 1 << 20 and seg.buffers[0].rkey == [980]
    assert seg.problems() == []
    assert seg.buffer_at(seg.buffers[0].addr + 4096, 4096) is seg.buffers[0]
    with pytest.raises(InvalidMessage, match="no buffer"):
        seg.buffer_at(seg.buffers[0].end - 10, 64)


def test_encode_matches_the_engines_framing():
    data = wire.encode(wire.CONNECTION, {"a": 1})
    assert data == struct.pack("<Q", 9) + b'\x00{"a":1}\n'
    assert wire.decode(data[8:]) == (wire.CONNECTION, {"a": 1})
    assert wire.decode(b"\x01\n") == (wire.METADATA, {})  # an empty text is an empty descriptor


def test_gids_are_spelled_as_16_bytes_for_the_engine():
    assert byte_gid("::ffff:169.254.30.1") == "00:00:00:00:00:00:00:00:00:00:ff:ff:a9:fe:1e:01"


def _serve_bytes(payload: bytes) -> int:
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)

    def one():
        conn, _ = srv.accept()
        with conn:
            conn.recv(65536)
            conn.sendall(payload)
        srv.close()
    threading.Thread(target=one, daemon=True).start()
    return srv.getsockname()[1]


def test_a_huge_declared_length_is_refused_before_reading_it():
    port = _serve_bytes(struct.pack("<Q", 1 << 40) + b"\x01")
    t0 = time.monotonic()
    with pytest.raises(FrameError, match="outside"):
        wire.request("127.0.0.1", port, wire.METADATA, {}, 2.0)
    assert time.monotonic() - t0 < 1.5


def test_a_reply_of_another_type_is_refused():
    port = _serve_bytes(wire.encode(wire.PROBE, {"status": "success"}))
    with pytest.raises(FrameError, match="answered a metadata request with a probe"):
        wire.request("127.0.0.1", port, wire.METADATA, {}, 2.0)


def test_a_truncated_reply_names_what_was_missing():
    port = _serve_bytes(struct.pack("<Q", 50) + b"\x00{")
    with pytest.raises(FrameError, match="closed the connection after 2 of 50"):
        wire.request("127.0.0.1", port, wire.CONNECTION, {}, 2.0)


def test_connection_message_validation():
    ok = {"local_nic_path": "10.0.0.1:1@rxe0", "peer_nic_path": "10.0.0.2:2@rxe0", "qp_num": [17, 18],
          "local_gid": "00:00:00:00:00:00:00:00:00:00:ff:ff:0a:00:00:01", "local_lid": 0, "payload": "",
          "reply_msg": "", "ready_ack": False}
    c = ConnectionDesc.from_json(ok)
    assert c.qp_num == [17, 18] and c.ready_ack is False
    legacy = dict(ok)
    del legacy["ready_ack"]
    c = ConnectionDesc.from_json(legacy)
    assert c.ready_ack is None and "ready_ack" not in c.to_json()  # a legacy peer: no ACK expected
    for bad, why in (({"qp_num": [1 << 24]}, "out of range"), ({"qp_num": [0]}, "out of range"),
                     ({"local_gid": "zz"}, "not a GID"), ({"ready_ack": "yes"}, "true or false"),
                     ({"qp_num": "17"}, "must be list"), ({"local_lid": True}, "must be int")):
        with pytest.raises(InvalidMessage, match=why):
            ConnectionDesc.from_json({**ok, **bad})
    assert split_nic_path("10.0.0.1:15370@rxe0") == ("10.0.0.1:15370", "rxe0")
    with pytest.raises(InvalidMessage):
        split_nic_path("10.0.0.1:15370")


def test_descriptor_problems_an_operator_should_see():
    seg = SegmentDesc.from_json({
        "name": "e", "protocol": "tcp",
        "devices": [{"name": "mlx5_0", "lid": 0, "gid": "::"}],
        "buffers": [{"name": "a", "addr": 4096, "length": 8192, "rkey": [1], "lkey": [1]},
                    {"name": "b", "addr": 8192, "length": 4096, "rkey": [], "lkey": []}]})
    problems = " | ".join(seg.problems(local_devices=["rxe0"]))
    for expected in ("not 'rdma'", "GID is zero", "not present on this host", "overlap", "0 rkeys for 1 devices"):
        assert expected in problems, problems


def test_descriptor_fields_are_validated():
    for bad, why in (({"buffers": [{"addr": -1, "length": 1}]}, "unsigned 64-bit"),
                     ({"buffers": [{"addr": 1, "length": 1 << 64}]}, "unsigned 64-bit"),
                     ({"devices": ["rxe0"]}, "must be an object"), ({"devices": [{"name": "x", "gid": "nope"}]}, "GID")):
        with pytest.raises(InvalidMessage, match=why):
            SegmentDesc.from_json({"name": "e", **bad})


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=1, max_size=300))
def test_decoding_random_bytes_is_a_message_or_a_frame_error(data):
    try:
        kind, obj = wire.decode(data)
    except FrameError:
        return
    assert kind in wire.KINDS and isinstance(obj, dict)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=10), c, max_size=4),
                    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["name", "devices", "buffers", "qp_num", "local_gid", "ready_ack",
                                        "local_nic_path", "protocol", "local_lid"]), JSON, max_size=6))
def test_random_messages_are_parsed_or_rejected_cleanly(obj):
    for cls in (SegmentDesc, ConnectionDesc):
        try:
            cls.from_json(obj)
        except InvalidMessage:
            pass


def test_the_mooncake_peer_serves_a_bounded_number_of_connections_at_once(monkeypatch):
    """Its listener used to start a thread for every connection, without limit."""
    import socket
    import threading
    import time

    from rdmacheck.mooncake import peer as mp

    monkeypatch.setattr(mp, "MAX_CONNECTION_THREADS", 2)
    p = object.__new__(mp.MooncakePeer)  # the listener alone: no device needed for this
    events, release = [], threading.Event()
    p.emit = lambda kind, **f: events.append((kind, f))
    p.threads = threading.BoundedSemaphore(mp.MAX_CONNECTION_THREADS)
    p._serve_conn = lambda conn, addr: (release.wait(5), conn.close())
    p.sock = socket.create_server(("127.0.0.1", 0))
    p.sock.listen(16)
    threading.Thread(target=p._accept_loop, daemon=True).start()
    held = [socket.create_connection(p.sock.getsockname(), timeout=2) for _ in range(2)]
    try:
        time.sleep(0.2)
        with socket.create_connection(p.sock.getsockname(), timeout=2) as extra:
            assert extra.recv(1) == b""  # closed at once: the cap is reached
        assert events and events[-1][0] == "handshake_rejected" and "cap 2" in events[-1][1]["reason"]
    finally:
        release.set()
        for s in held:
            s.close()
        p.sock.close()
