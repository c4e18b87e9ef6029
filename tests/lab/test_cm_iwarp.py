"""rdma_cm mode and iWARP on real soft-iWARP (siw) and Soft-RoCE (rxe)."""
from rdmacheck.endpoint import REUSE_REFUSED, REUSE_STALLED
from tests.conftest import rdmacheck, require_device
from tests.lab.test_reestablish import run_local

# What reusing a reset QP does on siw, measured over 22 cells: it refuses the reconnect (EINVAL on
# accept / CONNECT_ERROR: 21), or reconnects and never completes the WRITE (1). The shipped
# expectations accept exactly these two.
SIW_RESET_FINDINGS = (REUSE_REFUSED, REUSE_STALLED)

# siw and rxe in cm mode, both strategies and restart sides, are cells of the default matrix:
# tests/lab/test_matrix.py asserts their verdicts, findings and QP numbers.


def test_siw_oob_is_a_skip_that_says_why():
    require_device("siw0")
    r = rdmacheck("reestablish", "--local", "-d", "siw0", "--mode", "oob", "--rounds", "1")
    assert r.returncode == 2
    assert "SKIP: oob mode needs an IB/RoCE device; siw0 is iWARP" in r.stderr and "use --mode cm" in r.stderr


def test_siw_oob_single_role_is_a_clear_error():
    require_device("siw0")
    r = rdmacheck("reestablish", "--role", "target", "-d", "siw0", "--mode", "oob", "--listen", "127.0.0.1:0")
    assert r.returncode == 2 and "oob mode needs an IB/RoCE device" in r.stderr and "Traceback" not in r.stderr


def test_auto_mode_picks_cm_on_iwarp(tmp_path):
    require_device("siw0")
    r, res = run_local(tmp_path, "initiator", "auto", rounds=1, device="siw0")
    assert r.returncode == 0, r.stdout + r.stderr
    cell = res["cells"][0]
    assert cell["mode"] == "cm" and cell["strategy_used"] == "recreate"


def test_two_hosts_in_two_network_namespaces_siw_recreate(tmp_path):
    require_device("siw1")
    require_device("siw2")
    r, res = run_local(tmp_path, "initiator", "recreate", device="siw1",
                       extra=("--target-device", "siw2", "--target-netns", "hostb", "--mode", "cm"))
    assert r.returncode == 0, r.stdout + r.stderr
    cell = res["cells"][0]
    assert cell["verdict"] == "PASS" and len(cell["rounds"]) == 3
