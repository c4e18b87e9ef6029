"""No PASS without evidence: a run that checked nothing is refused (exit 2) or a FAIL, and `report`
judges a results file again from its evidence, never from a stored `met`."""
import json
from pathlib import Path

import pytest

from rdmacheck.fleet.result import FleetResult
from rdmacheck.mooncake.forced_open_result import ForcedOpenResult
from rdmacheck.engines.race_result import RaceResult
from rdmacheck.mooncake.reestablish_result import MooncakePlan, MooncakeResult
from rdmacheck.scenario.result import CellResult
from rdmacheck.simopen.result import SimopenResult
from rdmacheck.soak.result import Sample, SoakResult, judge_soak
from tests.conftest import rdmacheck

DATA = Path(__file__).parent / "data" / "matrix-lab.json"


@pytest.mark.parametrize("args", [
    ("mooncake", "reestablish", "-d", "rxe0", "--rounds", "0"),
    ("mooncake", "simopen", "-d", "rxe0", "--rounds", "0"),
    ("mooncake", "race", "-d", "rxe0", "--trials", "0"),
    ("mooncake", "matrix", "-d", "rxe0", "--race-trials", "0"),
    ("simopen", "-d", "rxe0", "--rounds", "0"),
    ("reestablish", "--local", "-d", "rxe0", "--rounds", "0"),
    ("fleet", "run", "--metadata", "etcd://127.0.0.1:1", "--expect", "1"),
    ("fleet", "run", "--metadata", "etcd://127.0.0.1:1", "--expect", "0"),
    ("fleet", "run", "--metadata", "etcd://127.0.0.1:1", "--hosts", "a,a"),
    ("soak", "-d", "rxe0", "--rounds", "2"),
], ids=lambda a: " ".join(a))
def test_zero_work_is_refused_before_anything_runs(args):
    r = rdmacheck(*args)
    assert r.returncode == 2, r.stdout + r.stderr
    flag = next(a for a in args if a.startswith("--") and a not in ("--local", "--metadata"))
    assert flag in r.stderr and "Traceback" not in r.stderr


def test_results_that_checked_nothing_are_never_a_pass():
    assert ForcedOpenResult("r", "rxe0", 1, 0, 5.0).verdict == "FAIL"
    assert "no-evidence" in ForcedOpenResult("r", "rxe0", 1, 0, 5.0).findings()
    race = RaceResult("r", "rxe0", 1, 1, 5.0, 0)
    assert race.verdict == "FAIL" and race.findings() == ["no-evidence"]
    assert MooncakeResult(MooncakePlan(host="h", engine=None, rounds=0)).verdict == "FAIL"
    assert SimopenResult("rxe0", 1, 0, "reuse", 1, qps_before=0, qps_after=0).verdict == "FAIL"
    fleet = FleetResult(run="r", pairing="all", hosts=["a"], finished=True)
    assert not fleet.healthy and not fleet.ok  # zero pairs: no evidence of health


def test_a_soak_too_short_to_judge_is_a_fail_not_a_pass():
    res = SoakResult(cell=CellResult(device="rxe0", provider="rxe", mode="oob", strategy="reset",
                                     restart="initiator", verdict="PASS"))
    # QPs 1 -> 90 and RSS 1 MB -> 1 GB, over two rounds: the old judge took the last sample as the baseline
    res.samples = [Sample(0, {"pd": 1, "cq": 1, "qp": 1, "mr": 1, "cm_id": 0}, 1024),
                   Sample(1, {"pd": 1, "cq": 1, "qp": 45, "mr": 1, "cm_id": 0}, 500_000),
                   Sample(2, {"pd": 1, "cq": 1, "qp": 90, "mr": 1, "cm_id": 0}, 1_000_000)]
    judge_soak(res)
    assert res.verdict == "FAIL" and res.reason.startswith("no-evidence")


def test_report_judges_again_and_never_trusts_a_stored_met(tmp_path):
    data = json.loads(DATA.read_text())
    cell = next(c for c in data["cells"] if c["verdict"] == "PASS")
    cell["verdict"], cell["finding"] = "FAIL", "deadline"  # edited: met stays true in the file
    assert cell["met"] is True
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(data))
    r = rdmacheck("report", str(edited))
    assert r.returncode == 1, r.stdout
    assert "1 cell(s) did not meet their expectation" in r.stdout
    known = next(c for c in data["cells"] if c["verdict"] == "FAIL" and c["expected"] == "FAIL")
    known["finding"] = "deadline"  # a finding the expectation does not accept
    edited.write_text(json.dumps(data))
    assert "2 cell(s) did not meet" in rdmacheck("report", str(edited)).stdout


def test_rejudge_uses_the_stored_expectation():
    c = CellResult(device="siw0", provider="siw", mode="cm", strategy="reset", restart="target", verdict="FAIL",
                   finding="reuse-refused", expected="FAIL", expected_findings=["reuse-refused"], met=False)
    c.rejudge()
    assert c.met is True
    c.finding = "deadline"
    c.rejudge()
    assert c.met is False
