"""A fleet inside the lab guest: N network namespaces host1..hostN, each with a veth into the initial
namespace (which routes between them: the guest kernel has no bridge module) and a soft-iWARP device
on its end (siw works across namespaces; rxe does not). Host K is 169.254.(40+K).2, its gateway
169.254.(40+K).1, its device fsiwK. Run as root inside the guest (`rdmacheck lab hosts N`).

Faults for the tests: a host's veth set down (a bad host), a blackhole route between two hosts
only (a bad link), netem on a host's wire (a slow host) or on one path only (a slow link)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from rdmacheck.errors import EnvironmentProblem

MAX_HOSTS = 200
MTU = 9000


@dataclass(frozen=True)
class LabHost:
    index: int

    @property
    def name(self) -> str:
        return f"host{self.index}"

    @property
    def ip(self) -> str:
        return f"169.254.{40 + self.index}.2"

    @property
    def gateway(self) -> str:
        return f"169.254.{40 + self.index}.1"

    @property
    def device(self) -> str:
        return f"fsiw{self.index}"

    @property
    def outer(self) -> str:  # the veth end in the initial namespace
        return f"fv{self.index}"

    def ns(self, *cmd: str) -> list[str]:
        return ["ip", "netns", "exec", self.name, *cmd]


def _sh(cmd: list[str], stdin: str | None = None) -> None:
    r = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        raise EnvironmentProblem(f"lab hosts: `{' '.join(cmd)}` failed: {(r.stderr or r.stdout).strip()[:200]}")


def hosts(n: int) -> list[LabHost]:
    if not 2 <= n <= MAX_HOSTS:
        raise EnvironmentProblem(f"a lab fleet has 2 to {MAX_HOSTS} hosts, not {n}")
    return [LabHost(k) for k in range(1, n + 1)]


def in_lab_guest(cmdline: Path = Path("/proc/cmdline")) -> bool:
    """The lab's VM boots its kernel with rdmacheck.lab=... (vm.py): nothing else does."""
    try:
        return "rdmacheck.lab=" in cmdline.read_text()
    except OSError:
        return False


def create(n: int) -> list[LabHost]:
    """Idempotent per host: an existing namespace of that name is left as it is. Only inside the lab
    guest: on a real machine it would turn on IP forwarding and add namespaces and routes."""
    if not in_lab_guest():
        raise EnvironmentProblem("lab hosts turns on IP forwarding and makes network namespaces: it runs inside "
                                 "the lab guest only", hint="rdmacheck lab run -- rdmacheck lab hosts N")
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")
    every = hosts(n)
    new = [h for h in every if not Path(f"/run/netns/{h.name}").exists()]
    if not new:
        return every
    # One `ip -batch` for the initial namespace and one per host (a process per command cost ~0.6 s a
    # host on the lab's emulated CPUs). Jumbo frames as RDMA fabrics run them: at 1,500 bytes siw moved
    # 1 MiB across two veths 2-6x slower than over loopback, most of a fleet pair's reconnect time.
    _sh(["ip", "-batch", "-"], "".join(
        f"netns add {h.name}\n"
        f"link add {h.outer} mtu {MTU} type veth peer name eth0 mtu {MTU} netns {h.name}\n"
        f"addr add {h.gateway}/24 dev {h.outer}\n"
        f"link set {h.outer} up\n" for h in new))
    for h in new:
        _sh(["ip", "-n", h.name, "-batch", "-"],
            f"link set lo up\naddr add {h.ip}/24 dev eth0\nlink set eth0 up\nroute add default via {h.gateway}\n")
        _sh(h.ns("rdma", "link", "add", h.device, "type", "siw", "netdev", "eth0"))
    return every


def set_link(h: LabHost, up: bool) -> None:
    """The host's wire: its veth in the initial namespace set down (or up again)."""
    _sh(["ip", "link", "set", h.outer, "up" if up else "down"])


def blackhole(a: LabHost, b: LabHost, on: bool = True) -> None:
    """Drop what a sends to b (and b's answers never come back): one path broken, both hosts fine."""
    _sh(a.ns("ip", "route", "add" if on else "del", "blackhole", f"{b.ip}/32"))


def _netem(delay_ms: float, rate: str | None) -> list[str]:
    return ["netem", "delay", f"{delay_ms:g}ms", *(["rate", rate] if rate else [])]


def slow_wire(h: LabHost, delay_ms: float, rate: str | None = None, on: bool = True) -> None:
    """A slow host: netem on both ends of its wire (what it sends, in its namespace; what it receives, on the
    veth end in the initial namespace), so every path of it is delayed (and rate-limited), both ways."""
    for cmd in (h.ns("tc", "qdisc", "del", "dev", "eth0", "root"), ["tc", "qdisc", "del", "dev", h.outer, "root"]):
        subprocess.run(cmd, capture_output=True, timeout=30)  # none there yet: nothing to remove
    if on:
        _sh(["modprobe", "sch_netem"])
        _sh(h.ns("tc", "qdisc", "add", "dev", "eth0", "root", *_netem(delay_ms, rate)))
        _sh(["tc", "qdisc", "add", "dev", h.outer, "root", *_netem(delay_ms, rate)])


def slow_path(a: LabHost, b: LabHost, delay_ms: float, rate: str | None = None, on: bool = True) -> None:
    """One slow path: what a sends to b only goes through netem (a prio qdisc on a's wire, a u32 filter on b's
    address into its third band); every other path of a and b stays as it was."""
    subprocess.run(a.ns("tc", "qdisc", "del", "dev", "eth0", "root"), capture_output=True, timeout=30)
    if on:
        _sh(["modprobe", "-a", "sch_netem", "sch_prio", "cls_u32"])
        _sh(a.ns("tc", "qdisc", "add", "dev", "eth0", "root", "handle", "1:", "prio"))
        _sh(a.ns("tc", "qdisc", "add", "dev", "eth0", "parent", "1:3", "handle", "30:", *_netem(delay_ms, rate)))
        _sh(a.ns("tc", "filter", "add", "dev", "eth0", "parent", "1:", "protocol", "ip", "prio", "1", "u32",
                 "match", "ip", "dst", f"{b.ip}/32", "flowid", "1:3"))
