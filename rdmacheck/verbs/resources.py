"""The kernel's count of RDMA objects (`rdma resource show`): the ground truth for leaks."""

from __future__ import annotations

import json
import subprocess

KINDS = ("pd", "cq", "qp", "mr", "cm_id")


class CountUnreadable(OSError):
    """The kernel's object counts could not be read: a leak check must not take that for zero."""


def _rdma_json(*args: str) -> list:
    try:
        r = subprocess.run(["rdma", "-j", *args], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise CountUnreadable(f"`rdma -j {' '.join(args)}` could not run: {e}") from None
    if r.returncode != 0 or not r.stdout.strip():
        raise CountUnreadable(f"`rdma -j {' '.join(args)}` failed (exit {r.returncode}): "
                              f"{r.stderr.strip()[:120] or 'no output'}")
    try:
        return json.loads(r.stdout)
    except ValueError as e:
        raise CountUnreadable(f"`rdma -j {' '.join(args)}` printed no JSON: {e}") from None


def resource_counts() -> dict[str, int]:
    """Objects of each kind, summed over devices (CountUnreadable when they cannot be read)."""
    totals = dict.fromkeys(KINDS, 0)
    for dev in _rdma_json("resource", "show"):
        for k in KINDS:
            totals[k] += int(dev.get(k, 0))
    return totals


def listed_qps(device: str, qpns: set[int]) -> int:
    """How many of these QP numbers the kernel lists on this device. (Not by pid: the kernel
    records the creating thread, and a thread that has exited shows no pid at all.)"""
    return sum(1 for qp in _rdma_json("resource", "show", "qp")
               if qp.get("ifname") == device and qp.get("lqpn") in qpns)
