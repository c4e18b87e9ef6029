"""Run an engines matrix: every cell that applies (cells.CELLS), each in fresh engine processes, judged
against the shipped expectations (expected.py) as it ends."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from rdmacheck import interrupts
from rdmacheck.enginematrix.cells import CELLS, applies
from rdmacheck.enginematrix.expected import expectation_for
from rdmacheck.enginematrix.plan import EngineMatrixPlan
from rdmacheck.enginematrix.result import EngineCell, EngineMatrixResult
from rdmacheck.engines.engine import Engine


def run_cell(plan: EngineMatrixPlan, engine: Engine, scenario: str, etcd: str | None) -> EngineCell:
    d = plan.log_dir / engine.label.replace(" ", "-") / scenario
    t0 = time.monotonic()
    cell = CELLS[(engine.kind, scenario)](plan, engine, scenario, d, etcd)
    cell.duration_s = round(time.monotonic() - t0, 3)
    cell.logs = str(d)
    cell.judge(expectation_for(engine.kind, engine.release, scenario))
    return cell


def run_engine_matrix(plan: EngineMatrixPlan) -> EngineMatrixResult:
    from rdmacheck.metadata.local_etcd import EtcdServer  # noqa: PLC0415

    res = EngineMatrixResult(device=plan.device, releases=[e.label for e in plan.engines],
                             scenarios=list(plan.scenarios),
                             planned=sum(s in applies(e.kind) for e in plan.engines for s in plan.scenarios),
                             command=plan.command)
    for e in plan.engines:
        skipped = [s for s in plan.scenarios if s not in applies(e.kind)]
        if skipped:
            res.notes.append(f"{e.label}: {', '.join(skipped)} do not apply (not run)")
    t0 = time.monotonic()
    server = None
    etcd = plan.etcd
    try:
        if "etcd-restart" in plan.scenarios and etcd is None:
            server = EtcdServer(Path(tempfile.mkdtemp(prefix="rdmacheck-etcd-")) / "data").start()
            etcd = server.url
            res.notes.append(f"etcd-restart cells used a throwaway etcd at {etcd}")
        for engine in plan.engines:
            for scenario in [s for s in plan.scenarios if s in applies(engine.kind)]:
                interrupts.check()
                cell = run_cell(plan, engine, scenario, etcd)
                res.cells.append(cell)
                plan.on_cell(cell)
    finally:
        if server is not None:
            server.remove()
        res.duration_s = round(time.monotonic() - t0, 3)
    return res


def judge_again(res: EngineMatrixResult) -> EngineMatrixResult:
    """A results file read back (`report`): every cell judged by today's shipped expectations, from its
    verdict and findings, never from the `met` it was stored with."""
    for c in res.cells:
        c.judge(expectation_for(c.engine, c.release.split()[-1], c.scenario))
    return res
