"""T-one result files: test_results.json = {"test_case", "status": "Pass"|"Fail", "timestamp"}."""

from __future__ import annotations

import time
from pathlib import Path

from rdmacheck.output.files import write_json_atomic
from rdmacheck.output.outcome import Outcome


def _record(test_case: str, ok: bool) -> dict:
    return {"test_case": test_case, "status": "Pass" if ok else "Fail",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def write_tone(result: Outcome, directory: Path) -> None:
    """DIR/test_results.json for the whole run, DIR/<case>/test_results.json for each case (a case
    given twice, as a retested fleet pair, is recorded as it ended)."""
    write_json_atomic(directory / "test_results.json", _record(result.TONE_CASE, result.ok))
    last = {c.id: c.ok for c in result.cases()}
    for name, ok in last.items():
        write_json_atomic(directory / name / "test_results.json", _record(name, ok))
