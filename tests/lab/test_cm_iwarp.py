"""rdma_cm mode and iWARP on real soft-iWARP (siw) and Soft-RoCE (rxe)."""
import pytest

from rdmacheck.endpoint import REUSE_REFUSED
from rdmacheck.roles.initiator import NEVER_ARRIVED
from tests.conftest import rdmacheck, require_device
from tests.lab.test_reestablish import run_local

# What reusing a reset QP may do on iWARP: refuse (siw: EINVAL on accept / CONNECT_ERROR), or
# accept and lose the data (eRDMA), or not reset at all.
REUSE_FINDINGS = (REUSE_REFUSED, NEVER_ARRIVED, "silent reset")


@pytest.mark.parametrize("restart", ["initiator", "target"])
def test_siw_cm_recreate_passes_every_round(tmp_path, restart):
    require_device("siw0")
    r, res = run_local(tmp_path, restart, "recreate", device="siw0", extra=("--mode", "cm"))
    assert r.returncode == 0, r.stdout + r.stderr
    cell = res["cells"][0]
    assert cell["mode"] == "cm" and cell["verdict"] == "PASS"
    for x in cell["rounds"][1:]:
        assert x["survivor_qpn_after"] != x["survivor_qpn_before"]


@pytest.mark.parametrize("restart", ["initiator", "target"])
def test_siw_cm_reset_fails_with_a_precise_finding_in_bounded_time(tmp_path, restart):
    require_device("siw0")
    r, res = run_local(tmp_path, restart, "reset", device="siw0", extra=("--mode", "cm", "--io-timeout", "10"))
    assert r.returncode == 1, r.stdout + r.stderr
    cell = res["cells"][0]
    assert cell["verdict"] == "FAIL"
    assert cell["rounds"][0]["verdict"] == "PASS"  # the first connection works; reuse is what fails
    assert cell["rounds"][1]["verdict"] == "FAIL"
    assert cell["finding"] in REUSE_FINDINGS, cell
    assert cell["duration_s"] < 120


@pytest.mark.parametrize("strategy", ["reset", "recreate"])
def test_rxe_cm_both_strategies_pass(tmp_path, strategy):
    require_device("rxe0")
    r, res = run_local(tmp_path, "initiator", strategy, device="rxe0", extra=("--mode", "cm"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert res["cells"][0]["verdict"] == "PASS" and res["cells"][0]["mode"] == "cm"


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
