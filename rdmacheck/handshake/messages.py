"""Handshake messages as dataclasses; every field of every incoming message is validated.

Envelope: {"v": 1, "type": "<kind>", ...fields}. A message that fails validation is answered with
a Reject carrying the reason; unknown extra fields are ignored (newer peers may add some).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rdmacheck.verbs.gid import normalize_gid
from rdmacheck.words import Mode

VERSION = 1
NAME_RE = re.compile(r"^[A-Za-z0-9._:@/-]{1,64}$")
MTUS = (256, 512, 1024, 2048, 4096)
U24, U32, U63, U64 = 1 << 24, 1 << 32, 1 << 63, 1 << 64


class InvalidMessage(ValueError):
    """A message that does not match the protocol; str() is the reason sent back to the peer."""


def _int(lo: int, hi: int, what: str):
    def check(v):
        if type(v) is not int:
            raise InvalidMessage(f"must be an integer ({what}), got {type(v).__name__}")
        if not lo <= v < hi:
            raise InvalidMessage(f"{v} is out of range for {what} [{lo}, {hi})")
        return v
    return check


def _str(regex: re.Pattern, what: str):
    def check(v):
        if not isinstance(v, str) or not regex.match(v):
            raise InvalidMessage(f"must be {what}, got {str(v)[:40]!r}")
        return v
    return check


def _gid(v):
    if not isinstance(v, str) or len(v) > 64:
        raise InvalidMessage("must be a GID string")
    try:
        return normalize_gid(v)
    except ValueError:
        raise InvalidMessage(f"{v[:40]!r} is not a GID") from None


def _mtu(v):
    if type(v) is not int or v not in MTUS:
        raise InvalidMessage(f"must be one of {MTUS}, got {str(v)[:20]}")
    return v


def _bool(v):
    if type(v) is not bool:
        raise InvalidMessage(f"must be true or false, got {str(v)[:20]}")
    return v


def _opt_str(v):
    if v is not None and (not isinstance(v, str) or len(v) > 512):
        raise InvalidMessage("must be a string of at most 512 characters or null")
    return v


def f(check, default=dataclasses.MISSING):
    """A dataclass field with its validator."""
    return field(default=default, metadata={"check": check})


def _nested(cls):
    def check(v):
        if not isinstance(v, dict):
            raise InvalidMessage(f"must be an object ({cls.__name__})")
        return from_dict(cls, v)
    return check


def from_dict(cls, d: dict):
    values = {}
    for fl in dataclasses.fields(cls):
        if fl.name not in d:
            if fl.default is not dataclasses.MISSING:
                values[fl.name] = fl.default
                continue
            raise InvalidMessage(f"{cls.__name__}: field {fl.name!r} is missing")
        try:
            values[fl.name] = fl.metadata["check"](d[fl.name])
        except InvalidMessage as e:
            raise InvalidMessage(f"{cls.__name__}.{fl.name}: {e}") from None
    obj = cls(**values)
    if hasattr(obj, "validate"):
        obj.validate()
    return obj


def to_dict(obj) -> dict:
    return dataclasses.asdict(obj)


@dataclass(frozen=True)
class QPInfo:
    """One side's endpoint: who it is (name + generation) and what RTR needs from it."""
    name: str = f(_str(NAME_RE, "a name of 1-64 letters, digits or ._:@/-"))
    generation: int = f(_int(0, U63, "generation"))
    device: str = f(_str(NAME_RE, "a device name"))
    port: int = f(_int(1, 256, "port"))
    gid: str = f(_gid)
    lid: int = f(_int(0, 1 << 16, "LID"))
    mtu: int = f(_mtu)
    qpn: int = f(_int(1, U24, "QP number"))
    psn: int = f(_int(0, U24, "PSN"))


@dataclass(frozen=True)
class BufferInfo:
    addr: int = f(_int(0, U64, "address"))
    length: int = f(_int(1, U63, "length"))
    rkey: int = f(_int(0, U32, "rkey"))

    def validate(self) -> None:
        if self.addr + self.length > U64:
            raise InvalidMessage(f"BufferInfo: addr {self.addr:#x} + length {self.length} overflows 64 bits")


@dataclass(frozen=True)
class Message:
    KIND: ClassVar[str] = ""

    def envelope(self) -> dict:
        return {"v": VERSION, "type": self.KIND, **to_dict(self)}


