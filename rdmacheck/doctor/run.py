"""Run the doctor's checks in order; --deep adds a live self-test and the empirical reset probe."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Callable

from rdmacheck.doctor.checks import (
    FAIL,
    PASS,
    SKIP,
    WARN,
    Check,
    HostPaths,
    device_checks,
    kernel_support,
    loaded_modules,
    memlock,
    metadata_check,
    rdma_cm_device,
    userspace,
    uverbs_devices,
)
from rdmacheck.scenario.cell import CellSpec
from rdmacheck.scenario.result import CellResult
from rdmacheck.scenario.runner import run_cell
from rdmacheck.verbs.devices import DeviceInfo
from rdmacheck.words import Strategy


def host_checks(paths: HostPaths, buffer_size: int) -> list[Check]:
    from rdmacheck.verbs import compat
    from rdmacheck.verbs.devices import rdma_core_version

    kernel = kernel_support(paths)
    checks = [kernel]
    if kernel.status == FAIL:
        why = "skipped: the kernel has no RDMA support"
        checks += [Check("host", "uverbs character devices", SKIP, why),
                   Check("host", "rdma_cm character device", SKIP, why)]
    else:
        checks += [uverbs_devices(paths), rdma_cm_device(paths)]
    checks += [loaded_modules(paths), userspace(rdma_core_version(), compat.ibv is not None), memlock(buffer_size)]
    return checks


def _probe(device: str, strategy: Strategy, rounds: int) -> CellResult:
    return run_cell(CellSpec(device=device, strategy=strategy, rounds=rounds, buffer_size=1 << 20, length=64 << 10,
                             round_timeout=60, io_timeout=20,
                             log_dir=Path(tempfile.mkdtemp(prefix=f"rdmacheck-doctor-{device}-"))))


DEEP_IN_NETNS_S = 600.0  # a deep check in another namespace: its own self-test and reset probe


def _netns_holding(device: str) -> str | None:
    """The network namespace whose sysfs shows a netdev under this RDMA device (siw over a veth whose
    end was moved there), or None."""
    try:
        names = [line.split()[0] for line in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                                                            timeout=10).stdout.splitlines() if line.strip()]
    except (OSError, subprocess.TimeoutExpired):
        return None
    for ns in names:
        try:
            r = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m", "rdmacheck", "devices", "-d",
                                device, "--json"], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            continue  # that namespace's doctor did not answer in time: not the one that holds it
        try:
            if r.returncode == 0 and any(p["netdev"] for d in json.loads(r.stdout)["devices"] for p in d["ports"]):
                return ns
        except (ValueError, KeyError, TypeError):
            continue
    return None


def _deep_in_netns(device: str, ns: str) -> list[Check]:
    """The device's deep checks, run by a doctor inside the namespace where its netdev lives."""
    try:
        r = subprocess.run(["ip", "netns", "exec", ns, sys.executable, "-m", "rdmacheck", "doctor", "--deep", "-d",
                            device, "--json"], capture_output=True, text=True, timeout=DEEP_IN_NETNS_S)
    except (OSError, subprocess.TimeoutExpired) as e:
        return [Check(device, "self-test", FAIL, f"the doctor in network namespace {ns} did not report within "
                      f"{DEEP_IN_NETNS_S:.0f} s ({type(e).__name__})")]
    try:
        found = [Check(**c) for c in json.loads(r.stdout)["checks"]
                 if c["group"] == device and c["name"] in ("self-test", "reset probe")]
    except (ValueError, KeyError, TypeError):
        found = []
    if not found:
        return [Check(device, "self-test", FAIL, f"the doctor in network namespace {ns} did not report "
                      f"(exit {r.returncode}): {(r.stderr.strip().splitlines() or ['no output'])[-1]}")]
    return [Check(c.group, c.name, c.status, f"{c.reason} (in network namespace {ns})", c.hint) for c in found]


def deep_checks(dev: DeviceInfo) -> list[Check]:
    """A loopback RC connection with a verified WRITE, then: does reset-and-reuse carry data here?"""
    device = dev.name
    if not any(p.netdev for p in dev.ports):  # its netdev lives in another network namespace
        ns = _netns_holding(device)
        if ns is None:
            return [Check(device, "self-test", SKIP, f"{device} has no netdev in this network namespace, nor in "
                          "any named one (`ip netns list`): nothing to connect over",
                          f"run the doctor where its netdev lives: ip netns exec NS rdmacheck doctor --deep -d {device}")]
        return _deep_in_netns(device, ns)
    first = _probe(device, Strategy.RECREATE, 0)
    if first.verdict != PASS:
        where = f" at {first.step}" if first.step else ""
        return [Check(device, "self-test", FAIL, f"loopback {first.mode} connection failed{where}: "
                      f"{first.finding or 'no finding reported'}; logs in {first.logs}",
                      "see the finding; `rdmacheck devices` for GIDs")]
    ms = first.rounds[0].reconnect_ms
    checks = [Check(device, "self-test", PASS, f"loopback RC connection ({first.mode}) carried a verified 64 KiB "
                    f"WRITE + READ, {ms:.0f} ms from start")]
    probe = _probe(device, Strategy.RESET, 1)
    if probe.verdict == PASS:
        checks.append(Check(device, "reset probe", PASS, "reset-and-reuse of a QP carries data on this device: "
                            "`--strategy auto` may use reset"))
    elif len(probe.rounds) >= 2:
        checks.append(Check(device, "reset probe", PASS, f"reset-and-reuse does NOT work here ({probe.finding}): "
                            "use --strategy recreate", "destroy and recreate QPs to re-establish on this device"))
    else:
        last = probe.rounds[-1] if probe.rounds else None
        why = probe.finding or (last.detail if last else None) or "no finding reported"
        checks.append(Check(device, "reset probe", WARN, f"the probe could not run: {why}"))
    return checks


def run_doctor(paths: HostPaths, buffer_size: int, device: str | None, deep: bool,
               on_step: Callable[[str], None] = lambda s: None, metadata: str | None = None) -> list[Check]:
    checks = host_checks(paths, buffer_size)
    if metadata:
        checks.append(metadata_check(metadata))
    if checks[0].status == FAIL or not any(c.status == PASS for c in checks if c.name == "rdma-core / pyverbs"):
        return checks
    from rdmacheck.verbs.devices import list_devices

    for dev in list_devices(device):
        checks += device_checks(dev, paths, buffer_size)
        if deep:
            on_step(f"deep checks on {dev.name}")
            checks += deep_checks(dev)
    return checks


def healthy(checks: list[Check]) -> bool:
    return not any(c.status == FAIL for c in checks)


