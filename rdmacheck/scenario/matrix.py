"""The matrix: every device x mode x strategy x restart side of one or more scenarios, run with
the local restart runner, judged against expectations, saved after every cell."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

from rdmacheck.errors import EnvironmentProblem
from rdmacheck.report.expectations import judge
from rdmacheck.report.progress import Progress
from rdmacheck.report.results import CellResult, RunResult, write_json_atomic
from rdmacheck.scenario.kill import runner_for
from rdmacheck.scenario.local import LocalPlan
from rdmacheck.scenario.spec import Scenario
from rdmacheck.verbs.devices import DeviceInfo, list_devices, rdma_core_version
from rdmacheck.verbs.rc import QPTuning

ERDMA_LIKE = ("siw", "erdma", "irdma", "cxgb4")


@dataclass(frozen=True)
class CellPlan:
    scenario: Scenario
    device: DeviceInfo
    target_device: str | None
    mode: str
    strategy: str
    restart: str

    @property
    def label(self) -> str:
        return f"{self.device.name} {self.mode} {self.strategy} restart={self.restart}"


def auto_devices(present: list[DeviceInfo]) -> list[DeviceInfo]:
    """One device per provider, among those with an IPv4 address in this network namespace."""
    chosen: dict[str, DeviceInfo] = {}
    for d in present:
        if any("." in a for p in d.ports for a in p.netdev_ips) and d.provider not in chosen:
            chosen[d.provider] = d
    return list(chosen.values())


def plan_cells(sc: Scenario, present: list[DeviceInfo]) -> list[CellPlan]:
    by_name = {d.name: d for d in present}
    devices: list[tuple[DeviceInfo, str | None]] = []
    for i, name in enumerate(sc.devices):
        if name == "auto":
            devices += [(d, None) for d in auto_devices(present)]
            continue
        if name not in by_name:
            raise EnvironmentProblem(f"{sc.source}: no RDMA device named {name!r}; devices here: "
                                     f"{', '.join(by_name) or 'none'}")
        devices.append((by_name[name], sc.target_devices[i] if sc.target_devices else None))
    cells = []
    for (dev, tdev), mode, strategy, restart in itertools.product(devices, sc.modes, sc.strategies, sc.restarts):
        mode = ("cm" if dev.is_iwarp else "oob") if mode == "auto" else mode
        if strategy == "auto":
            strategy = "recreate" if dev.is_iwarp or dev.provider in ERDMA_LIKE else "reset"
        cp = CellPlan(sc, dev, tdev, mode, strategy, restart)
        if cp not in cells:
            cells.append(cp)
    return cells


def local_plan(cp: CellPlan, log_dir: Path | None) -> LocalPlan:
    sc = cp.scenario
    return LocalPlan(device=cp.device.name, target_device=cp.target_device, restart=cp.restart,
                     strategy=cp.strategy, mode=cp.mode, rounds=sc.rounds, buffer_size=sc.buffer_size,
                     length=sc.length, start_timeout=sc.start_timeout, round_timeout=sc.round_timeout,
                     reconnect_timeout=sc.reconnect_timeout, io_timeout=sc.io_timeout, tuning=QPTuning(),
                     restart_signal=sc.restart_signal, restart_delay=sc.restart_delay, gid_index=sc.gid_index,
                     log_dir=log_dir / cp.label.replace(" ", "_").replace("=", "-") if log_dir else None)


def new_run(command: str) -> RunResult:
    present = list_devices()
    return RunResult(command=command, rdma_core=rdma_core_version(),
                     devices=[{"name": d.name, "provider": d.provider, "node_type": d.node_type,
                               "transport": d.transport} for d in present])


def run_matrix(scenarios: list[Scenario], out: Path, progress: Progress, command: str,
               log_dir: Path | None = None) -> RunResult:
    """Run every cell; the results file is rewritten after each one, and on Ctrl-C."""
    run = new_run(command)
    present = list_devices()
    plans = [cp for sc in scenarios for cp in plan_cells(sc, present)]
    if not plans:
        raise EnvironmentProblem("the matrix has no cells: no device matched (see `rdmacheck devices`)")
    write_json_atomic(out, run.to_dict())
    try:
        for i, cp in enumerate(plans):
            progress.cell_start(i, len(plans), cp.label)
            cell = CellResult(device=cp.device.name, provider=cp.device.provider, mode=cp.mode,
                              strategy=cp.strategy, restart=cp.restart, scenario=cp.scenario.name)
            run.cells.append(cell)
            runner_for(local_plan(cp, log_dir), on_step=progress.step).run(cell)
            judge(cell, cp.scenario.expectations)
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
