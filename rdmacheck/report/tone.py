"""T-one result files: test_results.json = {"test_case", "status": "Pass"|"Fail", "timestamp"}."""

from __future__ import annotations

import time
from pathlib import Path

from rdmacheck.report.results import RunResult, write_json_atomic


def _record(test_case: str, ok: bool) -> dict:
    return {"test_case": test_case, "status": "Pass" if ok else "Fail",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def write_tone(run: RunResult, directory: Path, test_case: str = "rdmacheck-matrix") -> None:
    """DIR/test_results.json for the whole run, DIR/<cell id>/test_results.json for each cell."""
    write_json_atomic(directory / "test_results.json", _record(test_case, run.all_met()))
    for c in run.cells:
        write_json_atomic(directory / c.cell_id / "test_results.json", _record(c.cell_id, bool(c.met)))
