"""A fleet report you can drain a host on, over a real etcd with simulated agents (the real agent's
protocol and loop; the RDMA step replaced by a wait): forged values change no verdict and crash
nothing, an etcd outage loses nothing, Ctrl-C leaves every finished round in the results file, a
second coordinator cannot clear a live run, and Prometheus labels cannot inject a series."""
import json
import signal
import subprocess
import sys
import threading
import time

import pytest

from rdmacheck.fleet import protocol as proto
from rdmacheck.fleet.coordinator import Coordinator, FleetPlan
from rdmacheck.fleet.isolation import PairResult, diagnose
from rdmacheck.fleet.protocol import PairOutcome, PairSettings
from rdmacheck.fleet.result import FleetResult, prom_text
from rdmacheck.fleet.schedule import Pair
from rdmacheck.fleet.simulate import SimFaults, start_sim_agents
from rdmacheck.fleet.store import FleetStore
from rdmacheck.metadata.etcd import EtcdConfig, EtcdStore, parse_metadata_url
from rdmacheck.words import Verdict
from tests.conftest import ROOT

HOSTS = ["h1", "h2", "h3", "h4"]


def _cfg(etcd_server, cluster="t"):
    return EtcdConfig(parse_metadata_url(etcd_server.url), cluster=cluster, ttl=2, timeout=1.0)


def _run(etcd_server, during=None, cluster="t"):
    cfg = _cfg(etcd_server, cluster)
    shared = EtcdStore.connect(cfg)
    agents, threads = start_sim_agents(shared, HOSTS, [0.3], SimFaults(), poll=0.1)
    plan = FleetPlan(expect=list(HOSTS), settings=PairSettings(start_timeout=3, round_timeout=3), join_timeout=20,
                     poll=0.1, retest_rounds=0)
    store = FleetStore(EtcdStore.connect(cfg), patience=15.0)
    lines: list[str] = []
    written: list[int] = []
    coord = Coordinator(plan, store, say=lines.append, on_round=lambda r: written.append(len(r.rounds)))
    side = threading.Thread(target=during, args=(store, cfg), daemon=True) if during else None
    if side:
        side.start()
    res = coord.run()
    for t in threads:
        t.join(10)
    store.close()
    return res, lines, written


def _pairs(store: FleetStore, header: dict) -> list[Pair]:
    """A round's pairs, read as any agent may: from its header (one shard) or every shard of it."""
    shards = [header] if header["shards"] == 1 else [store.get(proto.plan_key(k)) for k in range(header["shards"])]
    got = {Pair(*p) for shard in shards for p in shard["pairs"]}
    return sorted(got)


def test_forged_results_change_no_verdict_and_crash_nothing(etcd_server):
    """Without etcd's access control anyone can write anything: values for the wrong pair or reporter,
    a future round, an unknown verdict, arrays, stray keys. None is taken, none crashes the run."""
    def forge(store: FleetStore, cfg):
        while (plan := store.get(proto.ROUND)) is None:
            time.sleep(0.02)
        c = store.store.client
        put = lambda name, text: c.put(cfg.key(name), text)  # noqa: E731 - a forging agent's raw writes
        run, pairs = plan["run"], _pairs(store, plan)
        for p in pairs:  # before the initiators report (their pair tests take 0.3 s here)
            forged = PairOutcome(0, p.target, p.initiator, Verdict.FAIL, finding="deadline", reported_by="h9", run=run)
            put(proto.result_key(p), forged.to_json())
        p = pairs[0]
        put(proto.agent_key("h9"), "[1, 2, 3]")
        put(proto.HOSTS + "h1/nonsense", "not json")
        while (nxt := store.get(proto.ROUND)) is None or nxt["index"] == 0:
            time.sleep(0.02)
        for p in _pairs(store, nxt):
            put(proto.result_key(p), json.dumps({"round": nxt["index"], "run": run, "target": p.target,
                                                 "initiator": p.initiator, "verdict": "MAYBE",
                                                 "reported_by": p.initiator}))
    res, lines, _ = _run(etcd_server, forge)
    assert res.healthy, (res.diagnosis, [p for p in res.pairs if p.verdict != "PASS"], lines)
    assert all(p.verdict == "PASS" and p.reported_by == p.initiator for p in res.pairs)
    warned = [x for x in lines if "warning: ignored" in x]
    assert any("who is not one of the pair's two hosts" in x for x in warned), lines
    assert any("fleet/host/" in x and "'MAYBE' - at `$.verdict`" in x for x in warned), lines  # the key and field


