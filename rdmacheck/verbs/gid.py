"""GID strings: parsing, the IP address a RoCE GID carries, and which GID to use by default."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, asdict


@dataclass(frozen=True)
class GidEntry:
    index: int
    gid: str  # "0000:0000:0000:0000:0000:ffff:7f00:0001"
    type: str  # "IB" | "RoCE v1" | "RoCE v2" | "iWARP" | "?"
    netdev: str | None = None
    ip: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def normalize_gid(text: str) -> str:
    """Accept any IPv6 spelling (or 16 colon-separated bytes) and return pyverbs' 8-group form."""
    t = text.strip()
    if t.count(":") == 15:  # Mooncake-style "00:00:...:01"
        raw = bytes(int(b, 16) for b in t.split(":"))
    else:
        raw = ipaddress.IPv6Address(t).packed
    return ":".join(raw[i:i + 2].hex() for i in range(0, 16, 2))


def byte_gid(gid: str) -> str:
    """16 colon-separated bytes, the spelling Mooncake requires ("00:00:...:ff:ff:0a:4d:00:01")."""
    return ":".join(f"{b:02x}" for b in bytes.fromhex(normalize_gid(gid).replace(":", "")))


def is_zero_gid(gid: str) -> bool:
    return ipaddress.IPv6Address(gid).packed == bytes(16)


def gid_ip(gid: str) -> str | None:
    """The IP address a RoCE GID is built from: IPv4-mapped -> a.b.c.d, else the IPv6 address."""
    try:
        addr = ipaddress.IPv6Address(gid)
    except ValueError:
        return None
    if addr.packed == bytes(16):
        return None
    if addr.ipv4_mapped:
        return str(addr.ipv4_mapped)
    return str(addr)


def default_gid(entries: list[GidEntry]) -> GidEntry | None:
    """RoCE v2 with an IPv4 address first, then any RoCE v2 with an IP, then any non-zero GID."""
    live = [e for e in entries if not is_zero_gid(e.gid)]
    ranked = sorted(live, key=lambda e: (
        0 if e.type == "RoCE v2" and e.ip and "." in e.ip else
        1 if e.type == "RoCE v2" and e.ip else
        2 if e.type in ("IB", "iWARP") else 3,
        e.index))
    return ranked[0] if ranked else None
