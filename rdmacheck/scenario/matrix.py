"""The matrix: every cell of one or more scenarios, run with the local restart runner, judged
against the scenario's expectations, saved after every cell."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from rdmacheck import interrupts
from rdmacheck.errors import EnvironmentProblem
from rdmacheck.output.files import write_json_atomic
from rdmacheck.scenario.cell import CellSpec
from rdmacheck.scenario.progress import Progress
from rdmacheck.scenario.result import CellResult, RunResult
from rdmacheck.scenario.runner import run_cell
from rdmacheck.scenario.spec import Scenario
from rdmacheck.verbs.devices import list_devices, rdma_core_version


def new_run(command: str) -> RunResult:
    present = list_devices()
    return RunResult(command=command, rdma_core=rdma_core_version(),
                     devices=[{"name": d.name, "provider": d.provider, "node_type": d.node_type,
                               "transport": d.transport} for d in present])


def cell_log_dir(spec: CellSpec, log_dir: Path | None) -> Path | None:
    """One folder per cell under --log-dir (None: the runner makes a temp dir)."""
    return log_dir / spec.label.replace(" ", "_").replace("=", "-") if log_dir else None


def run_matrix(scenarios: list[Scenario], out: Path, progress: Progress, command: str,
               log_dir: Path | None = None) -> RunResult:
    """Run every cell; the results file is rewritten after each one, and on Ctrl-C."""
    run = new_run(command)
    present = list_devices()
    plans = [(sc, spec) for sc in scenarios for spec in sc.cells(present)]
    if not plans:
        raise EnvironmentProblem("the matrix has no cells: no device matched (see `rdmacheck devices`)")
    write_json_atomic(out, run.to_dict())
    try:
        for i, (sc, spec) in enumerate(plans):
            interrupts.check()
            progress.cell_start(i, len(plans), spec.label)
            cell = run_cell(replace(spec, log_dir=cell_log_dir(spec, log_dir)), on_step=_checked(progress.step),
                            cell=_appended(run, spec))
            cell.judge(sc.expectations)
            write_json_atomic(out, run.to_dict())
            progress.cell_done(cell)
        run.finished = True
    except KeyboardInterrupt:
        run.interrupted = True
        if run.cells and run.cells[-1].met is None:
            run.cells.pop()  # the cell that was cut short has no verdict
        raise
    finally:
        progress.close()
        write_json_atomic(out, run.to_dict())
    return run


def _appended(run: RunResult, spec: CellSpec) -> CellResult:
    """The cell's result, in the run before it starts (so Ctrl-C mid-cell knows which one to drop)."""
    cell = CellResult.of(spec)
    run.cells.append(cell)
    return cell


def _checked(step: Callable[[str], None]) -> Callable[[str], None]:
    """Each step first raises an interrupt that was swallowed on its way (see interrupts.py)."""
    def checked(text: str) -> None:
        interrupts.check()
        step(text)
    return checked
