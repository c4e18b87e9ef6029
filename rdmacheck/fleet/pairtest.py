"""One pair test across two hosts, with the existing role machinery (one cell split over two agents):
the target agent runs the target role; the initiator agent runs the initiator, waits for its first
write verified by the target in its own memory, SIGKILLs it and starts it again under the same name
`restarts` times, each time until the next verified write (re-established with the cell's strategy
on the target's side). Roles are forked by the agent's fork server where it has one."""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from rdmacheck.errors import DeadlineExceeded, RdmacheckError
from rdmacheck.fleet.protocol import PairOutcome, PairSettings
from rdmacheck.fleet.schedule import Pair
from rdmacheck.fleet.schemas import LinkValue
from rdmacheck.roles.checked import WriteChecked
from rdmacheck.roles.config import RoleConfig
from rdmacheck.roles.forkserver import ForkServer
from rdmacheck.roles.process import RoleFailed, RoleProcess
from rdmacheck.roles.spawn import spawn_policy, spawn_role
from rdmacheck.words import Role, Verdict


@dataclass(frozen=True)
class PairRoles:
    """The two roles of one pair test, from the run's settings: what each role process is told."""
    settings: PairSettings
    device: str
    target: str
    initiator: str
    token: bytes | None = field(default=None, repr=False)
    spawn: str = field(default_factory=spawn_policy)

    def config(self, role: Role, addr: tuple[str, int], measure: bool = False) -> RoleConfig:
        """The target listens on addr; the initiator connects to it, restarted by run_initiator (`measure`: and
        measures the link after its first verified write)."""
        s = self.settings
        common = dict(device=self.device, strategy=s.strategy, mode=s.mode, token=self.token,
                      io_timeout=s.round_timeout)
        if role is Role.TARGET:
            return RoleConfig(role=Role.TARGET, name=self.target, listen=addr, buffer_size=s.buffer_size, **common)
        return RoleConfig(role=Role.INITIATOR, name=self.initiator, target_name=self.target, peer=addr,
                          length=s.length, rounds=0, reconnect_timeout=s.round_timeout, measure_link=measure,
                          **common)

    def start(self, role: Role, addr: tuple[str, int], log: Path, forkserver: ForkServer | None,
              measure: bool = False) -> RoleProcess:
        proc, _ = spawn_role(self.config(role, addr, measure), log, self.spawn, die_with_parent=True,
                             forkserver=forkserver)
        return proc


def start_target(roles: PairRoles, addr: tuple[str, int], log: Path,
                 forkserver: ForkServer | None = None) -> tuple[RoleProcess, dict]:
    proc = roles.start(Role.TARGET, addr, log, forkserver)
    try:
        return proc, proc.wait_for("ready", roles.settings.start_timeout, "the target to be ready")
    except BaseException:
        proc.stop()
        raise


@dataclass
class TargetServed:
    """Whether the target role has served its pair, from its own events (no etcd request): it answered
    the initiator's `checks` verifications (or one failed, which ends the pair) and the initiator then
    disconnected. The initiator's read back and comparison come before its last Verify, so nothing of
    the pair needs the target after that disconnect."""
    proc: RoleProcess
    initiator: str
    checks: int
    poll: float = 0.1  # the longest read of the role's output: how late a change of the control keys is seen
    seen: int = 0
    answered: int = 0
    failed: bool = False
    done: bool = False  # it served its pair (not: its role exited first)

    def __call__(self, wait: float) -> str | None:
        """Why the pair is over for the target, else None after reading its output for up to `wait` s."""
        self.proc.read_some(min(wait, self.poll))
        for ev in self.proc.events[self.seen:]:
            if ev.get("peer") != self.initiator:
                continue
            if ev["event"] == "verified":
                self.answered += 1
            elif ev["event"] == "verify_failed":
                self.failed = True
            elif ev["event"] == "peer_disconnected" and (self.failed or self.answered >= self.checks):
                self.done = True
                return (f"served ({self.answered} of {self.checks} checks answered"
                        f"{', one failed' if self.failed else ''}; then the initiator disconnected)")
        self.seen = len(self.proc.events)
        if self.proc.exit_status is not None:
            return f"the target role exited with status {self.proc.exit_status}"
        return None


def run_initiator(roles: PairRoles, pair: Pair, index: int, addr: tuple[str, int], log: Path,
                  forkserver: ForkServer | None = None) -> PairOutcome:
    out = PairOutcome(index, pair.target, pair.initiator, Verdict.FAIL, reported_by=pair.initiator)
    t0 = time.monotonic()
    proc = None
    try:
        s = roles.settings
        for r in range(s.restarts + 1):
            if proc is not None:
                proc.kill(signal.SIGKILL)
                proc.stop()
            measure = s.measure and r == s.restarts  # the last life: its QP has just been re-established
            proc = roles.start(Role.INITIATOR, addr, log, forkserver, measure)
            what = "the first verified write" if r == 0 else f"the verified write after restart {r}"
            ready = proc.wait_for("ready", s.start_timeout, "the initiator to be ready")
            out.mode, out.strategy = ready.get("mode"), ready.get("strategy")
            checked = WriteChecked.of(proc.wait_for({"verified", "verify_failed"}, s.round_timeout, what), ready)
            if not checked.ok:
                out.finding, out.step, out.detail = checked.finding or "verify-failed", checked.step, checked.detail
                return out
            if r:
                out.reconnect_ms.append(checked.reconnect_ms)
        out.verdict = Verdict.PASS  # the data was verified after every (re)connect; the link's numbers follow
        if s.measure:
            _measured(out, proc, s.round_timeout)
    except (RoleFailed, DeadlineExceeded, RdmacheckError) as e:
        out.finding = getattr(e, "finding", None) or ("deadline" if isinstance(e, DeadlineExceeded) else "role-crashed")
        out.step = getattr(e, "step", None) or getattr(e, "waited_for", None)
        out.detail = str(e)[:400]
    finally:
        if proc is not None:
            proc.stop()
        out.duration_s = round(time.monotonic() - t0, 3)
    return out


LINK_FIELDS = LinkValue.__struct_fields__  # what a link measurement carries: the one declared schema's fields


def _measured(out: PairOutcome, proc: RoleProcess, timeout: float) -> None:
    """The initiator's measurement of the link it has just verified, or why there is none."""
    try:
        ev = proc.wait_for({"link_measured", "link_measure_failed"}, timeout, "the link's measurement")
    except (RoleFailed, DeadlineExceeded) as e:
        out.link_error = str(e)[:300]
        return
    if ev["event"] == "link_measure_failed":
        out.link_error = str(ev.get("detail", ""))[:300]
    else:
        out.link = {k: float(ev[k]) for k in LINK_FIELDS if isinstance(ev.get(k), (int, float))}