WIRE_MODES = (Mode.OOB.value, Mode.CM.value)  # concrete: auto is resolved before a handshake


def _mode(v):
    if not isinstance(v, str) or v not in WIRE_MODES:
        raise InvalidMessage(f"must be one of {WIRE_MODES}, got {str(v)[:20]!r}")
    return v


def _opt_int(lo: int, hi: int, what: str):
    check = _int(lo, hi, what)
    return lambda v: None if v is None else check(v)


@dataclass(frozen=True)
class Connect(Message):
    KIND: ClassVar[str] = "connect"
    qp: QPInfo = f(_nested(QPInfo))
    mode: str = f(_mode, "oob")  # cm: the QPs are connected through rdma_cm after this exchange


@dataclass(frozen=True)
class Accept(Message):
    KIND: ClassVar[str] = "accept"
    qp: QPInfo = f(_nested(QPInfo))
    buffer: BufferInfo = f(_nested(BufferInfo))
    reestablished: bool = f(_bool, False)
    strategy: str | None = f(_opt_str, None)
    cm_addr: str | None = f(_opt_str, None)  # cm mode: where the target's rdma_cm listens, "ip:port"
    cm_token: int | None = f(_opt_int(0, U63, "token"), None)  # cm mode: names this peer in the CM request


@dataclass(frozen=True)
class Verify(Message):
    KIND: ClassVar[str] = "verify"
    seed: int = f(_int(0, U63, "seed"))
    offset: int = f(_int(0, U63, "offset"))
    length: int = f(_int(1, U63, "length"))


@dataclass(frozen=True)
class VerifyResult(Message):
    KIND: ClassVar[str] = "verify_result"
    ok: bool = f(_bool)
    mismatch_offset: int = f(_int(-1, U63, "offset"), -1)
    detail: str | None = f(_opt_str, None)
    ms: int = f(_int(0, U32, "milliseconds"), 0)


@dataclass(frozen=True)
class Ping(Message):
    KIND: ClassVar[str] = "ping"


@dataclass(frozen=True)
class Pong(Message):
    KIND: ClassVar[str] = "pong"
    generation: int = f(_int(0, U63, "generation"))


@dataclass(frozen=True)
class Reject(Message):
    KIND: ClassVar[str] = "reject"
    reason: str = f(_opt_str)
    transient: bool = f(_bool, False)  # the target could not connect for now (path down): try again


@dataclass(frozen=True)
class Open(Message):
    """simopen: the active handshake of one endpoint (`channel`) with the sender's receive buffer."""
    KIND: ClassVar[str] = "open"
    qp: QPInfo = f(_nested(QPInfo))
    channel: int = f(_int(0, 1 << 16, "channel"))
    buffer: BufferInfo = f(_nested(BufferInfo))


@dataclass(frozen=True)
class Opened(Message):
    KIND: ClassVar[str] = "opened"
    qp: QPInfo = f(_nested(QPInfo))
    buffer: BufferInfo = f(_nested(BufferInfo))


@dataclass(frozen=True)
class Barrier(Message):
    """simopen: 'I have reached `stage` of `round`'; the answer says whether the receiver has too."""
    KIND: ClassVar[str] = "barrier"
    stage: str = f(_str(NAME_RE, "a stage name"))
    round: int = f(_int(0, U24, "round"))


@dataclass(frozen=True)
class BarrierState(Message):
    KIND: ClassVar[str] = "barrier_state"
    arrived: bool = f(_bool)
    name: str = f(_str(NAME_RE, "a name of 1-64 letters, digits or ._:@/-"))
    device: str = f(_str(NAME_RE, "a device name"))


KINDS: dict[str, type[Message]] = {c.KIND: c for c in (Connect, Accept, Verify, VerifyResult, Ping, Pong, Reject,
                                                        Open, Opened, Barrier, BarrierState)}


def parse(d: dict[str, Any]) -> Message:
    v = d.get("v")
    if v != VERSION:
        raise InvalidMessage(f"unsupported protocol version {str(v)[:20]}; this rdmacheck speaks version {VERSION}")
    kind = d.get("type")
    cls = KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise InvalidMessage(f"unknown message type {str(kind)[:40]!r}; known: {', '.join(KINDS)}")
    return from_dict(cls, d)
