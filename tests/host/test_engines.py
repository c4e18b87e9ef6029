"""The engine-neutral layer's pure logic: specs, the NIXL evidence, pair verdicts, the matrix's plan and its
refusals. The engines themselves run in the lab (tests/lab/test_engines.py)."""
from pathlib import Path

import pytest

from rdmacheck.engines import catalog
from rdmacheck.engines.engine import Engine, build_once, marker_of
from rdmacheck.engines.evidence import nixl_evidence
from rdmacheck.engines.pair_result import PairResult, PairRound
from rdmacheck.errors import BadInput
from rdmacheck.enginematrix.result import EngineCell, EngineMatrixResult
from rdmacheck.words import Verdict


def test_specs_name_a_kind_and_a_release():
    assert catalog.parse("nixl==1.5.1") == ("nixl", "1.5.1")
    assert catalog.parse("0.3.13.post1") == ("mooncake", "0.3.13.post1")  # as `mooncake matrix` always took them
    for bad in ("foo==1.0", "nixl==", "ucx==1.2"):
        with pytest.raises(BadInput):
            catalog.parse(bad)


def test_a_failed_build_leaves_nothing_and_kinds_do_not_mix(tmp_path, monkeypatch):
    monkeypatch.setenv("RDMACHECK_ENGINES_DIR", str(tmp_path))

    def broken():
        (tmp_path / "nixl-9.9").mkdir()
        raise RuntimeError("pip failed")

    with pytest.raises(RuntimeError):
        build_once(tmp_path / "nixl-9.9", "nixl==9.9", broken)
    assert not (tmp_path / "nixl-9.9").exists()
    assert build_once(tmp_path / "nixl-1.5.1", "nixl==1.5.1", lambda: (tmp_path / "nixl-1.5.1").mkdir())
    assert build_once(tmp_path / "0.3.13", "0.3.13", lambda: (tmp_path / "0.3.13").mkdir())
    assert marker_of(tmp_path / "nixl-1.5.1") == "nixl==1.5.1"
    assert [(e.kind, e.release) for e in catalog.installed()] == [("mooncake", "0.3.13"), ("nixl", "1.5.1")]


def test_nixl_evidence_quotes_the_transport_and_the_errors(tmp_path):
    log = tmp_path / "initiator-0.log"
    log.write_text("[1796429087.138167] [rdmalab:176  :0]   |  81..477 | copy-in     | rc_verbs/rxe0:1   |\n"
                   "[1796429088.1] [rdmalab:176  :0]  ucp_worker.c:1 UCX  ERROR   Connection reset by remote peer\n"
                   "[1796429088.2] [rdmalab:176  :0]  ucp_worker.c:1 UCX  ERROR   Connection reset by remote peer\n"
                   "2026-12-05 00:13:19 NIXL INFO    _api.py:405 Backend UCX was instantiated\n")
    assert nixl_evidence([log]) == ["UCX chose rc_verbs/rxe0:1",
                                    "ucp_worker.c:1 UCX ERROR Connection reset by remote peer (x2)"]


def test_a_pair_passes_only_with_every_planned_round_verified():
    res = PairResult("restart-initiator", "nixl 1.5.1", "rxe0", rounds_planned=3)
    assert res.verdict == Verdict.FAIL and res.findings() == ["no-evidence"]
    res.rounds = [PairRound(0, "start", ok=True), PairRound(1, "restart initiator", ok=True)]
    assert res.verdict == Verdict.FAIL and res.findings() == ["rounds-missing"]
    res.rounds.append(PairRound(2, "restart initiator", ok=False, finding="engine-peer-add-failed"))
    assert res.findings() == ["engine-peer-add-failed"]
    res.rounds[-1] = PairRound(2, "restart initiator", ok=True)
    assert res.verdict == Verdict.PASS


