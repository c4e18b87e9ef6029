"""`rdmacheck bench` on real verbs (rxe0): latency, pipelined bandwidth, re-establishment cost."""
import json

from tests.conftest import rdmacheck, require_device


def test_bench_reports_latency_bandwidth_and_reestablishment_per_step(tmp_path):
    require_device("rxe0")
    out = tmp_path / "bench.json"
    r = rdmacheck("bench", "-d", "rxe0", "--iters", "200", "--rounds", "5", "--size", "64KiB", "--depth", "16",
                  "--verify", "--json", str(out), "--log-dir", str(tmp_path / "logs"), timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(out.read_text())
    assert res["provider"] == "rxe"
    for op in ("write 64 B", "read 64 B"):
        d = res["latency_us"][op]
        assert d["n"] == 200 and 0 < d["min"] <= d["median"] <= d["p99"] <= d["max"], d
    assert all(v > 0 for v in res["bandwidth_MBps"].values()) and len(res["bandwidth_MBps"]) == 2
    assert res["verified"] == 64 * 1024 * 16  # the target checked what the WRITEs left
    for strategy in ("reset", "recreate"):
        steps = res["reestablish_ms"][strategy]
        assert steps["total"]["n"] == 5
        assert steps["total"]["median"] >= steps["handshake"]["median"] > 0
        assert steps["RTR"]["min"] > 0 and steps["first write"]["min"] > 0
    assert "re-establishment · reset" in r.stdout and "re-establishment · recreate" in r.stdout
