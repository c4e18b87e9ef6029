"""rdma_cm mode and iWARP on real soft-iWARP (siw) and Soft-RoCE (rxe)."""
import json

from rdmacheck.endpoint import REUSE_REFUSED, REUSE_STALLED
from tests.conftest import rdmacheck, require_device
from tests.lab.test_reestablish import run_local

# What reusing a reset QP does on siw, measured over 22 cells: it refuses the reconnect (EINVAL on
# accept / CONNECT_ERROR: 21), or reconnects and never completes the WRITE (1). The shipped
# expectations accept exactly these two.
SIW_RESET_FINDINGS = (REUSE_REFUSED, REUSE_STALLED, "read-stalled")

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


def _connects(log):
    evs = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    return [e for e in evs if e.get("event") in ("connected", "reestablished")]


def test_mtu_caps_the_path_mtu_rdma_cm_chose_on_rxe(tmp_path):
    """--mtu in cm mode is used, not only accepted: the QP's own path MTU says so, every connect."""
    require_device("rxe0")
    r, _ = run_local(tmp_path / "a", "target", "recreate", rounds=1, extra=("--mode", "cm", "--mtu", "256"))
    assert r.returncode == 0, r.stdout + r.stderr
    capped = _connects(tmp_path / "a" / "logs" / "initiator.log")
    assert len(capped) == 2 and all(e["path_mtu"] == 256 for e in capped), capped
    r, _ = run_local(tmp_path / "b", "target", "recreate", rounds=1, extra=("--mode", "cm"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert all(e["path_mtu"] > 256 for e in _connects(tmp_path / "b" / "logs" / "initiator.log"))


def test_mtu_and_gid_index_are_refused_where_rdma_cm_cannot_use_them():
    require_device("siw0")
    r = rdmacheck("reestablish", "--local", "-d", "siw0", "--mtu", "1024", "--rounds", "1")
    assert r.returncode == 2 and "--mtu" in r.stderr and "iWARP" in r.stderr, r.stderr
    r = rdmacheck("reestablish", "--local", "-d", "siw0", "--gid-index", "0", "--rounds", "1")
    assert r.returncode == 2 and "--gid-index" in r.stderr, r.stderr
