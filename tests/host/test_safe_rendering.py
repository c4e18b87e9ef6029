"""Text from outside (a peer's etcd value, a results file given to `report`, an engine's log line) is data
on every terminal renderer: markup such as `[/x]` or `[bold]` is printed as it is, never parsed (a
MarkupError was an internal error), and control characters are shown escaped, never sent to a terminal."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from rdmacheck.enginematrix.render import render_engine_matrix
from rdmacheck.enginematrix.result import EngineCell, EngineMatrixResult
from rdmacheck.engines.race_result import RaceResult, RaceSide, RaceTrial
from rdmacheck.fleet.protocol import PairOutcome
from rdmacheck.fleet.render import render_fleet
from rdmacheck.fleet.result import FleetResult
from rdmacheck.mooncake.render import render_race
from rdmacheck.output.console import printable, safe_console
from rdmacheck.scenario.result import run_from_dict
from rdmacheck.scenario.table import render_matrix
from rdmacheck.words import Verdict

DATA = Path(__file__).parent / "data"
HOSTILE = ["[/x]", "[bold]loud[/bold]", "open [/dev/infiniband/uverbs0] failed", "\x1b[2J\x1b]0;owned\x07", "a\rb"]


def _render(fn, result) -> str:
    out = io.StringIO()
    fn(result, safe_console(file=out, width=200, color_system=None))
    return out.getvalue()


def _shown(text: str, rendered: str) -> None:
    assert printable(text) in rendered.replace("\n", ""), (text, rendered)
    assert "\x1b" not in rendered and "\x07" not in rendered and "\r" not in rendered


@pytest.mark.parametrize("bad", HOSTILE)
def test_the_fleet_table_prints_hosts_findings_and_details_as_text(bad):
    res = FleetResult(run="r", pairing="all", hosts=["a", bad], finished=True)
    res.pairs = [PairOutcome(0, "a", bad, Verdict.FAIL, finding=bad, step=bad, detail=bad, reported_by=bad)]
    text = _render(render_fleet, res)
    _shown(bad, text)


@pytest.mark.parametrize("bad", HOSTILE)
def test_the_engines_matrix_prints_evidence_findings_and_notes_as_text(bad):
    cell = EngineCell(bad, "race", Verdict.FAIL, [bad], [bad], 1.0, {}, engine="mooncake")
    res = EngineMatrixResult("rxe0", [bad], ["race"], [cell], notes=[bad], planned=1)
    _shown(bad, _render(render_engine_matrix, res))


@pytest.mark.parametrize("bad", HOSTILE)
def test_a_matrix_results_file_given_to_report_is_printed_as_text(bad):
    d = json.loads((DATA / "matrix-lab.json").read_text())
    for c in d["cells"]:
        c["device"] = bad
        if c["verdict"] == "FAIL":
            c["finding"] = "reuse-refused"
    run = run_from_dict(d)
    _shown(bad, _render(render_matrix, run))


@pytest.mark.parametrize("bad", HOSTILE)
def test_an_engines_log_line_is_printed_as_text(bad):
    side = RaceSide(name=bad, blocked=1, last_log_line=bad)
    res = RaceResult(release=bad, device="rxe0", threads=1, length=1, hang_after_s=1.0, trials_planned=1,
                     trials=[RaceTrial(0, sides=[side, side], error=bad)])
    _shown(bad, _render(render_race, res))


def test_printable_escapes_every_control_character_but_tab_and_newline():
    assert printable("a\tb\nc") == "a\tb\nc"
    assert printable("\x00\x1b\x7f\x9b") == "\\x00\\x1b\\x7f\\x9b"


def test_junit_xml_stays_parsable_whatever_a_finding_holds():
    import xml.etree.ElementTree as ET

    from rdmacheck.output.junit import suite_xml
    from rdmacheck.output.outcome import Case

    evil = "f\x00\x01\x1b\ud800\uffff[/x]"
    root = ET.fromstring(suite_xml([Case(id="a", classname=evil, name=evil, time_s=1.0, failure=evil,
                                         failure_type=evil, failure_text=evil, skipped=evil, logs=evil)]))
    failure = root.find("testcase/failure")
    assert failure.get("message") == "f\\x00\\x01\\x1b\\ud800\\uffff[/x]" and failure.text == failure.get("message")


@pytest.mark.parametrize("field, value", [("duration_s", "x"), ("finding", ["x"]), ("rounds", {}), ("verdict", "MAYBE")])
def test_a_matrix_file_of_the_wrong_types_given_to_report_with_junit_is_one_line_exit_2(tmp_path, field, value):
    from tests.conftest import rdmacheck

    d = json.loads((DATA / "matrix-lab.json").read_text())
    d["cells"][0][field] = value
    path = tmp_path / "m.json"
    path.write_text(json.dumps(d))
    r = rdmacheck("report", str(path), "--junit", str(tmp_path / "j.xml"))
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and f"$.cells[0].{field}" in r.stderr, r.stderr


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_output_files_get_the_mode_the_umask_gives(tmp_path, mask, mode):
    import os

    from rdmacheck.output.files import write_text_atomic

    old = os.umask(mask)
    try:
        write_text_atomic(tmp_path / "f.prom", "x 1\n")
    finally:
        os.umask(old)
    assert (tmp_path / "f.prom").stat().st_mode & 0o777 == mode
