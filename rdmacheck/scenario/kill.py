"""kill-at:STEP cells: the restart side's first process SIGKILLs itself at a named protocol step,
comes back without the fault, and the pair must carry verified data again - or fail with a
verdict - within the round deadline. Never a hang.

Round 0 is the kill (did the process die at that step?), round 1 the recovery."""

from __future__ import annotations

import time

from rdmacheck.report.results import FAIL, PASS, CellResult, RoundResult
from rdmacheck.scenario.local import LocalPlan, LocalRun
from rdmacheck.scenario.process import RoleProcess

# Steps the target has no hook for (it cannot tell that an initiator's WRITE is in flight).
INITIATOR_ONLY = ("mid-write",)


class KillRun(LocalRun):
    def __init__(self, plan: LocalPlan, step: str, on_step=None):
        super().__init__(plan, on_step)
        self.step = step
        self.armed = True  # only the victim's first process carries the fault

    def _spawn(self, role: str, faults: tuple[str, ...] = ()) -> RoleProcess:
        if role == self.plan.restart and self.armed:
            self.armed = False
            faults = (*faults, f"kill-at:{self.step}")
        return super()._spawn(role, faults)

    def _run(self, cell: CellResult) -> None:
        p = self.plan
        cell.rounds_planned = 1
        victim, other = p.restart, ("target" if p.restart == "initiator" else "initiator")
        procs = {"target": self._spawn("target")}
        ready = procs["target"].wait_for("ready", p.start_timeout, "the target to be ready")
        cell.provider, cell.strategy_used = ready.get("provider", cell.provider), ready.get("strategy")
        procs["initiator"] = self._spawn("initiator")
        if self.step == "during-reestablish":  # the victim must survive the other side's restart
            procs["initiator"].wait_for({"verified", "verify_failed"}, p.round_timeout, "the first verified write")
            self.on_step(f"restarting the {other}; the {victim} dies re-establishing")
            self._end(procs[other])
            procs[other] = self._spawn(other)
        t0 = time.monotonic()
        status = procs[victim].wait_exit(p.round_timeout)
        fault = procs[victim].find("fault_injected")
        if status is None or fault is None:
            cell.rounds.append(RoundResult(
                index=0, verdict=FAIL, step=self.step, finding="the kill step was never reached",
                detail=f"the {victim} {'is still running' if status is None else f'exited with {status}'} "
                       f"{p.round_timeout:g} s later"))
            return
        cell.rounds.append(RoundResult(index=0, verdict=PASS, step=self.step,
                                       detail=f"the {victim} killed itself at {self.step} (exit {status})"))
        procs[victim].stop()
        self.on_step(f"the {victim} died at {self.step}; restarting it")
        initiator = procs["initiator"]
        mark = initiator.mark() if victim == "target" else 0
        new = self._spawn(victim)
        ready = new.wait_for("ready", p.start_timeout, f"the restarted {victim} to be ready")
        if victim == "initiator":
            initiator = new
        result = initiator.wait_for({"verified", "verify_failed"}, p.round_timeout,
                                    f"a verified write after the {victim} came back", since=mark)
        rr = self._round_from(1, result, ready)
        rr.step = rr.step or self.step
        rr.detail = rr.detail or f"recovered {time.monotonic() - t0:.1f} s after the kill"
        cell.rounds.append(rr)


def runner_for(plan: LocalPlan, on_step=None) -> LocalRun:
    """A KillRun when the plan asks for kill-at:STEP (applied to the restart side only), a LinkDownRun
    for link-down:SECONDS (nobody is killed), else a LocalRun."""
    from dataclasses import replace

    from rdmacheck.roles.config import kill_step, link_down_seconds
    from rdmacheck.scenario.linkdown import LinkDownRun

    down = link_down_seconds(plan.inject)
    if down is not None:
        return LinkDownRun(replace(plan, inject=[f for f in plan.inject if not f.startswith("link-down:")]), down,
                           on_step)
    step = kill_step(plan.inject)
    if step is None:
        return LocalRun(plan, on_step)
    plan = replace(plan, inject=[f for f in plan.inject if not f.startswith("kill-at:")])
    if step in INITIATOR_ONLY and plan.restart != "initiator":
        from rdmacheck.errors import RdmacheckError
        raise RdmacheckError(f"kill-at:{step} applies to the initiator only (--restart initiator)")
    return KillRun(plan, step, on_step)
