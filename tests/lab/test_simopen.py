"""Simultaneous open on real verbs (rxe0): both sides open the same endpoints at the same instant."""
import json

from tests.conftest import rdmacheck, require_device


def run(tmp_path, *extra, timeout=600):
    out = tmp_path / "simopen.json"
    r = rdmacheck("simopen", "-d", "rxe0", "--json", str(out), "--log-dir", str(tmp_path / "logs"), *extra,
                  timeout=timeout)
    return r, json.loads(out.read_text())


def test_64_endpoints_5_rounds_no_hang_no_duplicate_no_leak_every_endpoint_verified(tmp_path):
    require_device("rxe0")
    r, res = run(tmp_path, "--endpoints", "64", "--rounds", "5")
    assert r.returncode == 0, r.stdout + r.stderr
    assert res["verdict"] == "PASS" and res["error"] is None
    assert len(res["rounds"]) == 10  # 5 rounds x 2 sides
    for x in res["rounds"]:
        assert (x["hangs"], x["unconnected"], x["duplicates"], x["crossed"]) == (0, 0, 0, 0), x
        assert x["verified"] == 64 and x["write_failures"] == x["verify_failures"] == 0, x
        assert x["qps_in_use"] >= 64 and x["leaked_qps"] == 0, x  # the count saw the QPs, then none
        # each endpoint was asked for by 2 callers: one handshake each, never a second QP
        assert x["handshakes"]["sent"] + x["handshakes"]["answered"] >= 64, x
    assert res["leaked_total"] == 0
    merged = sum(x["handshakes"]["merged"] for x in res["rounds"])
    assert merged > 0, "no handshake ever met an endpoint that was CONNECTING: the open was not simultaneous"
    assert "PASS" in r.stdout and "hangs 0, duplicate QPs 0, crossed 0" in r.stdout


def test_delete_policy_shows_the_old_bug(tmp_path):
    require_device("rxe0")
    r, res = run(tmp_path, "--endpoints", "32", "--rounds", "1", "--passive-policy", "delete",
                 "--connect-timeout", "20", "--io-timeout", "3")
    assert r.returncode == 1, r.stdout + r.stderr
    assert res["verdict"] == "FAIL"
    t = res["totals"]
    assert t["crossed"] + t["duplicates"] > 0, t
    assert t["write_failures"] + t["verify_failures"] + t["hangs"] > 0, t  # the traffic breaks, too
    assert "FAIL" in r.stdout


def test_simopen_with_a_token_authenticates_every_handshake(tmp_path):
    require_device("rxe0")
    r, res = run(tmp_path, "--endpoints", "8", "--rounds", "1", "--token", "simopen-token-0123456789")
    assert r.returncode == 0, r.stdout + r.stderr
    assert res["verdict"] == "PASS" and all(x["verified"] == 8 for x in res["rounds"]), res
