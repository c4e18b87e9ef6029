"""Mooncake's segment descriptor and connection message, validated field by field."""

from __future__ import annotations

import datetime
from dataclasses import asdict, dataclass, field

from rdmacheck.handshake.messages import U24, U64, InvalidMessage
from rdmacheck.verbs.gid import is_zero_gid, normalize_gid


def _get(obj: dict, key: str, kind: type | tuple, what: str, default=None):
    v = obj.get(key, default)
    if v is None and default is None and key not in obj:
        raise InvalidMessage(f"{what}: missing {key!r}")
    if not isinstance(v, kind) or (kind is int and isinstance(v, bool)):
        raise InvalidMessage(f"{what}: {key!r} must be {getattr(kind, '__name__', kind)}, got {type(v).__name__}")
    return v


def _u64(v, what: str) -> int:
    if type(v) is not int or not 0 <= v < U64:
        raise InvalidMessage(f"{what} must be an unsigned 64-bit integer, got {str(v)[:30]}")
    return v


def _gid(v: str, what: str) -> str:
    try:
        return normalize_gid(v)
    except (ValueError, AttributeError):
        raise InvalidMessage(f"{what}: {str(v)[:50]!r} is not a GID") from None


@dataclass
class DeviceDesc:
    name: str
    lid: int
    gid: str


@dataclass
class BufferDesc:
    name: str
    addr: int
    length: int
    rkey: list[int]
    lkey: list[int]

    @property
    def end(self) -> int:
        return self.addr + self.length


@dataclass
class SegmentDesc:
    """What `mooncake/ram/<name>` holds and what a Metadata message carries."""
    name: str
    devices: list[DeviceDesc]
    buffers: list[BufferDesc]
    protocol: str = "rdma"
    priority_matrix: dict = field(default_factory=dict)
    tcp_data_port: int = 0
    tcp_proto_version: int = 1
    timestamp: str = ""

    @classmethod
    def from_json(cls, obj: dict) -> "SegmentDesc":
        what = "segment descriptor"
        devices = []
        for d in _get(obj, "devices", list, what, []):
            if not isinstance(d, dict):
                raise InvalidMessage(f"{what}: a device must be an object")
            devices.append(DeviceDesc(_get(d, "name", str, "device"), _get(d, "lid", int, "device", 0),
                                      _gid(_get(d, "gid", str, "device"), "device gid")))
        buffers = []
        for b in _get(obj, "buffers", list, what, []):
            if not isinstance(b, dict):
                raise InvalidMessage(f"{what}: a buffer must be an object")
            keys = {k: [_u64(x, f"buffer {k}") for x in _get(b, k, list, "buffer", [])] for k in ("rkey", "lkey")}
            buffers.append(BufferDesc(_get(b, "name", str, "buffer", ""), _u64(b.get("addr"), "buffer addr"),
                                      _u64(b.get("length"), "buffer length"), keys["rkey"], keys["lkey"]))
        return cls(name=_get(obj, "name", str, what, ""), devices=devices, buffers=buffers,
                   protocol=_get(obj, "protocol", str, what, ""),
                   priority_matrix=_get(obj, "priority_matrix", dict, what, {}),
                   tcp_data_port=_get(obj, "tcp_data_port", int, what, 0),
                   tcp_proto_version=_get(obj, "tcp_proto_version", int, what, 1),
                   timestamp=str(obj.get("timestamp", "")))

    def to_json(self) -> dict:
        return asdict(self)

    def device_index(self, name: str) -> int:
        for i, d in enumerate(self.devices):
            if d.name == name:
                return i
        raise InvalidMessage(f"segment {self.name!r} has no device {name!r} (has {[d.name for d in self.devices]})")

    def buffer_at(self, addr: int, length: int) -> BufferDesc:
        for b in self.buffers:
            if b.addr <= addr and addr + length <= b.end:
                return b
        raise InvalidMessage(f"segment {self.name!r} has no buffer holding [{addr:#x}, +{length})")

    def problems(self, local_devices: list[str] | None = None) -> list[str]:
        """What an operator should fix: zero GIDs, missing devices, overlapping buffers, key counts."""
        out = []
        if self.protocol != "rdma":
            out.append(f"protocol is {self.protocol!r}, not 'rdma' (the engine fell back: no RDMA device?)")
        if not self.devices:
            out.append("no devices")
        for d in self.devices:
            if is_zero_gid(d.gid):
                out.append(f"device {d.name}: GID is zero (no usable GID; set MC_GID_INDEX?)")
            if local_devices is not None and d.name not in local_devices:
                out.append(f"device {d.name}: not present on this host ({', '.join(local_devices) or 'no devices'})")
        spans = sorted(self.buffers, key=lambda b: b.addr)
        for a, b in zip(spans, spans[1:]):
            if b.addr < a.end:
                out.append(f"buffers {a.name}@{a.addr:#x} and {b.name}@{b.addr:#x} overlap")
        for b in self.buffers:
            if len(b.rkey) != len(self.devices):
                out.append(f"buffer {b.name}@{b.addr:#x}: {len(b.rkey)} rkeys for {len(self.devices)} devices")
        return out


def now_stamp() -> str:
    return datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S.%f")


@dataclass
class ConnectionDesc:
    """A Connection message (request or reply). A non-empty reply_msg is a rejection."""
    local_nic_path: str
    peer_nic_path: str
    qp_num: list[int]
    local_gid: str
    local_lid: int = 0
    payload: str = ""
    reply_msg: str = ""
    ready_ack: bool | None = False  # None: a legacy peer that omits the key (sends no ACK)

    @classmethod
    def from_json(cls, obj: dict) -> "ConnectionDesc":
        what = "connection message"
        qpns = _get(obj, "qp_num", list, what, [])
        for q in qpns:
            if type(q) is not int or not 0 < q < U24:
                raise InvalidMessage(f"{what}: QP number {str(q)[:20]} is out of range (0, 2^24)")
        ack = obj.get("ready_ack")
        if ack is not None and not isinstance(ack, bool):
            raise InvalidMessage(f"{what}: 'ready_ack' must be true or false")
        gid = _get(obj, "local_gid", str, what, "")
        return cls(local_nic_path=_get(obj, "local_nic_path", str, what, ""),
                   peer_nic_path=_get(obj, "peer_nic_path", str, what, ""), qp_num=qpns,
                   local_gid=_gid(gid, "local_gid") if gid else "", local_lid=_get(obj, "local_lid", int, what, 0),
                   payload=_get(obj, "payload", str, what, ""), reply_msg=_get(obj, "reply_msg", str, what, ""),
                   ready_ack=ack)

    def to_json(self) -> dict:
        d = asdict(self)
        if self.ready_ack is None:
            del d["ready_ack"]
        return d


def split_nic_path(path: str) -> tuple[str, str]:
    """'server_name@device' -> (server_name, device)."""
    server, sep, device = path.rpartition("@")
    if not sep or not server or not device:
        raise InvalidMessage(f"NIC path {path[:80]!r} is not 'server_name@device'")
    return server, device
