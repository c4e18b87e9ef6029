"""Property-based hostile input: the frame decoder and message validation never crash, never
allocate what a length field claims, and always end in a clean rejection.

Examples per test: the hypothesis profile "ci" (default, small; tests/conftest.py) or "bench"
(benchmarks/fuzz_handshake.py: 100k+ cases in all)."""
import socket
import struct
import time

from hypothesis import given
from hypothesis import strategies as st

from rdmacheck.handshake import wire
from rdmacheck.handshake.messages import InvalidMessage, Message, parse


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(1 << 70), max_value=1 << 70) | st.floats() |
    st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=6),
    max_leaves=30)

VALID_QP = {"name": "init", "generation": 1, "device": "rxe0", "port": 1, "gid": "::ffff:127.0.0.1", "lid": 0,
            "mtu": 1024, "qpn": 17, "psn": 1}


@given(st.binary(max_size=2048))
def test_decode_body_of_random_bytes_is_a_dict_or_a_frame_error(data):
    try:
        assert isinstance(wire.decode_body(data), dict)
    except wire.FrameError:
        pass


@given(st.integers(min_value=0, max_value=(1 << 32) - 1), st.binary(max_size=512))
def test_read_frame_with_any_header_is_bounded_and_clean(declared, body):
    a, b = socket.socketpair()
    try:
        a.sendall(struct.pack(">I", declared) + body[: min(len(body), declared)])
        a.shutdown(socket.SHUT_WR)
        try:
            assert isinstance(wire.read_frame(b, time.monotonic() + 1), dict)
        except (wire.FrameError, TimeoutError):
            pass  # PeerClosed is a FrameError
    finally:
        a.close()
        b.close()


@given(st.dictionaries(st.text(max_size=12), json_values, max_size=8))
def test_parse_any_object_is_a_message_or_a_reason(obj):
    try:
        assert isinstance(parse(obj), Message)
    except InvalidMessage as e:
        assert str(e)


@given(st.sampled_from(sorted(VALID_QP)), json_values)
def test_a_connect_with_one_field_replaced_is_valid_or_rejected_with_that_field_named(key, value):
    msg = {"v": 1, "type": "connect", "qp": {**VALID_QP, key: value}}
    try:
        parse(msg)
    except InvalidMessage as e:
        assert key in str(e)


@given(st.integers(), st.integers(), st.integers())
def test_buffer_ranges_are_checked(addr, length, rkey):
    msg = {"v": 1, "type": "accept", "qp": VALID_QP, "buffer": {"addr": addr, "length": length, "rkey": rkey}}
    try:
        m = parse(msg)
    except InvalidMessage:
        return
    assert 0 <= m.buffer.addr and 0 < m.buffer.length and m.buffer.addr + m.buffer.length <= 1 << 64
    assert 0 <= m.buffer.rkey < 1 << 32


# What json.loads accepts but a handshake must not, and what breaks a decoder that recurses:
# deep nesting, huge and non-finite numbers, duplicate keys, lone surrogates, invalid UTF-8,
# every truncation of a valid frame. Each is spliced into an otherwise valid Connect.
VALID_CONNECT = wire.encode({"v": 1, "type": "connect", "qp": VALID_QP})[wire.HEADER.size:]
hostile_values = st.one_of(
    st.integers(min_value=1, max_value=20_000).map(lambda d: b"[" * d + b"]" * d),
    st.integers(min_value=1, max_value=20_000).map(lambda d: b'{"a":' * d + b"1" + b"}" * d),
    st.sampled_from([b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e999", b"1E+309"]),
    st.integers(min_value=21, max_value=6000).map(lambda n: b"-" + b"9" * n),
    st.integers(min_value=0xD800, max_value=0xDFFF).map(lambda c: b'"\\u%04x"' % c),
    st.binary(min_size=1, max_size=8).filter(lambda b: not _utf8(b)).map(lambda b: b'"' + b + b'"'),
)


def _utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


@given(st.sampled_from(["qp", "type", "v", "extra"]), hostile_values, st.booleans())
def test_hostile_json_is_a_frame_error_or_a_reason_never_a_crash(key, value, duplicate):
    body = VALID_CONNECT[:-1] + b',"' + key.encode() + b'":' + value + b"}"
    if duplicate:
        body = body[:-1] + b',"' + key.encode() + b'":1}'
    try:
        obj = wire.decode_body(body)
    except wire.FrameError as e:
        assert str(e)
        return
    try:
        parse(obj)
    except InvalidMessage as e:
        assert str(e)


@given(st.integers(min_value=0, max_value=len(VALID_CONNECT) - 1))
def test_every_truncation_of_a_valid_body_is_a_frame_error(cut):
    try:
        wire.decode_body(VALID_CONNECT[:cut])
    except wire.FrameError:
        return
    raise AssertionError(f"a body cut at {cut} decoded")
