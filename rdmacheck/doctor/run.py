"""Run the doctor's checks in order; --deep adds a live self-test and the empirical reset probe."""

from __future__ import annotations

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
from rdmacheck.report.results import CellResult
from rdmacheck.scenario.cell import CellSpec
from rdmacheck.scenario.runner import run_cell
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


def deep_checks(device: str) -> list[Check]:
    """A loopback RC connection with a verified WRITE, then: does reset-and-reuse carry data here?"""
    first = _probe(device, Strategy.RECREATE, 0)
    if first.verdict != PASS:
        return [Check(device, "self-test", FAIL, f"loopback {first.mode} connection failed: {first.finding} "
                      f"({first.step or ''}); logs in {first.logs}", "see the finding; `rdmacheck devices` for GIDs")]
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
        checks.append(Check(device, "reset probe", WARN, f"the probe could not run: {probe.finding}"))
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
            checks += deep_checks(dev.name)
    return checks


def healthy(checks: list[Check]) -> bool:
    return not any(c.status == FAIL for c in checks)