@pytest.mark.parametrize("how", ["paused", "stopped and restarted"])
def test_an_etcd_outage_mid_run_loses_nothing(etcd_server, how):
    """etcd gone for 5 s while a round runs (frozen, or killed and started again on its data): the
    run completes, every pair verified, the results written after every round."""
    def outage(store: FleetStore, cfg):
        while store.get(proto.ROUND) is None:  # a round is out
            time.sleep(0.05)
        if how == "paused":
            etcd_server.pause()
            time.sleep(5)
            etcd_server.resume()
        else:
            etcd_server.stop()
            time.sleep(5)
            etcd_server.start()
    res, _, written = _run(etcd_server, outage)
    assert res.healthy and len(res.final_pairs()) == 6, res.diagnosis
    assert written == list(range(1, len(res.rounds) + 1))  # the results were written after every round


def test_a_second_coordinator_cannot_clear_a_live_run(etcd_server):
    cfg = _cfg(etcd_server, "live")
    first = FleetStore(EtcdStore.connect(cfg))
    first.publish_leased(proto.COORDINATOR, {"pid": 1})
    first.put(proto.ROUND, {"index": 0, "pairs": [], "settings": {}})
    second = FleetStore(EtcdStore.connect(cfg))
    try:
        Coordinator(FleetPlan(expect=2, join_timeout=0.5), second, say=lambda s: None).run()
    except Exception as e:  # noqa: BLE001 - refused: the claim is held
        assert "coordinator" in str(e)
    assert first.get(proto.ROUND) is not None, "the live run's round was deleted"
    first.close()
    second.close()


