"""link-down:SECONDS cells: nobody dies; the device's netdev is taken down for SECONDS and brought
up again under a live connection whose initiator keeps writing (--hold-probe). Reported: what the
initiator saw (how, and how long after the link went down) and whether the pair carried verified
data again after the link came back.

Round 0 is the first connection, round 1 the link outage and the recovery."""

from __future__ import annotations

import subprocess
import time
from dataclasses import replace

from rdmacheck.errors import EnvironmentProblem, RdmacheckError
from rdmacheck.scenario.cell import CellSpec
from rdmacheck.scenario.local import LocalRun
from rdmacheck.scenario.result import FAIL, PASS, CellResult


def netdev_of(device: str) -> str:
    """The netdev under an RDMA device (sysfs, via the device listing)."""
    from rdmacheck.verbs.devices import list_devices  # noqa: PLC0415

    for port in list_devices(only=device)[0].ports:
        if port.netdev:
            return port.netdev
    raise EnvironmentProblem(f"{device} has no netdev to take down (link-down needs RoCE or iWARP over Ethernet)")


def set_link(netdev: str, state: str) -> tuple[float, float]:
    """`ip link set NETDEV up|down`; returns when it was started and when it was done (wall clock)."""
    started = time.time()
    r = subprocess.run(["ip", "link", "set", netdev, state], capture_output=True, text=True, timeout=10)
    if r.returncode != 0:
        raise RdmacheckError(f"ip link set {netdev} {state} failed: {r.stderr.strip() or r.returncode}")
    return started, time.time()


class LinkDownRun(LocalRun):
    def __init__(self, spec: CellSpec, seconds: float, on_step=None):
        super().__init__(replace(spec, hold_probe=True), on_step)
        self.seconds = seconds

    def _run(self, cell: CellResult) -> None:
        p = self.spec
        cell.rounds_planned = 1
        netdev = netdev_of(p.device)
        _, initiator = self._start_pair(cell)
        mark = initiator.mark()
        self.on_step(f"link {netdev} down for {self.seconds:g} s")
        # Detection is timed from when the link was surely down (the command done), recovery from
        # when it could first be up (the command started): a write verified while `ip link set up`
        # was still returning counts (it did not, once, and the run waited for a round never coming).
        _, t_down = set_link(netdev, "down")
        try:
            time.sleep(self.seconds)
        finally:
            t_up, _ = set_link(netdev, "up")
        self.on_step(f"link {netdev} up; waiting for verified data again")
        result = initiator.wait_for({"verified", "verify_failed"}, p.round_timeout,
                                    "a verified write after the link came back", since=mark)
        # The first round that ended after link-up (one that ended while the link was down says nothing).
        while result["ts"] < t_up:
            result = initiator.wait_for({"verified", "verify_failed"}, p.round_timeout,
                                        "a verified write after the link came back")
        rr = self._round_from(1, result, {"ts": t_up})
        rr.survivor, rr.step = "both", f"link-down:{self.seconds:g}"
        lost = initiator.find("peer_lost", since=mark)
        probe = initiator.find("dead_peer_probe", since=mark)
        if probe:
            rr.probe_status, rr.probe_ms = probe.get("wc_status"), probe.get("after_ms")
        if lost:
            rr.detect_ms, rr.detect_via = round((lost["ts"] - t_down) * 1000, 3), lost.get("via")
        self._survivor_report(rr, initiator.find("reestablished", since=mark), None)
        seen = (f"the initiator saw '{rr.detect_via}' {rr.detect_ms / 1000:.2f} s after the link went down"
                if lost else "the initiator saw nothing (no error while the link was down)")
        if rr.verdict == PASS:
            rr.detail = f"{netdev} down {self.seconds:g} s: {seen}; verified again {rr.reconnect_ms / 1000:.2f} s after link-up"
        elif not lost:
            rr.verdict, rr.finding = FAIL, rr.finding or "no-recovery-after-link-down"
            rr.detail = f"{netdev} down {self.seconds:g} s: {seen}"
        cell.rounds.append(rr)
