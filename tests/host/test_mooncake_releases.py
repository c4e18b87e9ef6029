"""Pure logic of the Mooncake release work: dialect detection from what a peer sends, the driver's
simultaneous writes, findings read off recorded facts, expectations and the matrix outputs. The
engines themselves run only in the lab (tests/lab/test_mooncake_releases.py)."""
import io
import json
import threading
import time
import xml.etree.ElementTree as ET

import pytest
from rich.console import Console

from rdmacheck.errors import EnvironmentProblem
from rdmacheck.engines import driver
from rdmacheck.engines import mooncake as engines
from rdmacheck.enginematrix.result import EngineCell, EngineMatrixResult
from rdmacheck.engines.evidence import evidence, log_lines
from rdmacheck.enginematrix.expected import expectation_for
from rdmacheck.mooncake.forced_open_result import HeldHandshake
from rdmacheck.mooncake.messages import ConnectionDesc
from rdmacheck.mooncake.peer import Dialect
from rdmacheck.engines.race_result import RaceSide, RaceTrial
from rdmacheck.enginematrix.render import render_engine_matrix
from rdmacheck.output.junit import junit_xml
from rdmacheck.words import Verdict

GID = "00:00:00:00:00:00:00:00:00:00:ff:ff:a9:fe:1e:01"
V0310 = {"local_nic_path": "10.0.0.1:15000@rxe0", "peer_nic_path": "10.0.0.2:16000@rxe0", "qp_num": [17, 18],
         "reply_msg": ""}  # what 0.3.10 sends (its encoder: no lid/gid, no ready_ack)
V0311 = {**V0310, "local_gid": GID, "local_lid": 0}
V0312 = {**V0311, "ready_ack": False}


@pytest.mark.parametrize("msg, gid, ack", [(V0310, False, False), (V0311, True, False), (V0312, True, True)])
def test_the_dialect_is_read_off_what_the_peer_sends(msg, gid, ack):
    d = Dialect()
    d.saw_connection(msg)
    assert (d.gid_in_connection, d.ready_ack) == (gid, ack)


def test_a_legacy_request_gets_a_reply_without_the_ready_ack_key_and_no_gid_is_required():
    req = ConnectionDesc.from_json(V0310)
    assert req.ready_ack is None and req.local_gid == ""
    reply = ConnectionDesc("me@rxe0", req.local_nic_path, [5, 6], GID, ready_ack=req.ready_ack).to_json()
    assert "ready_ack" not in reply  # a 0.3.12+ engine would otherwise wait for an ACK that never comes
    assert "ready_ack" in ConnectionDesc.from_json(V0312).to_json()


class FakeSide:
    """Records when each write started; one target's calls block until released."""

    def __init__(self, block_peer: str | None = None):
        self.mem = bytearray(1 << 16)
        self.starts: list[tuple[str, float]] = []
        self.release = threading.Event()
        self.block_peer = block_peer

    def local_write(self, offset, data):
        self.mem[offset:offset + len(data)] = data

    def local_read(self, offset, length):
        return bytes(self.mem[offset:offset + length])

    def transfer(self, op, peer, remote_addr, length, local_offset=0):
        self.starts.append((peer, time.time()))
        if peer == self.block_peer:
            self.release.wait(5)
        if peer == "bad":
            raise RuntimeError("engine transfer_sync_write to bad returned -1")


def test_write_many_starts_every_slice_at_the_instant_and_reports_each_call(capsys):
    side = FakeSide()
    at = time.time() + 0.3
    reply = driver.write_many(side, at, [{"peer": "a", "remote_addr": 0, "seed": 1, "length": 4096, "threads": 4},
                                         {"peer": "bad", "remote_addr": 0, "seed": 2, "length": 4096}])
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(side.starts) == 5 and all(t >= at for _, t in side.starts)
    assert max(t for _, t in side.starts) - min(t for _, t in side.starts) < 0.2
    assert sorted((e["target"], e["slice"]) for e in events) == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0)]
    assert [e["ok"] for e in events if e["target"] == 1] == [False]
    assert reply == {"ok": False, "detail": "4 of 5 writes returned 0"}
    assert driver._slices(10, 4) == [(0, 3), (3, 3), (6, 3), (9, 1)]


def test_write_many_prints_the_calls_that_returned_while_another_is_still_blocked(capsys):
    side = FakeSide(block_peer="stuck")
    th = threading.Thread(target=driver.write_many, args=(side, time.time(), [
        {"peer": "stuck", "remote_addr": 0, "seed": 1, "length": 64}, {"peer": "ok", "remote_addr": 0, "seed": 2,
                                                                        "length": 64}]))
    th.start()
    time.sleep(0.3)
    early = capsys.readouterr().out
    side.release.set()
    th.join(5)
    assert [json.loads(x)["target"] for x in early.splitlines()] == [1]