def test_the_matrix_counts_only_the_cells_that_apply():
    res = EngineMatrixResult("rxe0", ["0.3.13.post1", "nixl 1.5.1"], ["simopen", "remove-readd"], planned=2)
    res.cells = [EngineCell("0.3.13.post1", "simopen", Verdict.PASS, [], [], 1.0, {}),
                 EngineCell("nixl 1.5.1", "remove-readd", Verdict.PASS, [], [], 1.0, {}, engine="nixl")]
    assert res.all_met()
    res.cells.pop()
    assert not res.all_met()
    cases = EngineMatrixResult("rxe0", ["nixl 1.5.1"], ["race"], planned=1,
                               cells=[EngineCell("nixl 1.5.1", "race", Verdict.PASS, [], [], 1.0, {}, engine="nixl")]).cases()
    assert cases[0].id == "nixl-1.5.1.race" and cases[0].classname == "rdmacheck.nixl.rxe0.1.5.1"


def _nixl(spec):
    return Engine(Path("/engines/nixl-1.5.1/bin/python"), "1.5.1", "nixl", "rdmacheck.engines.nixl_side")


@pytest.mark.parametrize("args,named", [
    (["--engines", "nixl==1.5.1", "-d", "siw0"], "--device"),
    (["--engines", "nixl==1.5.1", "-d", "rxe0", "--scenarios", "simopen,etcd-restart"], "--scenarios"),
    (["--engines", "nixl==1.5.1", "-d", "rxe0", "--scenarios", "race", "--etcd", "etcd://127.0.0.1:2379"], "--etcd"),
    (["--engines", "nixl==1.5.1", "-d", "rxe0", "--scenarios", "race", "--endpoints", "3"], "--endpoints"),
    (["--engines", "nixl==1.5.1", "-d", "rxe0", "--answer-timeout", "3"], "--answer-timeout"),  # NIXL: no simopen
    (["--engines", "nixl==1.5.1", "-d", "rxe0", "--scenarios", "remove-readd", "--race-trials", "3"], "--race-trials"),
    (["--engines", "nixl==1.5.1", "-d", "rxe0", "--scenarios", "remove-readd", "--hang-after", "3"], "--hang-after"),
    (["--engines", "nixl==1.5.1", "-d", "rxe0", "--scenarios", "race", "--engine-transfer-timeout", "3"],
     "--engine-transfer-timeout"),
    (["--engines", "nixl==1.5.1", "-d", "rxe0", "--scenarios", "next-peer", "--dead-peer-timeout", "30"],
     "--dead-peer-timeout"),
    (["--engines", "nixl==1.5.1", "-d", "rxe0", "--scenarios", "remove-readd", "--inflight-rounds", "1"],
     "--inflight-rounds"),
    (["--engines", "nixl==1.5.1", "-d", "rxe0", "--scenarios", "remove-readd-inflight", "--rounds", "3",
      "--inflight-rounds", "4"], "--inflight-rounds"),  # more shown rounds than it may play
])
def test_engines_matrix_refuses_what_cannot_apply(args, named, monkeypatch, capsys):
    import sys

    from rdmacheck.cli.app import main

    monkeypatch.setattr("rdmacheck.engines.catalog.engine_for", _nixl)
    monkeypatch.setattr("rdmacheck.cli.options.require_devices", lambda *names: None)
    monkeypatch.setattr("rdmacheck.verbs.devices.is_iwarp_device", lambda d: d.startswith("siw"))
    monkeypatch.setattr("rdmacheck.enginematrix.run.run_engine_matrix",
                        lambda plan: pytest.fail("ran although an option did not apply"))
    monkeypatch.setattr(sys, "argv", ["rdmacheck", "engines", "matrix", *args])
    with pytest.raises(SystemExit) as ex:
        main()
    err = capsys.readouterr().err
    assert ex.value.code == 2 and named in err, err


def test_only_a_blocked_transfer_is_named_a_hang():
    """A check of memory or an add_peer not answered in time is a deadline naming the step, never a write hang."""
    from rdmacheck.engines.pair import Hung

    assert Hung("the target's check of its memory", "verify").finding == "deadline"
    assert Hung("the initiator adding its peer", "add_peer").finding == "deadline"
    assert Hung("the initiator's write", "write").finding == "engine-write-hung"
    assert Hung("the posted write to end", "settle").finding == "engine-write-hung"


