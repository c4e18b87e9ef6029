"""kill-at:STEP cells: the restart side's first process SIGKILLs itself at a named protocol step,
comes back without the fault, and the pair must carry verified data again - or fail with a
verdict - within the round deadline. Never a hang.

Round 0 is the kill (did the process die at that step?), round 1 the recovery."""

from __future__ import annotations

import time

from rdmacheck.faults import INITIATOR_STEPS, Fault, Faults
from rdmacheck.roles.process import RoleProcess
from rdmacheck.scenario.cell import CellSpec
from rdmacheck.scenario.local import LocalRun
from rdmacheck.scenario.result import FAIL, SKIP, CellResult, RoundResult
from rdmacheck.words import Role

# Steps the target has no hook for (it cannot tell that an initiator's WRITE is in flight).
INITIATOR_ONLY = INITIATOR_STEPS


class KillRun(LocalRun):
    def __init__(self, spec: CellSpec, step: str, on_step=None):
        super().__init__(spec, on_step)
        self.step = step
        self.armed = True  # only the victim's first process carries the fault

    def _spawn(self, role: Role, faults: Faults = Faults()) -> RoleProcess:
        if role == self.spec.restart and self.armed:
            self.armed = False
            faults = faults + Faults((Fault("kill-at", self.step),))
        return super()._spawn(role, faults)

    def _run(self, cell: CellResult) -> None:
        p = self.spec
        cell.rounds_planned = 1
        victim = Role(p.restart)
        other = Role.TARGET if victim is Role.INITIATOR else Role.INITIATOR
        procs = {Role.TARGET: self._spawn(Role.TARGET)}
        ready = procs[Role.TARGET].wait_for("ready", p.start_timeout, "the target to be ready")
        cell.provider, cell.strategy_used = ready.get("provider", cell.provider), ready.get("strategy")
        procs[Role.INITIATOR] = self._spawn(Role.INITIATOR)
        if self.step == "during-reestablish":  # the victim must survive the other side's restart
            procs[Role.INITIATOR].wait_for({"verified", "verify_failed"}, p.round_timeout, "the first verified write")
            self.on_step(f"restarting the {other}; the {victim} dies re-establishing")
            self._end(procs[other])
            procs[other] = self._spawn(other)
        t0 = time.monotonic()
        status = procs[victim].wait_exit(p.round_timeout)
        fault = procs[victim].find("fault_injected")
        if status is None or fault is None:
            cell.rounds.append(RoundResult(
                index=0, verdict=FAIL, step=self.step, fault=True, finding="kill-step-not-reached",
                detail=f"the {victim} {'is still running' if status is None else f'exited with {status}'} "
                       f"{p.round_timeout:g} s later"))
            return
        cell.rounds.append(RoundResult(index=0, verdict=SKIP, step=self.step, fault=True,
                                       detail=f"the {victim} killed itself at {self.step} (exit {status})"))
        procs[victim].stop()
        self.on_step(f"the {victim} died at {self.step}; restarting it")
        initiator = procs[Role.INITIATOR]
        mark = initiator.mark() if victim is Role.TARGET else 0
        new = self._spawn(victim)
        ready = new.wait_for("ready", p.start_timeout, f"the restarted {victim} to be ready")
        if victim is Role.INITIATOR:
            initiator = new
        result = initiator.wait_for({"verified", "verify_failed"}, p.round_timeout,
                                    f"a verified write after the {victim} came back", since=mark)
        rr = self._round_from(1, result, ready)
        rr.step = rr.step or self.step
        rr.detail = rr.detail or f"recovered {time.monotonic() - t0:.1f} s after the kill"
        cell.rounds.append(rr)
