import pytest

from rdmacheck.handshake.messages import (Accept, BufferInfo, Connect, InvalidMessage, Ping, QPInfo, Verify,
                                          VerifyResult, parse)

QP = dict(name="init-1", generation=17, device="rxe0", port=1, gid="::ffff:127.0.0.1", lid=0, mtu=1024,
          qpn=0x11, psn=5)


def env(kind, **fields):
    return {"v": 1, "type": kind, **fields}


def test_connect_roundtrip_normalizes_gid():
    m = parse(env("connect", qp=QP))
    assert isinstance(m, Connect)
    assert m.qp.gid == "0000:0000:0000:0000:0000:ffff:7f00:0001"
    assert parse(m.envelope()) == m


def test_accept_roundtrip():
    a = Accept(qp=QPInfo(**{**QP, "gid": "0000:0000:0000:0000:0000:ffff:7f00:0001"}),
               buffer=BufferInfo(addr=4096, length=1 << 20, rkey=7), reestablished=True, strategy="reset")
    assert parse(a.envelope()) == a


@pytest.mark.parametrize("patch,match", [
    ({"qpn": 1 << 24}, "out of range for QP number"),
    ({"qpn": 0}, "out of range"),
    ({"psn": -1}, "out of range for PSN"),
    ({"qpn": True}, "must be an integer"),
    ({"qpn": "17"}, "must be an integer"),
    ({"mtu": 1500}, "must be one of"),
    ({"gid": "not-a-gid"}, "is not a GID"),
    ({"name": ""}, "must be a name"),
    ({"name": "a" * 65}, "must be a name"),
    ({"name": "bad name"}, "must be a name"),
    ({"port": 0}, "out of range for port"),
    ({"generation": 1 << 63}, "out of range for generation"),
])
def test_qpinfo_field_validation(patch, match):
    with pytest.raises(InvalidMessage, match=match):
        parse(env("connect", qp={**QP, **patch}))


def test_missing_field_is_named():
    qp = dict(QP)
    del qp["psn"]
    with pytest.raises(InvalidMessage, match="field 'psn' is missing"):
        parse(env("connect", qp=qp))


def test_buffer_overflow_and_negative_length():
    base = dict(qp={**QP}, reestablished=False)
    with pytest.raises(InvalidMessage, match="overflows 64 bits"):
        parse(env("accept", buffer={"addr": (1 << 64) - 10, "length": 11, "rkey": 1}, **base))
    with pytest.raises(InvalidMessage, match="out of range for length"):
        parse(env("accept", buffer={"addr": 0, "length": -5, "rkey": 1}, **base))
    with pytest.raises(InvalidMessage, match="out of range for rkey"):
        parse(env("accept", buffer={"addr": 0, "length": 5, "rkey": 1 << 32}, **base))


def test_version_and_type_are_checked():
    with pytest.raises(InvalidMessage, match="unsupported protocol version 2"):
        parse({"v": 2, "type": "ping"})
    with pytest.raises(InvalidMessage, match="unsupported protocol version"):
        parse({"type": "ping"})
    with pytest.raises(InvalidMessage, match="unknown message type 'hello'"):
        parse({"v": 1, "type": "hello"})
    with pytest.raises(InvalidMessage, match="unknown message type"):
        parse({"v": 1, "type": ["ping"]})


def test_small_messages():
    assert parse(env("ping")) == Ping()
    assert parse(env("verify", seed=1, offset=0, length=10)) == Verify(1, 0, 10)
    assert parse(env("verify_result", ok=False, mismatch_offset=3, detail="x")).mismatch_offset == 3
    with pytest.raises(InvalidMessage):
        parse(env("verify_result", ok="yes"))
    assert VerifyResult(ok=True).envelope()["ok"] is True


def test_unknown_extra_fields_are_ignored():
    assert isinstance(parse(env("ping", extra={"future": 1})), Ping)
