"""Both roles on this host as child processes: kill the restart side with SIGKILL, start it again
under the same name, and judge every round from the events both sides report."""

from __future__ import annotations

import json
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable

from rdmacheck.errors import DeadlineExceeded, RdmacheckError
from rdmacheck.faults import Faults
from rdmacheck.roles.forkserver import ForkServer
from rdmacheck.roles.checked import WriteChecked
from rdmacheck.roles.process import RoleFailed, RoleProcess, free_port
from rdmacheck.roles.spawn import spawn_role as start_role
from rdmacheck.scenario.cell import CellSpec
from rdmacheck.scenario.result import FAIL, PASS, CellResult, RoundResult
from rdmacheck.words import Mode, Restart, Role, oob_on_iwarp_reason


def listen_host_for(netns: str | None, host: str) -> str:
    """The target's handshake address: `host`, or the first IPv4 of a netdev inside `netns`."""
    if not netns:
        return host
    try:
        out = subprocess.run(["ip", "netns", "exec", netns, "ip", "-j", "-4", "addr"], capture_output=True,
                             text=True, timeout=10).stdout
        addrs = [a["local"] for link in json.loads(out or "[]") for a in link.get("addr_info", [])
                 if not a["local"].startswith("127.")]
    except (OSError, ValueError, subprocess.TimeoutExpired) as e:
        raise RdmacheckError(f"cannot read the addresses of network namespace {netns!r}: {e}") from None
    if not addrs:
        raise RdmacheckError(f"network namespace {netns!r} has no IPv4 address besides loopback")
    return addrs[0]


def spawn_role(spec: CellSpec, role: Role, addr: tuple[str, int], log_path: Path, netns: str | None = None,
               faults: Faults = Faults(), die_with_parent: bool = False,
               forkserver: ForkServer | None = None) -> tuple[RoleProcess, str | None]:
    """A role process of the cell (roles/spawn.py); and why it was not forked, if not."""
    return start_role(spec.for_role(role, addr, faults), log_path, spec.spawn, netns, die_with_parent, forkserver)


def round_from(index: int, result: dict, ready: dict, start_ts: float | None = None) -> RoundResult:
    """A round judged from the initiator's verified / verify_failed event; reconnect time from its
    ready (or start_ts: when re-establishment could begin, if later)."""
    c = WriteChecked.of(result, ready, start_ts)
    return RoundResult(
        index=index, verdict=PASS if c.ok else FAIL, finding=c.finding, step=c.step, detail=c.detail,
        reconnect_ms=c.reconnect_ms,
        write_ms=result.get("write_ms"), read_ms=result.get("read_ms"), bytes=result.get("bytes"))