def test_an_engines_directory_others_could_have_made_or_can_write_is_refused(tmp_path, monkeypatch):
    import os

    from rdmacheck.engines.engine import engines_dir, make_engines_dir
    from rdmacheck.errors import EnvironmentProblem

    d = tmp_path / "engines"
    monkeypatch.setenv("RDMACHECK_ENGINES_DIR", str(d))
    assert make_engines_dir() == d and d.stat().st_mode & 0o777 == 0o755
    os.chmod(d, 0o777)
    with pytest.raises(EnvironmentProblem, match="writable by others.*RDMACHECK_ENGINES_DIR"):
        engines_dir()
    os.chmod(d, 0o755)
    if os.geteuid() == 0:  # only root can give a directory away
        os.chown(d, 65534, 65534)
        with pytest.raises(EnvironmentProblem, match="belongs to uid 65534.*RDMACHECK_ENGINES_DIR"):
            engines_dir()


@pytest.mark.parametrize("spec", ["nixl== 1.5.1", "nixl==v1.5", "mooncake==0.3.13 post1", "nixl==1.5.1;rm"])
def test_an_install_spec_not_spelled_as_pypi_spells_a_release_is_refused_before_installing(spec):
    from tests.conftest import rdmacheck

    r = rdmacheck("engines", "install", spec, timeout=60)
    assert r.returncode == 2 and "is not a release number as PyPI spells it" in r.stderr, r.stdout + r.stderr


ROW = "[1796429087.138167] [rdmalab:176  :0]   |  81..477 | copy-in     | {lane}   |\n"


@pytest.mark.parametrize("lanes, why", [
    (["rc_verbs/rxe0:1"], None),
    (["rc_verbs/rxe0:1", "posix/memory"], "posix/memory"),  # a site UCX_TLS with shared memory
    (["cma/memory"], "cma/memory"),
    (["rc_verbs/mlx5_1:1"], "rc_verbs/mlx5_1:1"),  # UCX_NET_DEVICES naming another NIC
    (["tcp/eth0"], "tcp/eth0"),
    ([], "name no transport"),
])
def test_a_nixl_cell_passes_only_with_its_logs_showing_rdma_on_the_device_under_test(tmp_path, lanes, why):
    from rdmacheck.engines.evidence import nixl_not_on_rdma as not_on_rdma

    log = tmp_path / "target-0.log"
    log.write_text("".join(ROW.format(lane=lane) for lane in lanes) + "NIXL INFO backend UCX path /usr/lib/x/y\n")
    said = not_on_rdma([log], "rxe0")
    assert (said is None) if why is None else (why in said), said
    res = PairResult("restart-initiator", "nixl 1.5.1", "rxe0", rounds_planned=1,
                     rounds=[PairRound(0, "start", ok=True)], not_on_rdma=said or "")
    assert (res.verdict, res.findings()) == ((Verdict.PASS, []) if why is None else
                                             (Verdict.FAIL, ["engine-not-on-rdma"]))


# Mooncake's own glog lines, as every release from 0.3.10 to 0.3.13.post1 wrote them on rxe0 in the lab.
MC_DEVICE = ("I1207 16:42:54.678164   907 rdma_context.cpp:290] RDMA device: {dev}, LID: 0, GID: (GID_Index 1) "
             "00:00:00:00:00:00:00:00:00:00:ff:ff:a9:fe:1e:01\n")
MC_TRANSPORT = "I1207 16:42:54.681352   907 transfer_engine_impl.cpp:430] installTransport, type={kind}\n"


