"""The checks: each returns PASS / WARN / FAIL / SKIP with a one-line reason and a concrete hint.

Everything a check reads comes in through HostPaths or DeviceInfo, so host tests can hand them
a fixture tree; the real values are checked in the lab.
"""

from __future__ import annotations

import glob
import os
import resource
from dataclasses import dataclass
from pathlib import Path

from rdmacheck.doctor.result import FAIL, PASS, SKIP, WARN, Check
from rdmacheck.verbs.devices import DeviceInfo, PortInfo
from rdmacheck.verbs.gid import is_zero_gid

LAB_HINT = "no RDMA hardware? the Soft-RDMA lab has rxe and siw: `rdmacheck lab run -- rdmacheck doctor`"
IB_MTUS = (256, 512, 1024, 2048, 4096)
ROCE_OVERHEAD = 58  # bytes of IB/UDP/IP headers a RoCE packet adds inside the Ethernet MTU
RDMA_MODULES = ("ib_core", "ib_uverbs", "rdma_ucm", "rdma_cm", "iw_cm", "rdma_rxe", "siw", "mlx5_ib", "mlx4_ib",
                "erdma", "irdma", "bnxt_re", "efa", "hns_roce_hw_v2", "qedr")


@dataclass(frozen=True)
class HostPaths:
    sysfs_ib: Path = Path("/sys/class/infiniband")
    dev_ib: Path = Path("/dev/infiniband")
    proc_modules: Path = Path("/proc/modules")
    sysfs_net: Path = Path("/sys/class/net")
    provider_glob: str = "/usr/lib/*/libibverbs/lib{provider}-rdmav*.so"


def kernel_support(p: HostPaths) -> Check:
    if not p.sysfs_ib.is_dir():
        return Check("host", "kernel RDMA support", FAIL,
                     f"no {p.sysfs_ib}: this kernel has no RDMA support (or no RDMA module is loaded)",
                     f"load the RDMA core and your NIC's driver (modprobe ib_uverbs rdma_ucm mlx5_ib ...); {LAB_HINT}")
    names = sorted(x.name for x in p.sysfs_ib.iterdir())
    if not names:
        return Check("host", "kernel RDMA support", FAIL, f"{p.sysfs_ib} exists but lists no device",
                     "load the NIC's RDMA driver, or add a software device: rdma link add rxe0 type rxe netdev eth0")
    return Check("host", "kernel RDMA support", PASS, f"{len(names)} device(s): {', '.join(names)}")


def uverbs_devices(p: HostPaths) -> Check:
    nodes = sorted(glob.glob(str(p.dev_ib / "uverbs*")))
    if not nodes:
        return Check("host", "uverbs character devices", FAIL, f"no {p.dev_ib}/uverbs*: user space cannot open devices",
                     "modprobe ib_uverbs (and check udev created /dev/infiniband)")
    denied = [n for n in nodes if not os.access(n, os.R_OK | os.W_OK)]
    if denied:
        return Check("host", "uverbs character devices", FAIL, f"no read/write access to {', '.join(denied)}",
                     "run as a user in the rdma group, or fix the udev rule (MODE=\"0666\" for uverbs*)")
    return Check("host", "uverbs character devices", PASS, f"{len(nodes)} readable and writable: {', '.join(nodes)}")


def rdma_cm_device(p: HostPaths) -> Check:
    node = p.dev_ib / "rdma_cm"
    if not node.exists():
        return Check("host", "rdma_cm character device", WARN, f"no {node}: cm mode (needed on iWARP) will not work",
                     "modprobe rdma_ucm")
    if not os.access(node, os.R_OK | os.W_OK):
        return Check("host", "rdma_cm character device", FAIL, f"no read/write access to {node}",
                     "fix its permissions (udev rule MODE=\"0666\") or run in the rdma group")
    return Check("host", "rdma_cm character device", PASS, f"{node} is usable")


def loaded_modules(p: HostPaths) -> Check:
    try:
        loaded = {line.split()[0] for line in p.proc_modules.read_text().splitlines() if line.strip()}
    except OSError as e:
        return Check("host", "RDMA kernel modules", SKIP, f"cannot read {p.proc_modules}: {e.strerror}")
    rdma = [m for m in RDMA_MODULES if m in loaded]
    if not rdma:
        return Check("host", "RDMA kernel modules", WARN, "no RDMA module is loaded as a module (may be built in)",
                     "modprobe ib_uverbs rdma_ucm and your NIC's RDMA driver")
    return Check("host", "RDMA kernel modules", PASS, ", ".join(rdma))


