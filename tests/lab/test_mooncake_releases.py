"""Real Mooncake engine releases (one venv each, installed by set-up) on rxe0, in the lab: the
forced and the natural simultaneous open, a restart cell on the oldest and newest release, and the
engine's etcd metadata mode. Every expectation here was measured first (README: "Which Mooncake
releases survive what")."""
import json

import pytest

from tests.conftest import rdmacheck, require_device

OLD, NEW = "0.3.10", "0.3.13.post1"
# 0.3.10's natural race hung in 34 of 43 trials here (README): a trial passes by luck with p ~ 0.21, so
# 6 trials all passing by luck has p ~ 0.21^6 = 9e-5 (< 1 in 1,000 even at p = 0.3: 7e-4).
RACE_TRIALS = 6


def _run(tmp_path, *args, timeout=300):
    out = tmp_path / "out.json"
    r = rdmacheck("mooncake", *args, "-d", "rxe0", "--json", str(out), "--log-dir", str(tmp_path / "logs"),
                  timeout=timeout)
    assert out.exists(), r.stdout + r.stderr
    return r, json.loads(out.read_text())


def test_forced_simultaneous_open_on_0_3_10_finds_the_bug_within_its_deadline(tmp_path):
    require_device("rxe0")
    r, res = _run(tmp_path, "simopen", "--engine", OLD, "--endpoints", "2", "--answer-timeout", "4")
    assert r.returncode == 1 and res["verdict"] == "FAIL", r.stdout
    assert "engine-answer-withheld" in res["findings"], res["findings"]
    for h in res["rounds"][0]["handshakes"]:
        assert h["engine_request_at_s"] is not None, "the engine's own request must have arrived first"
        assert h["engine_answer_error"] and "timed out" in h["engine_answer_error"], h
        assert 4000 <= h["engine_answer_ms"] < 6000, "the wait ends at its deadline, not later"
    assert res["duration_s"] < 60, res["duration_s"]


def test_forced_simultaneous_open_on_0_3_13_post1_merges_and_data_is_verified(tmp_path):
    require_device("rxe0")
    r, res = _run(tmp_path, "simopen", "--engine", NEW, "--endpoints", "2", "--rounds", "2")
    assert r.returncode == 0 and res["verdict"] == "PASS", r.stdout
    for rnd in res["rounds"]:
        for h in rnd["handshakes"]:
            assert h["engine_answer_error"] is None and h["engine_answer_qpns"] == h["engine_request_qpns"], h
            assert h["data_ok"] and h["write_back_ok"] and "match seed" in h["write_back"], h
        assert any("Received same peer QP numbers" in line for line in rnd["engine_log"]), rnd["engine_log"]


def test_natural_race_on_0_3_10_hangs_and_is_reported_at_the_watchdog(tmp_path):
    require_device("rxe0")
    r, res = _run(tmp_path, "race", "--engine", OLD, "--trials", str(RACE_TRIALS), "--hang-after", "4")
    assert r.returncode == 1 and res["hung"] >= 1, r.stdout
    assert res["findings"] == ["engine-write-hung"], res["findings"]
    for t in res["trials"]:
        blocked = [s["blocked"] for s in t["sides"]]
        assert len(t["sides"]) == 2 and (all(b == 0 for b in blocked) or any(blocked)), t
    assert res["duration_s"] < RACE_TRIALS * 25, "a hang must cost the watchdog, not the engine's own 30-60 s"


def test_natural_race_on_0_3_13_post1_every_trial_passes_with_data_verified_on_both_sides(tmp_path):
    require_device("rxe0")
    r, res = _run(tmp_path, "race", "--engine", NEW, "--trials", str(RACE_TRIALS))
    assert r.returncode == 0 and res["passed"] == RACE_TRIALS, r.stdout
    for t in res["trials"]:
        for s in t["sides"]:
            assert (s["verified"], s["returned"], s["blocked"]) == (True, 1, 0), s
            assert "match seed" in s["verify"], s


@pytest.mark.parametrize("release", [OLD, NEW])
def test_restart_cell_on_the_oldest_and_newest_release(tmp_path, release):
    require_device("rxe0")
    r, res = _run(tmp_path, "matrix", "--engines", release, "--scenarios", "restart-initiator", "--rounds", "2")
    assert r.returncode == 0 and res["all_met"], r.stdout
    cell = res["cells"][0]
    assert cell["verdict"] == "PASS" and cell["detail"]["verdict"] == "PASS"
    assert [x["ok"] for x in cell["detail"]["rounds"]] == [True, True, True]


def test_the_engines_etcd_metadata_mode_on_the_newest_release(tmp_path, etcd_server):
    require_device("rxe0")
    r, res = _run(tmp_path, "matrix", "--engines", NEW, "--scenarios", "etcd-restart", "--etcd", etcd_server.url)
    assert r.returncode == 0 and res["all_met"], r.stdout
    detail = res["cells"][0]["detail"]
    assert [x["ok"] for x in detail["rounds"]] == [True, True, True], detail["rounds"]
    assert {x["restarted_name"] for x in detail["rounds"]} == {"rdmacheck-initiator"}, "the engine's own name"
    assert detail["engine_log"]["reestablish"] >= 2, detail["engine_log"]