@pytest.mark.parametrize("devices, kinds, why", [
    (["rxe0"], ["rdma"], None),
    (["rxe0"], ["rdma", "tcp"], "the tcp transport"),
    (["rxe0", "mlx5_1"], ["rdma"], "opened mlx5_1, not only rxe0"),  # a device list naming another NIC
    ([], ["tcp"], "the tcp transport"),  # protocol tcp: verified data, no RDMA at all
    ([], [], "names no installed transport"),
])
def test_a_mooncake_cell_passes_only_with_its_log_showing_the_rdma_transport_on_the_device_under_test(
        tmp_path, devices, kinds, why):
    from rdmacheck.engines.evidence import mooncake_not_on_rdma
    from rdmacheck.mooncake.reestablish_result import MooncakePlan, MooncakeResult, MooncakeRound

    log = tmp_path / "engine-target.log"
    log.write_text("".join(MC_DEVICE.format(dev=d) for d in devices) + "".join(MC_TRANSPORT.format(kind=k)
                                                                                for k in kinds))
    (tmp_path / "rdmacheck-initiator.log").write_text('{"event": "ready"}\n')  # rdmacheck's own side: not evidence
    said = mooncake_not_on_rdma(sorted(tmp_path.glob("*.log")), "rxe0")
    assert (said is None) if why is None else (why in said), said
    res = MooncakeResult(MooncakePlan("10.0.0.1", Engine(Path("/usr/bin/python3"), "0.3.13.post1"), rounds=1, log_dir=tmp_path),
                         rounds=[MooncakeRound(0, ok=True)], not_on_rdma=said or "")
    assert res.verdict == (Verdict.PASS if why is None else Verdict.FAIL)
    assert [c.failure_type for c in res.cases() if c.failure] == ([] if why is None else ["engine-not-on-rdma"])


def test_remove_readd_inflight_is_a_skip_saying_so_when_no_write_was_in_flight_at_the_remove():
    res = PairResult("remove-readd-inflight", "nixl 1.5.1", "rxe0", rounds_planned=2,
                     rounds=[PairRound(0, "start", ok=True), PairRound(1, "remove+add", ok=True, inflight="completed",
                                                                        in_flight_at_remove=False)])
    assert (res.verdict, res.findings()) == (Verdict.SKIP, []) and "nothing was in flight" in res.skip_reason
    res.rounds[1].in_flight_at_remove = True
    assert (res.verdict, res.findings(), res.skip_reason) == (Verdict.PASS, [], "")
    res.rounds[1].ok = False
    assert res.verdict == Verdict.FAIL


def test_remove_readd_inflight_counts_only_rounds_shown_in_flight_and_stops_at_the_number_wanted():
    def rnd(i: int, shown: bool) -> PairRound:
        return PairRound(i, "remove+add", ok=True, inflight="completed", in_flight_at_remove=shown)

    # two of four planned rounds played, both shown, two wanted: complete, PASS
    res = PairResult("remove-readd-inflight", "nixl 1.5.1", "rxe0", rounds_planned=5, inflight_wanted=2,
                     rounds=[PairRound(0, "start", ok=True), rnd(1, True), rnd(2, True)])
    assert (res.verdict, res.inflight_shown) == (Verdict.PASS, 2)
    # all rounds played, one shown of two wanted: not tested as asked, and it says how many there were
    res = PairResult("remove-readd-inflight", "nixl 1.5.1", "rxe0", rounds_planned=3, inflight_wanted=2,
                     rounds=[PairRound(0, "start", ok=True), rnd(1, False), rnd(2, True)])
    assert res.verdict == Verdict.SKIP and "in 1 of 2 rounds, 2 wanted" in res.skip_reason, res.skip_reason
    # stopped short with too few shown (a cell cut off): rounds missing, never a PASS
    res = PairResult("remove-readd-inflight", "nixl 1.5.1", "rxe0", rounds_planned=5, inflight_wanted=2,
                     rounds=[PairRound(0, "start", ok=True), rnd(1, True)])
    assert (res.verdict, res.findings()) == (Verdict.FAIL, ["rounds-missing"])


def test_remove_readd_inflight_refuses_more_shown_rounds_than_it_may_play(tmp_path):
    from rdmacheck.engines.pair import PairPlan, run_pair

    with pytest.raises(BadInput, match="cannot be shown in at most 2 rounds"):
        run_pair(PairPlan(Engine(Path("/usr/bin/python3"), "1.5.1", kind="nixl"), "remove-readd-inflight", "10.0.0.1",
                          rounds=2, inflight_rounds=3, log_dir=tmp_path))


def test_the_in_flight_count_is_read_off_the_sides_reply():
    from rdmacheck.engines.pair import IN_FLIGHT

    m = IN_FLIGHT.search("removed remote agent b; in flight at the remove: 1/1")
    assert m and m.groups() == ("1", "1")