def test_sigint_leaves_every_finished_round_in_the_results_file(etcd_server, tmp_path):
    cfg = _cfg(etcd_server, "int")
    shared = EtcdStore.connect(cfg)
    faults = SimFaults(stall_in_round=2)  # the run cannot end before the SIGINT, however slow this machine is
    start_sim_agents(shared, HOSTS, [0.1], faults, poll=0.1)
    out = tmp_path / "fleet.json"
    p = subprocess.Popen([sys.executable, "-m", "rdmacheck", "fleet", "run", "--metadata", etcd_server.url,
                          "--cluster", "int", "--lease-ttl", "2", "--hosts", ",".join(HOSTS), "--json", str(out),
                          "--retest-rounds", "0"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen = ""
    deadline = time.monotonic() + 60
    while "round 1:" not in seen and time.monotonic() < deadline:
        seen += p.stderr.readline()
    p.send_signal(signal.SIGINT)
    try:
        _, err = p.communicate(timeout=60)
    finally:
        faults.release.set()
    assert p.returncode == 130, seen + err
    doc = json.loads(out.read_text())
    assert len(doc["rounds"]) >= 2 and not doc["finished"] and len(doc["pairs"]) >= 4
    assert "finished round(s) are in" in err


def test_a_control_plane_failure_implicates_no_link_and_no_host():
    """h1's agent died while h3 waited for it: h3's next pair failed without contact. Nobody is a bad
    link, h3 is healthy (it passed with others), and the pair is reported untested."""
    res = [PairResult(Pair("h3", "h2"), Verdict.FAIL, "target-not-ready", "control"),
           PairResult(Pair("h3", "h4"), Verdict.PASS), PairResult(Pair("h2", "h4"), Verdict.PASS)]
    d = diagnose(res)
    assert not d.bad_links and not d.bad_hosts and [set(r.pair) for r in d.untested] == [{"h2", "h3"}]
    data = [PairResult(Pair("h3", "h2"), Verdict.FAIL, "deadline", "data"), *res[1:]]
    assert [set(r.pair) for r in diagnose(data).bad_links] == [{"h2", "h3"}]


def test_prometheus_labels_cannot_inject_a_series():
    res = FleetResult(run='r"}\nevil 1', pairing="all", hosts=["a", "b"], finished=True)
    res.pairs = [PairOutcome(0, "a", "b", Verdict.FAIL, finding='x"} 1\nrdmacheck_fleet_host_healthy{host="a"} 1')]
    text = prom_text(res)
    assert all(line.startswith(("#", "rdmacheck_fleet_")) for line in text.splitlines()), text
    assert 'finding="x\\"} 1\\nrdmacheck_fleet_host_healthy{host=\\"a\\"} 1"' in text


def test_the_agents_token_reaches_both_roles_of_a_pair_test(tmp_path):
    """fleet agent --token-file: both roles get the secret (in their environment, never argv)."""
    from rdmacheck.fleet.pairtest import PairRoles
    from rdmacheck.roles.spawn import role_env
    from rdmacheck.words import Role

    roles = PairRoles(PairSettings(), "siw0", "h1", "h2", b"a-shared-secret-of-20")
    for role in (Role.TARGET, Role.INITIATOR):
        cfg = roles.config(role, ("10.0.0.1", 1))
        assert cfg.token == b"a-shared-secret-of-20"
        assert role_env(cfg)["RDMACHECK_TOKEN"] == "a-shared-secret-of-20"
        assert "a-shared-secret" not in cfg.to_json()
    assert role_env(PairRoles(PairSettings(), "siw0", "h1", "h2").config(Role.TARGET, ("10.0.0.1", 1))) == {}


def test_a_pair_tests_roles_are_told_the_runs_settings():
    from rdmacheck.fleet.pairtest import PairRoles
    from rdmacheck.words import Role

    s = PairSettings(mode="cm", strategy="recreate", restarts=3, length=1 << 16, buffer_size=1 << 20, round_timeout=12)
    t = PairRoles(s, "siw0", "h1", "h2").config(Role.TARGET, ("10.0.0.1", 18515))
    i = PairRoles(s, "siw0", "h1", "h2").config(Role.INITIATOR, ("10.0.0.1", 18515))
    assert (t.name, t.listen, t.buffer_size, t.mode, t.strategy) == ("h1", ("10.0.0.1", 18515), 1 << 20, "cm", "recreate")
    assert (i.name, i.target_name, i.peer, i.length, i.rounds, i.reconnect_timeout, i.io_timeout) == \
        ("h2", "h1", ("10.0.0.1", 18515), 1 << 16, 0, 12, 12)


def test_a_result_whose_times_are_not_numbers_is_refused_not_computed_with():
    """The coordinator subtracts a result's stamp and duration: a forged string there was a crash."""
    p = Pair("h1", "h2")
    good = PairOutcome(3, "h1", "h2", Verdict.PASS, reported_by="h2", reconnect_ms=[12.5], duration_s=1.5,
                       reported_at=1.0)
    assert proto.accept_result(3, p, json.loads(good.to_json()))[0] is not None
    for field, bad in (("reported_at", "soon"), ("duration_s", None), ("reconnect_ms", ["1"]), ("duration_s", True)):
        out, why = proto.accept_result(3, p, json.loads(good.to_json()) | {field: bad})
        assert out is None and f"at `$.{field}" in why and proto.result_key(p) in why, (field, why)


@pytest.mark.parametrize("leftover_end", ['{"reason": "run complete"}', '{"run": "an-old-nonce", "reason": "x"}',
                                          '"garbage"'])
def test_agents_started_before_the_coordinator_ignore_an_earlier_runs_leftovers(etcd_server, leftover_end):
    """An earlier run on the same --cluster left its end and its last round: agents that start before the new
    coordinator (allowed with --launch none) wait for it and act only on values of its run (the nonce it
    claims with), so none exits on the old end and every pair of the new run passes."""
    cfg = _cfg(etcd_server, "leftovers")
    shared = EtcdStore.connect(cfg)
    raw = lambda name, text: shared.client.put(cfg.key(name), text)  # noqa: E731 - the earlier run's values
    raw(proto.END, leftover_end)
    raw(proto.ROUND, json.dumps({"index": 0, "run": "an-old-nonce", "shards": 1, "settings": {},
                                 "pairs": [["h1", "h2"]], "addresses": {"h1": "0.0.0.0"}}))
    agents, threads = start_sim_agents(shared, HOSTS, [0.2], SimFaults(), poll=0.1)
    deadline = time.monotonic() + 20
    while sum(a.store.requests for a in agents) < len(HOSTS) and time.monotonic() < deadline:
        time.sleep(0.05)  # every agent registered, and now waits for a coordinator
    assert all(a.exit_code is None for a in agents), "an agent left before the run began"
    plan = FleetPlan(expect=list(HOSTS), settings=PairSettings(start_timeout=3, round_timeout=3), join_timeout=20,
                     poll=0.1, retest_rounds=0)
    store = FleetStore(EtcdStore.connect(cfg))
    res = Coordinator(plan, store, say=lambda s: None).run()
    for t in threads:
        t.join(15)
    store.close()
    assert res.healthy and len(res.final_pairs()) == 6, [(p.pair, p.finding) for p in res.pairs if p.verdict != "PASS"]
    assert all(a.exit_code == 0 for a in agents), [a.exit_code for a in agents]