class LocalRun:
    def __init__(self, spec: CellSpec, on_step: Callable[[str], None] | None = None,
                 after_round: Callable[[int, "LocalRun"], None] | None = None):
        self.spec = spec
        self.on_step = on_step or (lambda s: None)
        self.after_round = after_round or (lambda index, run: None)  # e.g. the soak's sampling
        self.target_host = listen_host_for(spec.target_netns, spec.host)
        self.port = spec.port or free_port(spec.host if not spec.target_netns else "127.0.0.1")
        self.log_dir = Path(spec.log_dir or tempfile.mkdtemp(prefix="rdmacheck-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.procs: list[RoleProcess] = []
        self.said_exec = False  # the fall-back from forking is reported once

    def _spawn(self, role: Role, faults: Faults = Faults()) -> RoleProcess:
        """Start a role process; `faults` are injected into this process only (spec.inject: into all)."""
        p = self.spec
        netns = p.target_netns if role == Role.TARGET else None
        proc, blocker = spawn_role(p, role, (self.target_host, self.port), self.log_dir / f"{role}.log", netns, faults)
        if blocker and not self.said_exec:
            self.said_exec = True
            self.on_step(f"role processes start as fresh interpreters (slower): {blocker}")
        self.procs.append(proc)
        return proc

    def run(self, cell: CellResult | None = None) -> CellResult:
        """Run the cell into `cell` (a fresh CellResult of the spec by default) and return it."""
        cell = cell or CellResult.of(self.spec)
        t0 = time.monotonic()
        cell.rounds_planned = self.spec.rounds
        cell.logs = str(self.log_dir)
        cell.skip_reason = skip_reason(self.spec)
        if cell.skip_reason:
            cell.conclude()
            return cell
        try:
            self._run(cell)
        except (RoleFailed, DeadlineExceeded, RdmacheckError) as e:
            # A failure outside a round (start-up): the cell fails with the step it waited on.
            cell.rounds.append(RoundResult(index=len(cell.rounds), verdict=FAIL,
                                           finding=getattr(e, "finding", None) or _finding_of(e),
                                           step=getattr(e, "step", None) or getattr(e, "waited_for", None),
                                           detail=str(e)))
        finally:
            # Initiators first, so none of them reports the target's shutdown as a lost peer.
            for p in sorted(self.procs, key=lambda p: p.label != Role.INITIATOR):
                p.stop()
            cell.duration_s = round(time.monotonic() - t0, 3)
            cell.conclude()
        return cell

    def _start_pair(self, cell: CellResult) -> tuple[RoleProcess, RoleProcess]:
        """Target, then initiator, then round 0: the first verified write."""
        p = self.spec
        self.on_step("starting target")
        target = self._spawn(Role.TARGET)
        tready = target.wait_for("ready", p.start_timeout, "the target to be ready")
        cell.provider = tready.get("provider", cell.provider)
        cell.strategy_used = tready.get("strategy")
        cell.mode = tready.get("mode", cell.mode)
        self.on_step("starting initiator")
        initiator = self._spawn(Role.INITIATOR)
        iready = initiator.wait_for("ready", p.start_timeout, "the initiator to be ready")
        first = initiator.wait_for({"verified", "verify_failed"}, p.round_timeout, "the first verified write")
        cell.rounds.append(self._round_from(0, first, iready))
        return target, initiator

    def _run(self, cell: CellResult) -> None:
        p = self.spec
        target, initiator = self._start_pair(cell)
        self.after_round(0, self)
        for r in range(1, p.rounds + 1):
            self.on_step(f"round {r}/{p.rounds}: restart {p.restart}")
            try:
                if p.restart is Restart.INITIATOR:
                    initiator, rr = self._restart_initiator(r, target, initiator)
                else:
                    target, rr = self._restart_target(r, target, initiator)
            except (RoleFailed, DeadlineExceeded) as e:
                rr = RoundResult(index=r, verdict=FAIL,
                                 finding=self._reported_finding() or getattr(e, "finding", None) or _finding_of(e),
                                 step=getattr(e, "step", None) or getattr(e, "waited_for", None), detail=str(e))
                cell.rounds.append(rr)
                return  # the roles are in an unknown state: stop the cell here
            cell.rounds.append(rr)
            self.after_round(r, self)

    def _end(self, proc: RoleProcess) -> float:
        """The fault: kill -9 (or SIGTERM for a clean exit), wait for the exit, then the delay."""
        t = proc.kill(getattr(signal, f"SIG{self.spec.restart_signal}"))
        proc.stop()
        time.sleep(self.spec.restart_delay)
        return t

    def _reported_finding(self) -> str | None:
        """The latest finding a surviving role reported (a non-fatal error event, e.g. the target's
        'silent reset' or refused accept): it says more than the other side's resulting failure."""
        for p in self.procs:
            p.mark()  # read what each role has said so far
        found = [e for p in self.procs for e in p.events
                 if e["event"] == "error" and e.get("finding") and not e.get("fatal")]
        return max(found, key=lambda e: e["ts"])["finding"] if found else None

    def _round_from(self, index: int, result: dict, ready: dict, start_ts: float | None = None) -> RoundResult:
        return round_from(index, result, ready, start_ts)

    def _restart_initiator(self, r: int, target: RoleProcess, old: RoleProcess) -> tuple[RoleProcess, RoundResult]:
        p = self.spec
        mark = target.mark()
        t_kill = self._end(old)
        # From the mark taken before the kill: an event that has already arrived must count, but not
        # one stamped before the kill (the initiator's normal close after its last round). With etcd
        # the initiator closes its control connection after every round by design: only the watch's
        # peer_restarted tells of a death there (a close racing the kill would not).
        seen = {"peer_restarted"} if p.metadata else {"peer_disconnected", "peer_restarted"}
        gone = _optional(lambda: target.wait_for(seen, 10,
                                                 "the target to notice the initiator died", since=mark,
                                                 not_before=t_kill))
        new = self._spawn(Role.INITIATOR)
        ready = new.wait_for("ready", p.start_timeout, "the restarted initiator to be ready")
        result = new.wait_for({"verified", "verify_failed"}, p.round_timeout,
                              "the first verified write after the restart")
        rr = self._round_from(r, result, ready)
        rr.survivor = Role.TARGET
        rr.restarted_qpn = ready.get("qpn")
        noticed = [e for e in target.events[mark:] if e["ts"] >= t_kill and e["event"] in seen] or \
            ([gone] if gone else [])
        if noticed:
            first = noticed[0]
            rr.detect_ms = round((first["ts"] - t_kill) * 1000, 3)
            rr.detect_via = first.get("via") or "control connection closed"
        self._survivor_report(rr, target.find("reestablished", since=mark), target.find("error", since=mark))
        return new, rr

    def _restart_target(self, r: int, old: RoleProcess, initiator: RoleProcess) -> tuple[RoleProcess, RoundResult]:
        p = self.spec
        mark = initiator.mark()
        t_kill = self._end(old)
        new = self._spawn(Role.TARGET)
        ready = new.wait_for("ready", p.start_timeout, "the restarted target to be ready")
        lost = initiator.wait_for("peer_lost", p.round_timeout, "the initiator to notice the target died", since=mark)
        result = initiator.wait_for({"verified", "verify_failed"}, p.round_timeout,
                                    "the first verified write after the restart")
        # The survivor's dead-peer probe (a WRITE left to fail: ~0.47 s on rxe) is a measurement, not
        # part of re-establishing: a target back before it ends is timed from the probe's end.
        probe = initiator.find("dead_peer_probe", since=mark)
        rr = self._round_from(r, result, ready, probe["ts"] if probe else None)
        rr.survivor = Role.INITIATOR
        rr.detect_ms, rr.detect_via = round((lost["ts"] - t_kill) * 1000, 3), lost.get("via")
        if probe:
            rr.probe_status, rr.probe_ms = probe.get("wc_status"), probe.get("after_ms")
            rr.probe_wait_ms = round(max(0.0, probe["ts"] - ready["ts"]) * 1000, 3)
        connected = new.find("connected")
        rr.restarted_qpn = connected.get("qpn") if connected else None
        self._survivor_report(rr, initiator.find("reestablished", since=mark), None)
        return new, rr

    @staticmethod
    def _survivor_report(rr: RoundResult, re: dict | None, err: dict | None) -> None:
        if re:
            rr.survivor_qpn_before, rr.survivor_qpn_after = re.get("qpn_before"), re.get("qpn_after")
            rr.renew_ms, rr.renew_timings_ms = re.get("renew_ms"), re.get("timings_ms", {})
            rr.connect_timings_ms = re.get("connect_timings_ms", {})
        elif rr.verdict == PASS:
            rr.verdict, rr.finding = FAIL, "survivor-silent"
        if err and err.get("finding") and rr.verdict == FAIL and not rr.finding:
            rr.finding = err["finding"]


def skip_reason(spec: CellSpec) -> str | None:
    """Cells that cannot run on these devices, said before anything starts."""
    from rdmacheck.verbs.devices import is_iwarp_device  # noqa: PLC0415

    if spec.mode is not Mode.OOB:
        return None
    for name in {spec.device, spec.device_of(Role.TARGET)}:
        if is_iwarp_device(name):
            return oob_on_iwarp_reason(name)
    return None


def _finding_of(e: Exception) -> str:
    return "deadline" if isinstance(e, DeadlineExceeded) else "role-crashed"


def _optional(fn):
    try:
        return fn()
    except DeadlineExceeded:
        return None