@pytest.mark.parametrize("ev, field", [({"event": "ready", "name": "a", "addr": "0x10"}, "addr"),
                                       ({"event": "ready", "name": ["a"], "addr": 16}, "name"),
                                       ({"event": "reply", "ok": "yes"}, "ok"),
                                       ({"event": "reply", "ok": True, "detail": 7}, "detail"),
                                       ({"event": "wrote", "ok": True, "ms": float("nan")}, "ms"),
                                       ({"event": "wrote", "ok": True}, "ms")])
def test_an_engine_sides_event_that_fails_its_schema_is_that_cells_failure_naming_the_field(ev, field):
    from rdmacheck.engines.events import engine_event_problem

    assert field in engine_event_problem(ev)
    assert engine_event_problem({"event": "reply", "ok": False, "detail": "x", "ms": 1.5}) is None
    assert engine_event_problem({"event": "ready", "name": "10.0.0.1:17100", "addr": 140000000000, "length": 1}) is None


def test_a_process_whose_event_fails_its_check_fails_the_wait_never_the_run(tmp_path):
    import sys

    from rdmacheck.engines.events import engine_event_problem
    from rdmacheck.roles.process import RoleFailed, RoleProcess

    script = tmp_path / "side.py"
    script.write_text('import json, sys\nprint(json.dumps({"event": "ready", "name": "x", "addr": -1}), flush=True)\n'
                      'sys.stdin.readline()\n')
    proc = RoleProcess("side", [], tmp_path / "side.log", module="side", python=sys.executable,
                       env={"PYTHONPATH": str(tmp_path)}, check=engine_event_problem)
    try:
        with pytest.raises(RoleFailed, match="ready event.*addr"):
            proc.wait_for("ready", 30, "the side to start")
    finally:
        proc.kill()
        proc.stop()


class _Replies:
    """The orchestrator's view of engine sides that answer each op as scripted (the classification is pure logic;
    the real engines answer in tests/lab/test_engines.py)."""

    def __init__(self, **answers):
        from rdmacheck.engines.pair import PairPlan

        self.plan = PairPlan(_nixl("nixl==1.5.1"), "dead-peer", "127.0.0.1")
        self.ready = {r: {"name": f"rdmacheck-{r}", "addr": 0x10000} for r in ("initiator", "target")}
        self.answers, self.sent = answers, []

    def call(self, role, timeout, what, **cmd):
        self.sent.append(cmd["op"])
        return self.answers[cmd["op"]]


@pytest.mark.parametrize("settle,finding", [
    ({"ok": False, "detail": "nixlRemoteDisconnectError: NIXL_ERR_REMOTE_DISCONNECT"}, None),
    ({"ok": False, "detail": "RuntimeError: nixl posted write to t: still in progress after 120 s"}, "engine-write-hung"),
    ({"ok": True, "detail": "1 posted transfer(s) done"}, "engine-dead-peer-write-accepted"),
])
def test_a_write_to_a_dead_peer_must_fail_loudly(settle, finding):
    from rdmacheck.engines.pair import Failed
    from rdmacheck.engines.peer_loss import _dead_write

    e, rnd = _Replies(post={"ok": True, "detail": "posted 1"}, settle=settle), PairRound(1, "kill target")
    if finding is None:
        _dead_write(e, rnd, "initiator", "target")
        assert rnd.probe.startswith("failed in") and "REMOTE_DISCONNECT" in rnd.probe
    else:
        with pytest.raises(Failed) as x:
            _dead_write(e, rnd, "initiator", "target")
        assert x.value.finding == finding
    assert e.sent == ["post", "settle"] and rnd.probe_ms is not None