def test_a_forced_open_is_judged_from_what_was_recorded():
    ok = HeldHandshake("s", engine_request_at_s=0.5, engine_request_qpns=[1, 2], engine_answer_ms=12,
                       engine_answer_qpns=[1, 2], engine_write="returned 0 after 0.2 s", engine_write_ok=True,
                       engine_readback_ok=True, data="arrived", data_ok=True, write_back_ok=True)
    assert ok.findings() == [] and ok.ok
    withheld = HeldHandshake("s", engine_request_at_s=0.5, engine_request_qpns=[1, 2], engine_answer_ms=5000,
                             engine_answer_error="TimeoutError: timed out", engine_write="returned 0 after 5.2 s",
                             engine_write_ok=True, engine_readback_ok=True, data="arrived", data_ok=True,
                             write_back="failed")
    assert withheld.findings() == ["engine-answer-withheld", "write-back-failed"]
    second = HeldHandshake("s", engine_request_at_s=0.5, engine_request_qpns=[1, 2], engine_answer_ms=9,
                           engine_answer_qpns=[3, 4], engine_write="blocked: had not returned", engine_write_ok=False)
    assert second.findings() == ["engine-second-endpoint", "engine-write-hung"]
    never = HeldHandshake("s", engine_write="failed after 0.1 s: -1")
    assert never.findings() == ["engine-write-failed"]
    # its READ back returned an error (0.3.10 after a withheld answer, lab 2026-12-07): a transfer call's error,
    # not a mismatch of data it never read
    unread = HeldHandshake("s", engine_request_at_s=0.5, engine_request_qpns=[1, 2], engine_answer_ms=5000,
                           engine_answer_error="TimeoutError: timed out", engine_write="returned 0 after 5.2 s",
                           engine_write_ok=True, engine_readback="RuntimeError: engine transfer_sync_read to s "
                           "returned -1", engine_readback_ok=False, data="the engine's pattern arrived", data_ok=True)
    assert unread.findings() == ["engine-answer-withheld", "engine-write-failed"]


def test_a_race_trial_is_a_hang_when_any_call_is_still_blocked_and_passes_only_with_both_sides_verified():
    good = RaceSide("a", returned=1, readback_ok=True, checked=True, verified=True)
    assert RaceTrial(0, [good, RaceSide("b", returned=1, readback_ok=True, checked=True, verified=True)]).outcome == "pass"
    hang = RaceTrial(1, [RaceSide("a", blocked=1), RaceSide("b", returned=1)])
    assert hang.outcome == "hang" and hang.findings() == ["engine-write-hung"]
    lost = RaceTrial(2, [RaceSide("a", returned=1, readback_ok=False, checked=True, verified=True),
                         RaceSide("b", returned=1, readback_ok=True, checked=True, verified=False)])
    assert lost.outcome == "fail" and lost.findings() == ["data-never-arrived"]
    assert RaceTrial(3, [good]).outcome == "fail"  # one side never came up: no pass


def test_a_check_that_never_answered_or_raced_its_data_is_not_lost_data():
    """Only a check made after the writer's READ back, which also failed, is data-never-arrived."""
    unanswered = RaceTrial(4, [RaceSide("a", returned=1, readback_ok=True), RaceSide("b", returned=1, readback_ok=True)],
                           error="deadline of 30 s passed while waiting for the engine's check of its memory")
    assert unanswered.outcome == "fail" and unanswered.findings() == ["deadline"]
    raced = RaceTrial(5, [RaceSide("a", returned=1, readback_ok=True, checked=True, verified=True),
                          RaceSide("b", returned=1, readback_ok=True, checked=True, verified=False)])
    assert raced.findings() == ["target-check-mismatch"]
    late = HeldHandshake("s", engine_request_at_s=0.5, engine_request_qpns=[1], engine_answer_ms=9,
                         engine_answer_qpns=[1], engine_write="returned 0", engine_write_ok=True,
                         engine_readback_ok=True, data="first mismatch at byte 0", data_ok=False)
    assert late.findings() == ["target-check-mismatch"] and not late.ok
    unchecked = HeldHandshake("s", engine_request_at_s=0.5, engine_request_qpns=[1], engine_answer_ms=9,
                              engine_answer_qpns=[1], engine_write="returned 0", engine_write_ok=True)
    assert unchecked.findings() == [] and not unchecked.ok  # never checked: never a pass


def test_engine_log_evidence_keeps_handshake_lines_counted_and_stops_at_the_given_offset(tmp_path):
    log = tmp_path / "e.log"
    lines = ["I1201 23:32:49.79 173 x.cpp:1] Transfer Engine RPC using P2P handshake, listening on 1.2.3.4:5",
             '{"event": "ready"}',
             "I1201 23:32:50.10 173 x.cpp:2] Received same peer QP numbers, reusing connection.",
             "I1201 23:32:50.11 173 x.cpp:2] Received same peer QP numbers, reusing connection.",
             "I1201 23:32:50.12 173 x.cpp:3] Topology discovery complete."]
    text = "\n".join(lines) + "\n"
    log.write_text(text + "E1201 23:33:00.00 181 p.cpp:9] SocketHandShakePlugin: failed to send message\n")
    got = log_lines(log, 0, len(text.encode()))
    assert len(got) == 4 and not any("failed to send" in x for x in got)
    assert evidence(got) == ["I Transfer Engine RPC using P2P handshake, listening on 1.2.3.4:5",
                             "I Received same peer QP numbers, reusing connection. (x2)"]