def userspace(rdma_core: str | None, pyverbs_ok: bool) -> Check:
    if not pyverbs_ok:
        return Check("host", "rdma-core / pyverbs", FAIL, f"rdma-core {rdma_core or '?'}; pyverbs cannot be imported",
                     "apt install python3-pyverbs, and run rdmacheck from a venv made with --system-site-packages "
                     "(scripts/setup.sh does both)")
    return Check("host", "rdma-core / pyverbs", PASS, f"rdma-core {rdma_core or '(version unknown)'}; pyverbs imports")


def memlock(buffer_size: int, limits: tuple[int, int] | None = None) -> Check:
    soft, _ = limits or resource.getrlimit(resource.RLIMIT_MEMLOCK)
    if soft == resource.RLIM_INFINITY:
        return Check("host", "locked memory (ulimit -l)", PASS, "unlimited")
    if soft < buffer_size:
        return Check("host", "locked memory (ulimit -l)", FAIL,
                     f"{soft // 1024} KiB, less than the {buffer_size // 1024} KiB to register (--buffer-size)",
                     "ulimit -l unlimited (or 'memlock unlimited' in /etc/security/limits.conf, "
                     "LimitMEMLOCK=infinity for services); root with CAP_IPC_LOCK is exempt on most providers, not siw")
    return Check("host", "locked memory (ulimit -l)", PASS, f"{soft // 1024} KiB >= {buffer_size // 1024} KiB")


def provider_library(provider: str, paths: HostPaths) -> Check:
    if provider == "unknown":
        return Check(provider, "user-space provider", WARN, "cannot tell which provider this device needs")
    libs = glob.glob(paths.provider_glob.format(provider=provider))
    if not libs:
        return Check(provider, "user-space provider", FAIL, f"no libibverbs provider library for {provider}",
                     "apt install ibverbs-providers (or your vendor's rdma-core)")
    return Check(provider, "user-space provider", PASS, os.path.basename(libs[0]))


def port_state(dev: str, port: PortInfo) -> Check:
    name = f"port {port.port} state"
    if port.state == "ACTIVE" and port.phys_state == "LINK_UP":
        return Check(dev, name, PASS, f"ACTIVE / LINK_UP, {port.link_layer}, {port.speed or 'speed ?'}")
    return Check(dev, name, FAIL, f"{port.state} / {port.phys_state}",
                 f"bring the link up: ip link set {port.netdev or '<netdev>'} up; check the cable/switch; "
                 f"`rdma link show` shows the state")


def best_mtu(netdev_mtu: int) -> int:
    fits = [m for m in IB_MTUS if m + ROCE_OVERHEAD <= netdev_mtu]
    return max(fits) if fits else 256


def mtu_check(dev: str, port: PortInfo, netdev_mtu: int | None, iwarp: bool) -> Check:
    name = f"port {port.port} MTU"
    if port.link_layer != "Ethernet" or iwarp:
        return Check(dev, name, PASS, f"active MTU {port.active_mtu}")
    if netdev_mtu is None:
        return Check(dev, name, SKIP, f"active MTU {port.active_mtu}; the netdev's MTU is not visible here")
    expect = min(best_mtu(netdev_mtu), port.max_mtu or 4096)
    if port.active_mtu != expect:
        return Check(dev, name, WARN, f"active MTU {port.active_mtu} but {port.netdev} MTU {netdev_mtu} allows {expect}",
                     "peers must agree on the path MTU: check both sides' netdev MTU, or pass --mtu")
    hint = "" if expect >= 4096 else f"for RDMA MTU 4096 set the netdev MTU to >= {4096 + ROCE_OVERHEAD}: ip link set {port.netdev} mtu 9000"
    return Check(dev, name, PASS, f"active MTU {port.active_mtu} matches {port.netdev} MTU {netdev_mtu}", hint)


