"""T-one result files: test_results.json = {"test_case", "status": "Pass"|"Fail", "timestamp"}."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from rdmacheck.report.results import RunResult, write_json_atomic
from rdmacheck.words import Verdict

if TYPE_CHECKING:
    from rdmacheck.report.engine_matrix_result import EngineMatrixResult
    from rdmacheck.report.mooncake_result import MooncakeResult


def _record(test_case: str, ok: bool) -> dict:
    return {"test_case": test_case, "status": "Pass" if ok else "Fail",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def write_records(directory: Path, run_case: str, run_ok: bool, cases: list[tuple[str, bool]]) -> None:
    """DIR/test_results.json for the whole run, DIR/<case>/test_results.json for each case."""
    write_json_atomic(directory / "test_results.json", _record(run_case, run_ok))
    for name, ok in cases:
        write_json_atomic(directory / name / "test_results.json", _record(name, ok))


def write_tone(run: RunResult, directory: Path, test_case: str = "rdmacheck-matrix") -> None:
    write_records(directory, test_case, run.all_met(), [(c.cell_id, bool(c.met)) for c in run.cells])


def write_mooncake_tone(res: MooncakeResult, directory: Path) -> None:
    """The run, and each planned round (one never reached is a Fail)."""
    done = {r.index: r.ok for r in res.rounds}
    write_records(directory, "rdmacheck-mooncake-reestablish", res.verdict == Verdict.PASS,
                  [(f"round-{i}", done.get(i, False)) for i in range(res.plan.rounds)])


def write_engine_matrix_tone(res: EngineMatrixResult, directory: Path) -> None:
    write_records(directory, "rdmacheck-mooncake-matrix", res.all_met(), [(c.cell_id, c.met) for c in res.cells])