def test_expectations_are_per_release_and_scenario():
    assert expectation_for("mooncake", "0.3.10", "simopen").verdict == Verdict.FAIL
    assert expectation_for("mooncake", "0.3.10.post1", "simopen").verdict == Verdict.PASS
    assert expectation_for("mooncake", "0.3.13.post1", "restart-target").findings == ("engine-never-rehandshook",)
    assert expectation_for("mooncake", "9.9.9-mine", "race") is None  # an own build: judged PASS-or-not


def _cell(release, scenario, verdict, findings):
    c = EngineCell(release, scenario, verdict, findings, ["seen"], 1.0, {})
    c.judge(expectation_for("mooncake", release, scenario))
    return c


def test_a_cell_meets_its_expectation_only_with_the_accepted_findings():
    assert _cell("0.3.10", "race", Verdict.FAIL, ["engine-write-hung"]).met
    odd = _cell("0.3.10", "race", Verdict.FAIL, ["engine-write-hung", "data-never-arrived"])
    assert not odd.met and odd.unexpected_findings == ["data-never-arrived"]
    assert not _cell("0.3.10", "race", Verdict.PASS, []).met  # the bug gone on 0.3.10 is news too
    assert not _cell("0.3.13.post1", "race", Verdict.FAIL, ["engine-write-hung"]).met
    assert _cell("mine", "race", Verdict.PASS, []).met and not _cell("mine", "race", Verdict.FAIL, ["x"]).met


def test_matrix_outputs_name_releases_scenarios_and_expected_failures():
    res = EngineMatrixResult("rxe0", ["0.3.10", "0.3.13.post1"], ["race"],
                             [_cell("0.3.10", "race", Verdict.FAIL, ["engine-write-hung"]),
                              _cell("0.3.13.post1", "race", Verdict.FAIL, ["engine-write-hung"])])
    assert not res.all_met() and res.to_dict()["schema"] == "rdmacheck.engines-matrix/1"
    root = ET.fromstring(junit_xml(res))
    cases = {c.get("classname"): c for c in root.findall("testcase")}
    assert cases["rdmacheck.mooncake.rxe0.0.3.10"].find("skipped") is not None
    assert "expected PASS" in cases["rdmacheck.mooncake.rxe0.0.3.13.post1"].find("failure").get("message")
    out = io.StringIO()
    render_engine_matrix(res, Console(file=out, width=140, color_system=None))
    text = out.getvalue()
    assert "FAIL engine-write-hung (unexpected)" in text and "1/2 cells as expected" in text


def test_a_missing_release_is_an_environment_problem_naming_the_install_command(tmp_path, monkeypatch):
    monkeypatch.setenv("RDMACHECK_ENGINES_DIR", str(tmp_path))
    with pytest.raises(EnvironmentProblem, match="rdmacheck engines install mooncake==0.3.11"):
        engines.engine_for("0.3.11")
    with pytest.raises(EnvironmentProblem, match="does not exist"):
        engines.engine_for(str(tmp_path / "nope" / "python"))
    for r in ("0.3.13.post1", "0.3.10", "my-build", "0.3.9", "0.3.10.post1", "0.3.12"):
        (tmp_path / r).mkdir()
        (tmp_path / r / ".installed").write_text(r)
    assert [e.release for e in engines.installed()] == ["my-build", "0.3.9", "0.3.10", "0.3.10.post1", "0.3.12",
                                                        "0.3.13.post1"]


def test_probe_of_an_engine_without_probe_falls_back_to_its_metadata_answer():
    """An engine before 0.3.10.post2 logs 'unexpected handshake message type' and closes on a Probe."""
    import socket

    from rdmacheck.mooncake import wire
    from rdmacheck.mooncake.probe import probe

    srv = socket.create_server(("127.0.0.1", 0))
    desc = {"name": "127.0.0.1:1", "protocol": "rdma", "devices": [{"name": "rxe0", "lid": 0, "gid": GID}],
            "buffers": []}

    def serve():
        for _ in range(2):
            conn, _ = srv.accept()
            with conn:
                kind, _ = wire.read_message(conn, time.monotonic() + 5, "a request")
                if kind == wire.METADATA:
                    conn.sendall(wire.encode(kind, desc))

    threading.Thread(target=serve, daemon=True).start()
    res = probe("127.0.0.1", srv.getsockname()[1], timeout=5)
    srv.close()
    assert res.error is None and res.segment is not None and res.segment.devices[0].name == "rxe0"
    assert res.probe_reply is None and "before 0.3.10.post2" in res.probe_unanswered
