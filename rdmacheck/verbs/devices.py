"""Enumerate RDMA devices, ports and GID tables (`rdmacheck devices`)."""

from __future__ import annotations

import socket
import subprocess
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rdmacheck.errors import EnvironmentProblem
from rdmacheck.verbs import compat, netlink
from rdmacheck.verbs.gid import GidEntry, gid_ip, is_zero_gid

NODE_TYPES = {1: "CA", 2: "SWITCH", 3: "ROUTER", 4: "RNIC", 5: "USNIC", 6: "USNIC_UDP"}
TRANSPORTS = {0: "InfiniBand", 1: "iWARP", 2: "usNIC", 3: "usNIC UDP"}
PORT_STATES = {0: "NOP", 1: "DOWN", 2: "INIT", 3: "ARMED", 4: "ACTIVE", 5: "ACTIVE_DEFER"}
PHYS_STATES = {1: "SLEEP", 2: "POLLING", 3: "DISABLED", 4: "PORT_CONFIGURATION_TRAINING",
               5: "LINK_UP", 6: "LINK_ERROR_RECOVERY", 7: "PHY_TEST"}
LINK_LAYERS = {0: "Unspecified", 1: "InfiniBand", 2: "Ethernet"}
GID_TYPES = {0: "IB", 1: "RoCE v1", 2: "RoCE v2"}
SPEEDS = {1: "2.5", 2: "5", 4: "10", 8: "10", 16: "14", 32: "25", 64: "50", 128: "100"}
WIDTHS = {1: 1, 2: 4, 4: 8, 8: 12, 16: 2}
# Known software/vendor providers by device-name prefix, for devices without a PCI driver link.
PROVIDER_BY_PREFIX = {"rxe": "rxe", "siw": "siw", "erdma": "erdma", "mlx5": "mlx5", "mlx4": "mlx4",
                      "irdma": "irdma", "bnxt_re": "bnxt_re", "efa": "efa", "hns": "hns", "qedr": "qedr"}


@dataclass
class PortInfo:
    port: int
    state: str
    phys_state: str
    link_layer: str
    active_mtu: int
    max_mtu: int
    lid: int
    speed: str | None
    netdev: str | None
    netdev_ips: list[str]
    gids: list[GidEntry] = field(default_factory=list)


@dataclass
class DeviceInfo:
    name: str
    provider: str
    node_type: str
    transport: str
    node_guid: str
    fw_version: str
    max_qp: int
    max_mr_size: int
    max_qp_rd_atom: int
    ports: list[PortInfo] = field(default_factory=list)

    @property
    def is_iwarp(self) -> bool:
        return self.node_type == "RNIC" or self.transport == "iWARP"

    def netdev_ipv4(self, port: int | None = None) -> str | None:
        """The first IPv4 address of the netdev under `port` (any port when None)."""
        for p in self.ports:
            if port in (None, p.port):
                v4 = [a for a in p.netdev_ips if "." in a]
                if v4:
                    return v4[0]
        return None

    def to_dict(self) -> dict:
        return asdict(self)


def provider_of(name: str, sysfs: Path = compat.SYSFS_IB) -> str:
    drv = sysfs / name / "device" / "driver"
    if drv.exists():
        return drv.resolve().name
    for prefix, prov in PROVIDER_BY_PREFIX.items():
        if name.startswith(prefix):
            return prov
    return "unknown"


def is_iwarp_device(name: str, sysfs: Path = compat.SYSFS_IB) -> bool:
    """From sysfs alone (node_type '4: RNIC'): no device is opened, which costs ~1 s in the lab guest."""
    try:
        return (sysfs / name / "node_type").read_text().strip().endswith("RNIC")
    except OSError:
        return False


def _rdma_links() -> dict[str, str]:
    """ifname "dev/port" -> netdev, as `rdma link` shows it (covers iWARP, which has no GID netdevs)."""
    try:
        return netlink.rdma_links()
    except OSError:  # netlink.NetlinkError included
        return {}


def _netdev_ips(netdev: str | None) -> list[str]:
    if not netdev:
        return []
    try:
        return netlink.addresses(netdev)
    except OSError:
        return []


def _ifname(ifindex: int) -> str | None:
    try:
        return socket.if_indextoname(ifindex) if ifindex else None
    except OSError:  # the netdev lives in another network namespace
        return None


