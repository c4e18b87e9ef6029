"""What `rdma link` and `ip addr` print, asked of the kernel over netlink in this process: a device
port's netdev (the only source for iWARP, which has no GID netdevs) and a netdev's addresses. Each
of the two commands cost a role ~60 ms of emulated CPU in the lab guest at every start."""

from __future__ import annotations

import socket
import struct

NETLINK_RDMA = 20
NLM_F_REQUEST, NLM_F_DUMP = 0x1, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3
RDMA_NL_NLDEV = 5
NLDEV_CMD_GET, NLDEV_CMD_PORT_GET = 1, 5
NLDEV_ATTR_DEV_INDEX, NLDEV_ATTR_DEV_NAME, NLDEV_ATTR_PORT_INDEX, NLDEV_ATTR_NDEV_NAME = 1, 2, 3, 51
RTM_GETADDR = 22
IFA_ADDRESS, IFA_LOCAL = 1, 2
HEADER = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, sequence, port id
IFADDRMSG = struct.Struct("=BBBBI")  # family, prefix length, flags, scope, interface index
TIMEOUT_S = 5.0


class NetlinkError(OSError):
    """The kernel refused a request (its errno), or its answer did not parse."""


def _attrs(data: bytes) -> dict[int, bytes]:
    out, i = {}, 0
    while i + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, i)
        if length < 4:
            raise NetlinkError("a netlink attribute shorter than its header")
        out[kind & 0x3FFF] = data[i + 4:i + length]  # without the nested / byte-order flags
        i += (length + 3) & ~3
    return out


def _attr(kind: int, value: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(value), kind) + value
    return raw + b"\0" * (-len(raw) % 4)


def _ask(proto: int, kind: int, flags: int, body: bytes, fixed: int = 0) -> list[tuple[bytes, dict[int, bytes]]]:
    """One request; every answer: its `fixed` bytes of family header, and its attributes."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, proto) as s:
        s.settimeout(TIMEOUT_S)
        s.bind((0, 0))
        s.send(HEADER.pack(HEADER.size + len(body), kind, NLM_F_REQUEST | flags, 1, 0) + body)
        answers = []
        while True:
            data = s.recv(1 << 16)
            i = 0
            while i + HEADER.size <= len(data):
                length, mtype, _, _, _ = HEADER.unpack_from(data, i)
                if length < HEADER.size:
                    raise NetlinkError("a netlink message shorter than its header")
                payload = data[i + HEADER.size:i + length]
                if mtype == NLMSG_DONE:
                    return answers
                if mtype == NLMSG_ERROR:
                    errno = -struct.unpack_from("=i", payload)[0]
                    if errno:
                        raise NetlinkError(errno, f"netlink request {kind} refused")
                    return answers
                answers.append((payload[:fixed], _attrs(payload[fixed:])))
                i += (length + 3) & ~3
            if not flags & NLM_F_DUMP and answers:
                return answers


def _parsed(fn):
    """A malformed answer (a missing attribute, a short field) is a NetlinkError like a refused one."""
    def wrapper(*args):
        try:
            return fn(*args)
        except (KeyError, IndexError, struct.error, ValueError, UnicodeDecodeError) as e:
            raise NetlinkError(f"a netlink answer that does not parse: {type(e).__name__}: {e}") from None
    return wrapper


@_parsed
def rdma_links() -> dict[str, str]:
    """"dev/port" -> netdev, for every RDMA device port whose netdev is in this network namespace."""
    links = {}
    for _, dev in _ask(NETLINK_RDMA, RDMA_NL_NLDEV << 10 | NLDEV_CMD_GET, NLM_F_DUMP, b""):
        index = dev[NLDEV_ATTR_DEV_INDEX]
        name = dev[NLDEV_ATTR_DEV_NAME].rstrip(b"\0").decode()
        for _, port in _ask(NETLINK_RDMA, RDMA_NL_NLDEV << 10 | NLDEV_CMD_PORT_GET, NLM_F_DUMP,
                         _attr(NLDEV_ATTR_DEV_INDEX, index)):
            if NLDEV_ATTR_NDEV_NAME in port:
                number = struct.unpack("=I", port[NLDEV_ATTR_PORT_INDEX])[0]
                links[f"{name}/{number}"] = port[NLDEV_ATTR_NDEV_NAME].rstrip(b"\0").decode()
    return links


@_parsed
def addresses(netdev: str) -> list[str]:
    """The netdev's addresses in the order `ip addr` lists them (its "local" ones)."""
    index = socket.if_nametoindex(netdev)
    out = []
    for fixed, a in _ask(socket.NETLINK_ROUTE, RTM_GETADDR, NLM_F_DUMP, IFADDRMSG.pack(socket.AF_UNSPEC, 0, 0, 0, 0),
                         fixed=IFADDRMSG.size):
        family, _, _, _, where = IFADDRMSG.unpack(fixed)
        raw = a.get(IFA_LOCAL) or a.get(IFA_ADDRESS)
        if where == index and raw and family in (socket.AF_INET, socket.AF_INET6):
            out.append(socket.inet_ntop(family, raw))
    return out


def default_route_ipv4(routes: str = "/proc/net/route") -> str | None:
    """The first IPv4 of the netdev the default route leaves by (the address other hosts reach this one at,
    on most hosts), or None: no default route (the lab's guest has none), no IPv4 there."""
    try:
        with open(routes) as f:
            rows = [line.split() for line in f.read().splitlines()[1:]]
    except OSError:
        return None
    for row in rows:
        if len(row) > 1 and row[1] == "00000000":
            try:
                v4 = [a for a in addresses(row[0]) if "." in a]
            except (OSError, NetlinkError):
                continue
            if v4:
                return v4[0]
    return None
