"""Issue: on iWARP a WRITE completion does not mean the data is placed, and a check requested over
the control connection can overtake it. The target must check its memory only after a READ on the
same QP, ordered behind the WRITE, has completed: asserted here from the roles' own events, on rxe0
and on siw across two network namespaces, and under load on siw (a short run of the stress that
benchmarks/data_order_stress.py runs at 200 rounds)."""
import importlib.util
import json
import sys

from tests.conftest import ROOT, require_device
from tests.lab.test_reestablish import run_local

spec = importlib.util.spec_from_file_location("data_order_stress", ROOT / "benchmarks" / "data_order_stress.py")
stress = importlib.util.module_from_spec(spec)
sys.modules["data_order_stress"] = stress
spec.loader.exec_module(stress)


def _assert_ordered(log_dir, expected_checks):
    ini, tgt = stress.role_events(log_dir, "initiator"), stress.role_events(log_dir, "target")
    steps = [e["event"] for e in ini if e["event"] in ("write_done", "read_done", "target_checked")]
    assert steps and steps == ["write_done", "read_done", "target_checked"] * (len(steps) // 3), steps
    checks = [e for e in tgt if e["event"] in ("verified", "verify_failed") and "length" in e]
    assert len(checks) == expected_checks, checks
    assert stress.checks_before_read(ini, tgt) == []


def test_target_checks_only_after_the_read_back_on_rxe(tmp_path):
    require_device("rxe0")
    r, res = run_local(tmp_path, "target", "recreate", rounds=2)
    assert r.returncode == 0, r.stdout + r.stderr
    _assert_ordered(tmp_path / "logs", 3)


def test_target_checks_only_after_the_read_back_on_siw_across_namespaces(tmp_path):
    require_device("siw1")
    require_device("siw2")
    r, res = run_local(tmp_path, "initiator", "recreate", rounds=2, device="siw1",
                       extra=("--target-device", "siw2", "--target-netns", "hostb", "--mode", "cm"))
    assert r.returncode == 0, r.stdout + r.stderr
    _assert_ordered(tmp_path / "logs", 3)


def test_no_false_lost_data_on_siw_under_load(tmp_path):
    require_device("siw1")
    require_device("siw2")
    res = stress.run(12, "1MiB", 2, tmp_path)
    assert res["verdict"] == "PASS" and res["verified"] == 13, json.dumps(res)
    assert res["false_data_never_arrived"] == 0 and res["checks_before_read"] == 0
    assert res["target_checks"] == 13
