"""The T-one job script, run for real with rxe0 standing in for both eRDMA NICs."""
import json
import os
import subprocess

from tests.conftest import ROOT, require_device


def test_tone_script_writes_exact_result_file(tmp_path):
    require_device("rxe0")
    env = dict(os.environ, RDMACHECK_TARGET_DEVICE="rxe0", RDMACHECK_INITIATOR_DEVICE="rxe0",
               RDMACHECK_STRATEGIES="recreate", RDMACHECK_RESTART="initiator", RDMACHECK_ROUNDS="1",
               RDMACHECK_LENGTH="64KiB", TONE_LOG_DIR=str(tmp_path))
    r = subprocess.run(["bash", str(ROOT / "ci/tone/test_rdmacheck.sh")], env=env, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    result = json.loads((tmp_path / "test_results.json").read_text())
    assert set(result) == {"test_case", "status", "timestamp"}
    assert result == {**result, "test_case": "rdmacheck-reestablish", "status": "Pass"}
    cells = json.loads((tmp_path / "results.json").read_text())["cells"]
    assert len(cells) == 1 and all(c["verdict"] == "PASS" for c in cells)
    assert (tmp_path / "junit.xml").exists()