def gid_check(dev: str, port: PortInfo, iwarp: bool) -> Check:
    name = f"port {port.port} GID"
    if iwarp:
        ips = [a for a in port.netdev_ips if "." in a]
        if not port.netdev:
            return Check(dev, name, SKIP, "the device's netdev is not visible here (another network namespace?)",
                         "run the doctor in the namespace that owns the netdev: ip netns exec <ns> rdmacheck doctor")
        if not ips:
            return Check(dev, name, FAIL, "iWARP device without an IPv4 address: rdma_cm cannot reach it",
                         f"ip addr add <ip>/<prefix> dev {port.netdev or '<netdev>'}")
        return Check(dev, name, PASS, f"iWARP: no GID index needed; rdma_cm uses {ips[0]}")
    valid = [g for g in port.gids if not is_zero_gid(g.gid)]
    v2 = [g for g in valid if g.type == "RoCE v2" and g.ip and "." in g.ip]
    if port.link_layer == "InfiniBand":
        return Check(dev, name, PASS if valid else FAIL, f"{len(valid)} GID(s); IB uses index 0 (lid {port.lid})")
    if v2:
        g = v2[0]
        return Check(dev, name, PASS, f"RoCE v2 GID index {g.index} carries {g.ip}: use --gid-index {g.index} "
                     f"(MC_GID_INDEX={g.index}, NCCL_IB_GID_INDEX={g.index}); valid indexes: "
                     f"{', '.join(str(x.index) for x in valid)}")
    return Check(dev, name, FAIL, f"no RoCE v2 GID with an IPv4 address (valid indexes: "
                 f"{', '.join(str(x.index) for x in valid) or 'none'})",
                 f"assign an IPv4 address to {port.netdev or 'the netdev'}: its RoCE v2 GID appears at once")


def mr_size(dev: DeviceInfo, buffer_size: int) -> Check:
    if buffer_size > dev.max_mr_size:
        return Check(dev.name, "MR size", FAIL, f"--buffer-size {buffer_size} exceeds max_mr_size {dev.max_mr_size:#x}",
                     "register smaller regions (several MRs)")
    return Check(dev.name, "MR size", PASS, f"max_mr_size {dev.max_mr_size:#x} >= {buffer_size}; max_qp {dev.max_qp}")


def metadata_check(url: str, timeout: float = 2.0) -> Check:
    """etcd reachable, and how long a read takes."""
    import time

    from rdmacheck.metadata.etcd import (
        EtcdConfig,
        EtcdStore,
        MetadataError,
        parse_metadata_url,
    )

    try:
        endpoints = parse_metadata_url(url)
    except Exception as e:  # noqa: BLE001 - a bad URL is this check's FAIL
        return Check("metadata", "etcd", FAIL, str(e))
    if endpoints is None:
        return Check("metadata", "etcd", SKIP, "p2p: no metadata server to check")
    try:
        store = EtcdStore.connect(EtcdConfig(endpoints=endpoints, timeout=timeout))
        t0 = time.perf_counter()
        store.get("doctor-probe")
        ms = (time.perf_counter() - t0) * 1000
        where = f"{store.endpoint[0]}:{store.endpoint[1]}"
        store.close()
    except MetadataError as e:
        return Check("metadata", "etcd", FAIL, str(e), "start etcd or fix --metadata; check firewalls and TLS options")
    status = PASS if ms < 100 else WARN
    return Check("metadata", "etcd", status, f"{where} reachable; a read took {ms:.1f} ms",
                 "" if status == PASS else "a slow metadata server delays every (re)connection")


def netdev_mtu(paths: HostPaths, netdev: str | None) -> int | None:
    if not netdev:
        return None
    try:
        return int((paths.sysfs_net / netdev / "mtu").read_text())
    except (OSError, ValueError):
        return None


def device_checks(dev: DeviceInfo, paths: HostPaths, buffer_size: int) -> list[Check]:
    out = [provider_library(dev.provider, paths)]
    out[0].group = dev.name
    for port in dev.ports:
        out += [port_state(dev.name, port), mtu_check(dev.name, port, netdev_mtu(paths, port.netdev), dev.is_iwarp),
                gid_check(dev.name, port, dev.is_iwarp)]
    out.append(mr_size(dev, buffer_size))
    return out
