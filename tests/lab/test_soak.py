"""A short soak on real verbs: restart rounds in a loop, no RDMA object or RSS growth."""
import json

from tests.conftest import rdmacheck, require_device


def test_short_soak_leaks_nothing(tmp_path):
    require_device("rxe0")
    out = tmp_path / "soak.json"
    r = rdmacheck("soak", "-d", "rxe0", "--rounds", "10", "--strategy", "reset", "--json", str(out), timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr[-2000:]
    res = json.loads(out.read_text())
    assert res["verdict"] == "PASS" and res["leaked"] == {}
    assert len(res["samples"]) == 11
    # the sampling is real: while both roles live, each holds a QP
    assert all(s["counts"]["qp"] >= 2 for s in res["samples"])
