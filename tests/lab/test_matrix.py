"""The matrix on real verbs in the lab: verdicts, expectations, report, interruption."""
import json
import signal
import subprocess
import sys
import time

from tests.conftest import ROOT, rdmacheck, require_device
from tests.lab.test_cm_iwarp import SIW_RESET_FINDINGS


def check_restart_round(x, strategy, restart):
    """The survivor re-established with its strategy; a dead target was noticed in bounded time."""
    assert x["survivor"] == ("target" if restart == "initiator" else "initiator")
    if strategy == "reset":
        assert x["survivor_qpn_after"] == x["survivor_qpn_before"], x
    else:
        assert x["survivor_qpn_after"] != x["survivor_qpn_before"], x
    assert 0 < x["reconnect_ms"] < 60000
    if restart == "target":
        assert 0 <= x["detect_ms"] < 5000, x
        # the survivor's probe WRITE to the dead peer ends with a completion (rxe: RETRY_EXC_ERR;
        # siw: LOC_QP_OP_ERR or WR_FLUSH_ERR once the TCP stream is reset, or the post refused
        # outright if the reset came first; SUCCESS right after the kill, while the dead process's
        # QP still exists), or at its deadline (siw, now and then: neither completes nor flushes);
        # never a hang. The deadline: 2 x the retry bound + 0.5 s = 1.44 s with the defaults.
        assert x["probe_status"] not in (None, "none"), x
        if x["probe_status"] == "no completion":
            assert x["probe_ms"] <= 1_500, x
        # reconnect is timed from the later of the restarted target's ready and the probe's end
        assert x["probe_wait_ms"] is not None and x["probe_wait_ms"] >= 0, x


def grid(res):
    return {(c["device"], c["mode"], c["strategy"], c["restart"]): c for c in res["cells"]}


def test_default_matrix_verdicts_and_report_reproduces_the_table(tmp_path):
    require_device("rxe0")
    require_device("siw0")
    out = tmp_path / "m.json"
    r = rdmacheck("matrix", "--rounds", "1", "--json", str(out), "--junit", str(tmp_path / "j.xml"),
                  "--tone", str(tmp_path / "tone"), "--plain", timeout=900)
    assert r.returncode == 0, r.stdout + r.stderr[-3000:]
    res = json.loads(out.read_text())
    g = grid(res)
    for mode in ("oob", "cm"):
        for strategy in ("reset", "recreate"):
            for restart in ("initiator", "target"):
                rxe = g[("rxe0", mode, strategy, restart)]
                print("checking", mode, strategy, restart)  # shown with a failure: which cell
                assert rxe["verdict"] == "PASS", rxe
                assert [x["verdict"] for x in rxe["rounds"]] == ["PASS", "PASS"]
                check_restart_round(rxe["rounds"][1], strategy, restart)
                siw = g[("siw0", mode, strategy, restart)]
                if mode == "oob":
                    assert siw["verdict"] == "SKIP" and "iWARP" in siw["skip_reason"]
                elif strategy == "recreate":
                    assert siw["verdict"] == "PASS", siw
                    check_restart_round(siw["rounds"][1], strategy, restart)
                else:  # reuse of a reset QP on iWARP: a precise finding, in bounded time, expected
                    assert siw["verdict"] == "FAIL" and siw["met"] is True
                    assert siw["rounds"][0]["verdict"] == "PASS" and siw["rounds"][1]["verdict"] == "FAIL"
                    assert siw["finding"] in SIW_RESET_FINDINGS, siw
                    assert siw["duration_s"] < 120
    assert res["finished"] and not res["interrupted"] and res["rdma_core"]
    rep = rdmacheck("report", str(out))
    assert rep.returncode == 0
    assert rep.stdout == r.stdout  # the same table, from the file alone
    assert json.loads((tmp_path / "tone" / "test_results.json").read_text())["status"] == "Pass"


def run_siw_reset_cell(tmp_path, expect: str):
    """One siw cm reset cell (restart initiator) judged by the [[expect]] rule given."""
    require_device("siw0")
    sc = tmp_path / "one-cell.toml"
    sc.write_text('[scenario]\nname = "one"\n[grid]\ndevices = ["siw0"]\nmodes = ["cm"]\n'
                  'strategies = ["reset"]\nrestart = ["initiator"]\n[run]\nrounds = 1\n'
                  f'[[expect]]\nprovider = "siw"\nstrategy = "reset"\n{expect}\n')
    return rdmacheck("run", str(sc), "--json", str(tmp_path / "r.json"), "--plain", timeout=300)


def test_a_flipped_expectation_fails_the_run(tmp_path):
    r = run_siw_reset_cell(tmp_path, 'verdict = "PASS"')
    assert r.returncode == 1, r.stdout + r.stderr
    assert "did not meet their expectation" in r.stdout and "≠ expected PASS" in r.stdout


def test_sigint_leaves_a_valid_results_file_with_the_finished_cells(tmp_path):
    require_device("rxe0")
    out = tmp_path / "m.json"
    p = subprocess.Popen([sys.executable, "-m", "rdmacheck", "matrix", "--devices", "rxe0", "--modes", "oob",
                          "--rounds", "1", "--json", str(out), "--plain"], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        if out.exists() and len(json.loads(out.read_text())["cells"]) >= 1:
            break
        time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    res = json.loads(out.read_text())
    assert res["interrupted"] is True and not res["finished"]
    assert 1 <= len(res["cells"]) < 4
    assert all(c["verdict"] in ("PASS", "FAIL", "SKIP") and c["met"] is not None for c in res["cells"])
    assert "results so far are in" in err


def test_a_fail_with_a_finding_the_expectation_does_not_name_fails_the_run(tmp_path):
    """An expected FAIL is expected only with the findings its rule names: a harness regression
    (a deadline, a crashed role) on a cell known to fail would otherwise pass unnoticed."""
    r = run_siw_reset_cell(tmp_path, 'verdict = "FAIL"\nfindings = ["silent-reset"]')  # not what siw does
    assert r.returncode == 1, r.stdout + r.stderr
    assert "unexpected finding" in r.stdout and ("reuse-refused" in r.stdout or "write-stalled" in r.stdout)
