"""Renderers and writers on a real results file (a default matrix run in the lab)."""
import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from rdmacheck.expectations import Expectation
from rdmacheck.output.files import write_json_atomic
from rdmacheck.output.junit import junit_xml
from rdmacheck.output.tone import write_tone
from rdmacheck.scenario.result import (
    CellResult,
    RunResult,
    run_from_dict,
)
from rdmacheck.scenario.table import render_matrix
from tests.conftest import rdmacheck

DATA = Path(__file__).parent / "data" / "matrix-lab.json"


def load():
    return run_from_dict(json.loads(DATA.read_text()))


def test_results_file_roundtrips(tmp_path):
    run = load()
    write_json_atomic(tmp_path / "r.json", run.to_dict())
    again = run_from_dict(json.loads((tmp_path / "r.json").read_text()))
    assert again.cells == run.cells and again.schema_version == 1


def test_newer_schema_is_refused_clearly(tmp_path):
    d = json.loads(DATA.read_text())
    d["schema_version"] = 99
    (tmp_path / "r.json").write_text(json.dumps(d))
    r = rdmacheck("report", str(tmp_path / "r.json"))
    assert r.returncode == 2 and "results schema version 99" in r.stderr


def test_table_shows_each_cell_with_notes():
    c = Console(width=200, record=True)
    render_matrix(load(), c)
    text = c.export_text()
    assert "siw0 (siw)" in text and "rxe0 (rxe)" in text
    assert "FAIL [2] (expected)" in text and "SKIP [1]" in text
    assert "[1] oob mode needs an IB/RoCE device" in text
    assert "16 cells: 10 pass, 2 fail (2 expected), 4 skip — all cells met their expectations" in text


def test_junit_parses_and_counts():
    root = ET.fromstring(junit_xml(load()))
    assert root.tag == "testsuite" and root.get("tests") == "16" and root.get("failures") == "0"
    cases = root.findall("testcase")
    assert len(cases) == 16 and all(c.get("classname") and c.get("name") and c.get("time") for c in cases)
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert len(skipped) == int(root.get("skipped")) == 6
    assert any("expected failure" in c.find("skipped").get("message") for c in skipped)


def test_junit_reports_a_regression_as_failure_with_finding_and_step():
    run = load()
    flipped = [Expectation.of("PASS", provider="siw", strategy="reset")]
    for c in run.cells:
        c.judge(flipped)
    root = ET.fromstring(junit_xml(run))
    failures = [c.find("failure") for c in root.findall("testcase") if c.find("failure") is not None]
    assert root.get("failures") == "2" and len(failures) == 2
    assert "refused to reuse the reset QP" in failures[0].get("message")
    assert not run.all_met()


def test_tone_files_have_exact_keys(tmp_path):
    run = load()
    write_tone(run, tmp_path)
    top = json.loads((tmp_path / "test_results.json").read_text())
    assert set(top) == {"test_case", "status", "timestamp"} and top["status"] == "Pass"
    assert top["timestamp"].endswith("Z") and "T" in top["timestamp"]
    cell = json.loads((tmp_path / "siw0.cm.reset.restart-initiator" / "test_results.json").read_text())
    assert cell["status"] == "Pass"  # an expected failure meets its expectation


def test_expectations_most_specific_wins_and_skip_always_meets():
    cell = CellResult(device="siw0", provider="siw", mode="cm", strategy="reset", restart="target", verdict="FAIL")
    rules = [Expectation.of("FAIL", provider="siw"),
             Expectation.of("PASS", provider="siw", strategy="reset", restart="target")]
    cell.judge(rules)
    assert cell.expected == "PASS" and cell.met is False
    skip = replace(cell, verdict="SKIP")
    skip.judge(rules)
    assert skip.met is True


def test_report_command_renders_and_writes(tmp_path):
    r = rdmacheck("report", str(DATA), "--junit", str(tmp_path / "j.xml"), "--tone", str(tmp_path / "tone"))
    assert r.returncode == 0, r.stderr
    assert "all cells met their expectations" in r.stdout
    assert (tmp_path / "j.xml").exists() and (tmp_path / "tone" / "test_results.json").exists()


def test_reconnect_is_timed_from_the_later_of_ready_and_the_survivors_probe_end():
    from rdmacheck.scenario.local import LocalRun

    verified = {"event": "verified", "ts": 100.350, "write_ms": 1.0}
    ready = {"event": "ready", "ts": 100.0}
    assert LocalRun._round_from(None, 1, verified, ready, 100.300).reconnect_ms == 50.0  # probe ended later
    assert LocalRun._round_from(None, 1, verified, ready, 99.0).reconnect_ms == 350.0  # probe ended before ready
    assert LocalRun._round_from(None, 1, verified, ready).reconnect_ms == 350.0
    failed = LocalRun._round_from(None, 1, {"event": "verify_failed", "ts": 101.0, "finding": "x"}, ready, 100.3)
    assert failed.verdict == "FAIL" and failed.reconnect_ms is None and failed.finding == "x"