def _gid_table(ctx, port: int, tbl_len: int, nports: int, iwarp: bool) -> list[GidEntry]:
    entries: list[GidEntry] = []
    try:
        # max_entries must not exceed the device's total table size (EINVAL otherwise).
        table = ctx.query_gid_table(max(tbl_len, 1) * nports)
        for e in table:
            if e.port_num != port:
                continue
            gid = e.gid_str()
            gtype = "iWARP" if iwarp else GID_TYPES.get(int(e.gid_type), "?")
            entries.append(GidEntry(e.gid_index, gid, gtype, _ifname(e.ndev_ifindex),
                                    None if iwarp else gid_ip(gid)))
        if entries:
            return sorted(entries, key=lambda g: g.index)
    except Exception:  # noqa: BLE001 - iWARP providers may not support the table query
        pass
    for idx in range(tbl_len):
        try:
            gid = str(ctx.query_gid(port, idx))
        except Exception:  # noqa: BLE001
            continue
        if is_zero_gid(gid):
            continue
        entries.append(GidEntry(idx, gid, "iWARP" if iwarp else "?", None, None if iwarp else gid_ip(gid)))
    return entries


def load_providers() -> None:
    """List the devices once: libibverbs loads its provider libraries then, and a process forked
    afterwards inherits them (~115 ms of emulated CPU per forked role in the lab guest). No device is
    opened, so forking stays safe."""
    try:
        from pyverbs.device import get_device_list  # noqa: PLC0415

        get_device_list()
    except Exception:  # noqa: BLE001 - no RDMA here: the role says so when it opens its device
        pass


def list_devices(only: str | None = None) -> list[DeviceInfo]:
    compat.require_rdma_kernel()
    from pyverbs.device import Context, get_device_list  # noqa: PLC0415 - verbs layer owns pyverbs

    devs = get_device_list()
    names = [d.name.decode() for d in devs]
    if only and only not in names:
        raise EnvironmentProblem(f"no RDMA device named {only!r}; devices here: {', '.join(names) or 'none'}")
    links = _rdma_links()
    result = []
    for d in devs:
        name = d.name.decode()
        if only and name != only:
            continue
        with Context(name=name) as ctx:
            attr = ctx.query_device()
            info = DeviceInfo(
                name=name, provider=provider_of(name),
                node_type=NODE_TYPES.get(d.node_type, str(d.node_type)),
                transport=TRANSPORTS.get(d.transport_type, str(d.transport_type)),
                node_guid=f"{attr.node_guid:016x}" if isinstance(attr.node_guid, int) else str(attr.node_guid),
                fw_version=str(attr.fw_version), max_qp=attr.max_qp, max_mr_size=attr.max_mr_size,
                max_qp_rd_atom=attr.max_qp_rd_atom)
            for port in range(1, attr.phys_port_cnt + 1):
                pa = ctx.query_port(port)
                netdev = links.get(f"{name}/{port}")
                info.ports.append(PortInfo(
                    port=port, state=PORT_STATES.get(pa.state, str(pa.state)),
                    phys_state=PHYS_STATES.get(pa.phys_state, str(pa.phys_state)),
                    link_layer=LINK_LAYERS.get(pa.link_layer, str(pa.link_layer)),
                    active_mtu=compat.mtu_bytes(pa.active_mtu), max_mtu=compat.mtu_bytes(pa.max_mtu),
                    lid=pa.lid,
                    speed=(f"{WIDTHS.get(pa.active_width, '?')}x {SPEEDS.get(pa.active_speed, '?')} Gb/s"
                           if pa.active_speed else None),
                    netdev=netdev, netdev_ips=_netdev_ips(netdev),
                    gids=_gid_table(ctx, port, pa.gid_tbl_len, attr.phys_port_cnt, info.is_iwarp)))
            result.append(info)
    return result



def device_ipv4(device: str, option: str = "--host") -> DeviceInfo:
    """The device whose netdev's IPv4 a side names itself by (`device.netdev_ipv4()` is then not None);
    `auto`: the first device with an IPv4 in this network namespace (under Slurm or in a container every
    host then runs the same command line). `option` is what a user gives instead."""
    devs = list_devices() if device == "auto" else list_devices(only=device)
    for dev in devs:
        if dev.netdev_ipv4() is not None:
            return dev
    if device == "auto":
        raise EnvironmentProblem(f"no RDMA device with an IPv4 address in this network namespace "
                                 f"(have: {', '.join(d.name for d in devs) or 'none'})")
    raise EnvironmentProblem(f"{device} has no IPv4 address in this network namespace; give {option}")

def rdma_core_version() -> str | None:
    try:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "rdma-core"], capture_output=True,
                             text=True, timeout=5)
        return out.stdout.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        return None