@pytest.mark.parametrize("write,verify,finding", [
    ({"ok": False, "detail": "nixlNotFoundError: NIXL_ERR_NOT_FOUND"}, None, None),  # refused: the right answer
    ({"ok": True, "detail": "done"}, {"ok": True, "detail": "1048576 bytes match seed 0x1"}, None),  # landed, checked
    ({"ok": True, "detail": "done"}, {"ok": False, "detail": "first mismatch at byte 0"}, "engine-stale-write-accepted"),
])
def test_a_write_through_stale_descriptors_is_refused_or_its_data_is_in_the_new_peers_memory(write, verify, finding):
    from rdmacheck.engines.pair import Failed
    from rdmacheck.engines.peer_loss import _prepped_write

    e = _Replies(write_prepped=write, read={"ok": True, "detail": "read"}, verify=verify)
    rnd = PairRound(1, "restart target")
    if finding is None:
        t = _prepped_write(e, rnd, stale=True)
        assert ("refused" in rnd.probe) == (t is None) and rnd.probe.startswith("kept descriptors:")
        assert e.sent == (["write_prepped"] if t is None else ["write_prepped", "read", "verify"])
    else:
        with pytest.raises(Failed) as x:
            _prepped_write(e, rnd, stale=True)
        assert x.value.finding == finding and "does not hold" in rnd.probe


def test_an_error_mode_the_engine_did_not_take_is_a_skip_naming_it_never_a_pass():
    res = PairResult("dead-peer-errmode-none", "nixl 0.10.1", "rxe0", rounds_planned=3,
                     untested="nixl 0.10.1's UCX backend did not take ucx_error_handling_mode=none")
    assert (res.verdict, res.findings()) == (Verdict.SKIP, []) and "did not take" in res.skip_reason
    res.error = "the target engine exited"
    assert res.verdict == Verdict.FAIL


# DLSlime's own log line (SLIME_LOG_LEVEL=1) as 0.1.23's RDMAContext::init wrote it on rxe0, colour codes and all.
SLIME_DEVICE = ("\x1b[1;92m[INFO]\x1b[m /project/dlslime/dlslime/csrc/engine/rdma/rdma_context.cpp:203: init: Detected RDMA "
                "link type RoCE for {dev}:1\n")


@pytest.mark.parametrize("devices, why", [
    (["rxe0", "rxe0"], None),
    (["rxe0", "mlx5_0"], "opened mlx5_0, not only rxe0"),
    ([], "names no device"),
])
def test_a_dlslime_cell_passes_only_with_its_log_showing_its_rdma_context_on_the_device_under_test(tmp_path, devices,
                                                                                                   why):
    from rdmacheck.engines.evidence import dlslime_evidence, dlslime_not_on_rdma

    log = tmp_path / "target-0.log"
    log.write_text("".join(SLIME_DEVICE.format(dev=d) for d in devices) + '{"event": "ready", "name": "x"}\n')
    said = dlslime_not_on_rdma([log], "rxe0")
    assert (said is None) if why is None else (why in said), said
    if devices:
        assert dlslime_evidence([log])[0] == ("[INFO] init: Detected RDMA link type RoCE for rxe0:1" +
                                              (" (x2)" if why is None else ""))


def test_a_side_whose_remove_opens_a_new_endpoint_says_its_metadata_and_the_next_peer_connects_to_that():
    """DLSlime's remove_peer answers with its new endpoint's metadata (a declared field of the reply); the
    orchestrator hands that, not the `ready` line's, to the peer it introduces next."""
    from rdmacheck.engines import driver
    from rdmacheck.engines.events import engine_event_problem
    from rdmacheck.engines.pair import Engines, PairPlan

    class Side:
        def remove_peer(self, cmd):
            return {"detail": f"shut the endpoint to {cmd['peer']} down", "metadata": "bmV3"}

    reply = driver.handle(Side(), {"op": "remove_peer", "peer": "rdmacheck-initiator"})
    assert reply["ok"] and reply["metadata"] == "bmV3" and engine_event_problem({"event": "reply", **reply}) is None
    assert engine_event_problem({"event": "reply", "ok": True, "metadata": 7}) is not None

    e = Engines(PairPlan(Engine(Path("/e/python"), "0.1.23", "dlslime", "rdmacheck.engines.dlslime_side"),
                         "restart-initiator", "10.0.0.1"))
    e.ready = {"target": {"name": "rdmacheck-target", "metadata": "b2xk"}, "initiator": {"name": "rdmacheck-initiator"}}
    e.call = lambda role, timeout, what, **cmd: reply  # the side's answer, as the process would carry it
    assert e.forget("target", "initiator") is None and e.ready["target"]["metadata"] == "bmV3"