def test_the_dead_peer_probe_waits_twice_the_transports_retry_bound():
    from rdmacheck.roles.initiator import probe_deadline_s
    from rdmacheck.verbs.rc import QPTuning

    assert abs(QPTuning().retry_bound_s() - 0.4698) < 1e-3  # 7 x 4.096 us x 2^14
    assert abs(probe_deadline_s(QPTuning(), 30.0) - 1.4395) < 1e-3
    assert QPTuning(retry_cnt=7).retry_bound_s() is None and probe_deadline_s(QPTuning(retry_cnt=7), 30.0) == 10.0
    assert QPTuning(timeout=0).retry_bound_s() is None
    assert probe_deadline_s(QPTuning(timeout=20), 5.0) == 5.0  # never past --io-timeout


def test_mooncake_junit_and_tone_fail_a_bad_round_and_every_round_never_reached(tmp_path):
    import json
    from pathlib import Path

    from rdmacheck.engines.mooncake import Engine
    from rdmacheck.mooncake.reestablish_result import (
        MooncakePlan,
        MooncakeResult,
        MooncakeRound,
    )

    plan = MooncakePlan(host="10.0.0.1", engine=Engine(Path("/engines/0.3.13.post1/bin/python"), "0.3.13.post1"),
                        device="erdma_0", engine_role="target", restart="initiator", rounds=3)
    res = MooncakeResult(plan=plan, rounds=[
        MooncakeRound(index=0, ok=True, start_s=2.0, first_write_ms=150.0, target_ok=True, readback_ok=True),
        MooncakeRound(index=1, ok=False, start_s=2.1, target_verify="first mismatch at byte 0", finding="engine-never-rehandshook",
                      finding_detail="no Connection request")],
        error="the engine exited")
    root = ET.fromstring(junit_xml(res))
    assert (root.get("tests"), root.get("failures"), root.get("skipped")) == ("3", "2", "0")
    cases = root.findall("testcase")
    assert [c.get("name") for c in cases] == ["restart-initiator.round-0", "restart-initiator.round-1",
                                              "restart-initiator.round-2"]
    assert cases[0].find("failure") is None and cases[0].get("time") == "2.150"
    assert cases[1].find("failure").get("message") == "engine-never-rehandshook: no Connection request"
    assert "first mismatch at byte 0" in cases[1].find("failure").text
    assert cases[2].find("failure").get("message") == "not reached: the engine exited"
    write_tone(res, tmp_path)
    status = {p.parent.name: json.loads(p.read_text())["status"] for p in tmp_path.rglob("test_results.json")}
    assert status == {tmp_path.name: "Fail", "round-0": "Pass", "round-1": "Fail", "round-2": "Fail"}


def test_no_round_passes_without_verified_data_and_a_fault_row_is_not_a_pass():
    from rdmacheck.scenario.result import RoundResult

    cell = CellResult(device="rxe0", provider="rxe", mode="oob", strategy="reset", restart="initiator", rounds_planned=1)
    cell.rounds = [RoundResult(index=0, verdict="SKIP", fault=True, detail="the initiator killed itself at after-rtr"),
                   RoundResult(index=1, verdict="PASS", bytes=65536, reconnect_ms=40.0)]
    cell.conclude()
    assert cell.verdict == "PASS"
    empty = CellResult(device="rxe0", provider="rxe", mode="oob", strategy="reset", restart="initiator")
    empty.rounds = [RoundResult(index=0, verdict="PASS")]  # what kill-at's round 0 used to be: no data moved
    empty.conclude()
    assert empty.verdict == "FAIL" and empty.finding == "no-data-verified"


def test_a_fail_with_a_finding_the_rule_does_not_name_is_unexpected():
    rules = [Expectation.of("FAIL", provider="siw", strategy="reset", findings=("reuse-refused", "write-stalled"))]
    known = CellResult(device="siw0", provider="siw", mode="cm", strategy="reset", restart="target", verdict="FAIL",
                       finding="reuse-refused")
    known.judge(rules)
    assert known.met is True
    regression = replace(known, finding="deadline")  # e.g. a harness deadline, a crashed role: not siw's limit
    regression.judge(rules)
    assert regression.met is False and regression.expected == "FAIL"
    run = RunResult(command="matrix", cells=[regression], finished=True)
    assert not run.all_met()
    from rich.console import Console
    console = Console(record=True, width=200)
    render_matrix(run, console)
    text = console.export_text()
    assert "unexpected finding" in text and "deadline: a bounded wait ran out" in text
