"""The kernel's count of RDMA objects (`rdma resource show`): the ground truth for leaks."""

from __future__ import annotations

import json
import subprocess

KINDS = ("pd", "cq", "qp", "mr", "cm_id")


def resource_counts() -> dict[str, int]:
    """Objects of each kind, summed over devices."""
    out = subprocess.run(["rdma", "-j", "resource", "show"], capture_output=True, text=True, timeout=10).stdout
    totals = dict.fromkeys(KINDS, 0)
    for dev in json.loads(out or "[]"):
        for k in KINDS:
            totals[k] += int(dev.get(k, 0))
    return totals


def listed_qps(device: str, qpns: set[int]) -> int:
    """How many of these QP numbers the kernel lists on this device. (Not by pid: the kernel
    records the creating thread, and a thread that has exited shows no pid at all.)"""
    out = subprocess.run(["rdma", "-j", "resource", "show", "qp"], capture_output=True, text=True, timeout=10).stdout
    return sum(1 for qp in json.loads(out or "[]") if qp.get("ifname") == device and qp.get("lqpn") in qpns)