def test_dlslime_is_an_engine_kind_with_its_restart_and_race_rows_and_no_re_add():
    from rdmacheck.enginematrix.cells import applies

    assert catalog.parse("dlslime==0.1.23") == ("dlslime", "0.1.23")
    assert applies("dlslime") == ("restart-initiator", "restart-target", "race")


def test_a_library_writing_its_log_in_pieces_never_splits_a_sides_event_line():
    """DLSlime's logger writes `[INFO` and the rest of a line separately, to the stream that carries the side's
    JSON lines (stdout and stderr are one stream to the orchestrator): a reply split by it was never read (a
    race cell's 150 s deadline in the lab). Through isolate_library_output every event arrives whole."""
    import json
    import subprocess
    import sys

    script = """
import os, sys, threading
from rdmacheck.engines.driver import emit, isolate_library_output
sys.stdout = isolate_library_output()
def log():
    for i in range(3000):
        os.write(2, b"[INFO")
        os.write(1, b"] a library line in pieces %d\\n" % i)
t = threading.Thread(target=log)
t.start()
for i in range(300):
    emit({"event": "reply", "ok": True, "detail": "x" * 100, "i": i})
t.join()
"""
    out = subprocess.run([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         timeout=120, cwd=Path(__file__).resolve().parents[2]).stdout
    events = [json.loads(line)["i"] for line in out.splitlines() if line.startswith("{")]
    assert events == list(range(300)), [line for line in out.splitlines() if '"event"' in line and
                                        not line.startswith("{")][:3]
    assert out.count("] a library line in pieces") == 3000 and "[INFO] a library line in pieces 2999" in out


def test_a_remove_made_while_the_posting_threads_transfer_call_runs_says_it_was_in_flight():
    """nixl_side's own bookkeeping, with an agent that holds its transfer() call until released: the remove
    waits until the call has run IN_CALL_S, says so, and the settle reports the calls' end."""
    import threading

    from rdmacheck.engines import nixl_side
    from rdmacheck.engines.pair import IN_FLIGHT

    release, removed = threading.Event(), []

    class Agent:
        def get_xfer_descs(self, descs, mem):
            return descs

        def initialize_xfer(self, op, local, remote, peer, tag):
            return object()

        def transfer(self, handle):
            assert release.wait(30), "the test never released the transfer"
            return "DONE"

        def check_xfer_state(self, handle):
            return "DONE"

        def release_xfer_handle(self, handle):
            pass

        def remove_remote_agent(self, peer):
            removed.append(peer)
            release.set()  # the call under way ends once the remove is made

    def side_with(agent):
        side = object.__new__(nixl_side.NixlSide)
        side.agent, side.sync, side.addr, side.transfer_timeout = agent, object(), 0, 30.0
        side.mem, side.pending, side.posting, side.peers = bytearray(64), [], None, {"b"}
        return side

    side = side_with(Agent())
    post = {"seed": 1, "length": 64, "peer": "b", "remote_addr": 0, "count": 2}
    assert "on a second thread" in side.post(post)
    said = side.remove_peer({"peer": "b"})
    m = IN_FLIGHT.search(said)
    assert removed == ["b"] and m and m.group(1) == "1", said
    ran = int(said.split("under way for ")[1].split(" ms")[0])
    assert ran >= nixl_side.IN_CALL_S * 1000, said
    assert side.settle({}) == "2 posted transfer(s) done"  # both calls completed after the remove
    # a call that never returns within the settle's budget is reported still in progress (a hang), never waited out
    release.clear()
    side = side_with(Agent())
    side.post(post)
    with pytest.raises(TimeoutError, match="call 1 of 2 still in progress after 0.05 s"):
        side.settle({"wait_s": 0.05})
    release.set()

    class Stuck(Agent):  # transfers posted, never done: the settle's budget is the one deadline it names
        def check_xfer_state(self, handle):
            return "PROC"

    side = side_with(Stuck())
    side.post(post)
    with pytest.raises(RuntimeError, match="posted write to b: still in progress after 0.05 s"):
        side.settle({"wait_s": 0.05})
