"""Which runner a cell needs, and running it: every local run (reestablish --local, the matrix,
scenario files, soak, doctor --deep) goes through here."""

from __future__ import annotations

from dataclasses import replace
from typing import Callable

from rdmacheck.errors import RdmacheckError
from rdmacheck.scenario.cell import CellSpec
from rdmacheck.scenario.killat import INITIATOR_ONLY, KillRun
from rdmacheck.scenario.linkdown import LinkDownRun
from rdmacheck.scenario.local import LocalRun
from rdmacheck.scenario.result import CellResult
from rdmacheck.words import Restart


def _without(spec: CellSpec, name: str) -> CellSpec:
    return replace(spec, inject=spec.inject.without(name))


def runner_for(spec: CellSpec, on_step: Callable[[str], None] | None = None,
               after_round: Callable[[int, LocalRun], None] | None = None) -> LocalRun:
    """A KillRun when the spec asks for kill-at:STEP (applied to the restart side only), a
    LinkDownRun for link-down:SECONDS (nobody is killed), else a LocalRun. Only a plain restart
    run samples after each round (`after_round`: the soak)."""
    down = spec.inject.link_down_s
    step = spec.inject.kill_step
    if after_round and (down is not None or step is not None):
        raise RdmacheckError("kill-at and link-down cells run one fault round; they cannot be soaked")
    if down is not None:
        return LinkDownRun(_without(spec, "link-down"), down, on_step)
    if step is None:
        return LocalRun(spec, on_step, after_round)
    if step in INITIATOR_ONLY and spec.restart is not Restart.INITIATOR:
        raise RdmacheckError(f"kill-at:{step} applies to the initiator only (--restart initiator)")
    return KillRun(_without(spec, "kill-at"), step, on_step)


def run_cell(spec: CellSpec, on_step: Callable[[str], None] | None = None, cell: CellResult | None = None,
             after_round: Callable[[int, LocalRun], None] | None = None) -> CellResult:
    """Run one cell; its result (a fresh CellResult.of(spec) unless `cell` is given) is returned."""
    return runner_for(spec, on_step, after_round).run(cell)
