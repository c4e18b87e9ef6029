"""`rdmacheck report` on an engines-matrix results file (the schema of today and its old name): the table,
every cell judged again by the shipped expectations, one line and exit 2 for a file that is not one."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rdmacheck.enginematrix.result import EngineCell, EngineMatrixResult, result_from_dict
from rdmacheck.words import Verdict


def _file(tmp_path, schema: str, met_stored: bool, verdict: Verdict = Verdict.FAIL) -> str:
    cell = EngineCell("0.3.13.post1", "race", verdict, ["engine-write-hung"] if verdict == Verdict.FAIL else [],
                      ["4/6 trials hung"], 3.0, {}, engine="mooncake")
    cell.met = met_stored  # what the file claims; report must not take it
    d = EngineMatrixResult("rxe0", ["0.3.13.post1"], ["race"], [cell], planned=1).to_dict()
    d["schema"] = schema
    path = tmp_path / "engines.json"
    path.write_text(json.dumps(d))
    return str(path)


def _report(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rdmacheck", "report", *args], capture_output=True, text=True,
                          timeout=60)


@pytest.mark.parametrize("schema", ["rdmacheck.engines-matrix/1", "rdmacheck.mooncake-matrix/1"])
def test_report_judges_an_engines_matrix_again_whatever_the_file_says(tmp_path, schema):
    # 0.3.13.post1 is expected to pass the race: a stored FAIL marked "met" is still a regression.
    r = _report(_file(tmp_path, schema, met_stored=True))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "FAIL engine-write-hung (unexpected)" in r.stdout and "0/1 cells as expected" in r.stdout
    r = _report(_file(tmp_path, schema, met_stored=False, verdict=Verdict.PASS))
    assert r.returncode == 0 and "1/1 cells as expected" in r.stdout, r.stdout + r.stderr


@pytest.mark.parametrize("field, value", [("verdict", "MAYBE"), ("findings", "engine-write-hung"),
                                          ("duration_s", "x"), ("evidence", [1]), ("detail", [])])
def test_a_malformed_engines_matrix_cell_is_one_line_and_exit_2(tmp_path, field, value):
    path = _file(tmp_path, "rdmacheck.engines-matrix/1", met_stored=True)
    d = json.loads(open(path).read())
    d["cells"][0][field] = value
    with pytest.raises(ValueError, match=field):
        result_from_dict(d)
    open(path, "w").write(json.dumps(d))
    r = _report(path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and field in r.stderr, r.stderr


def test_an_engines_matrix_file_refuses_html(tmp_path):
    r = _report(_file(tmp_path, "rdmacheck.engines-matrix/1", met_stored=True), "--html", str(tmp_path / "x.html"))
    assert r.returncode == 2 and "--html" in r.stderr
