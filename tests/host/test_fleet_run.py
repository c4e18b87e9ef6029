"""The fleet's coordinator and agent protocol over a real etcd, with simulated agents (the agents'
loop and keys; the RDMA step replaced by a short wait). The real pair test runs in the lab
(tests/lab/test_fleet.py)."""
import json
import time
import xml.etree.ElementTree as ET

from rdmacheck.fleet import protocol as proto
from rdmacheck.fleet.coordinator import Coordinator, FleetPlan
from rdmacheck.fleet.protocol import PairSettings
from rdmacheck.fleet.result import prom_text
from rdmacheck.fleet.schedule import Schedule
from rdmacheck.fleet.simulate import SimFaults, start_sim_agents
from rdmacheck.fleet.store import FleetStore
from rdmacheck.metadata.etcd import EtcdConfig, EtcdStore, parse_metadata_url
from rdmacheck.output.files import write_json_atomic
from rdmacheck.output.junit import junit_xml
from rdmacheck.output.tone import write_tone

HOSTS = [f"h{i}" for i in range(1, 7)]
TTL = 2


def _fleet(etcd_server, faults: SimFaults, hosts=HOSTS, expect=None, join_timeout=20.0, pairing="all"):
    cfg = EtcdConfig(parse_metadata_url(etcd_server.url), cluster="t", ttl=TTL)
    shared = EtcdStore.connect(cfg)
    agents, threads = start_sim_agents(shared, hosts, [0.05, 0.1], faults, poll=0.1)
    plan = FleetPlan(expect=expect if expect is not None else list(hosts), settings=PairSettings(start_timeout=3,
                     round_timeout=3), join_timeout=join_timeout, poll=0.1, pairing=pairing)
    coord_store = FleetStore(EtcdStore.connect(cfg))
    lines: list[str] = []
    res = Coordinator(plan, coord_store, say=lines.append).run()
    for t in threads:
        t.join(10)
    coord_store.close()
    return res, agents, lines


def test_all_pairs_of_six_hosts_in_five_rounds_every_host_once_per_round(etcd_server, tmp_path):
    res, agents, _ = _fleet(etcd_server, SimFaults())
    assert res.healthy and len(res.rounds) == 5 and len(res.final_pairs()) == 15
    for r in res.rounds:
        hosts = [h for p in r.pairs for h in p]
        assert len(hosts) == len(set(hosts)) == 6
    assert res.host_lines() == [f"{h} | Healthy" for h in HOSTS]
    assert all(a.exit_code == 0 for a in agents), "agents exit when the run ends"
    assert sorted(res.joined) == HOSTS and all(0 <= t <= 20 for t in res.joined.values()), res.joined
    write_json_atomic(tmp_path / "f.json", res.to_dict())
    doc = json.loads((tmp_path / "f.json").read_text())
    assert doc["schema"] == "rdmacheck.fleet/1" and doc["healthy"] and len(doc["pairs"]) == 15
    assert len(ET.fromstring(junit_xml(res)).findall("testcase")) == 15
    write_tone(res, tmp_path / "tone")
    assert json.loads((tmp_path / "tone" / "test_results.json").read_text())["status"] == "Pass"
    assert prom_text(res).count("rdmacheck_fleet_pair_pass{") == 15


def test_a_host_failing_with_everyone_is_the_bad_host_and_a_single_broken_pair_is_a_bad_link(etcd_server):
    res, _, _ = _fleet(etcd_server, SimFaults(bad_hosts={"h3"}, bad_links={frozenset(("h1", "h6"))}))
    d = res.diagnosis
    assert list(d.bad_hosts) == ["h3"], d
    assert [set(r.pair) for r in d.bad_links] == [{"h1", "h6"}], d
    assert "h3 | ERROR deadline with every partner (5 pairs)" in res.host_lines()
    assert "h1 | Healthy (bad link to h6)" in res.host_lines() and not res.healthy


def test_an_agent_that_dies_is_a_host_down_within_its_lease_and_the_run_completes(etcd_server):
    t0 = time.monotonic()
    res, agents, lines = _fleet(etcd_server, SimFaults(die_in_round={"h4": 1}))
    assert "h4" in res.host_down and res.host_down["h4"] <= res.rounds[1].wall_s + sum(
        r.wall_s for r in res.rounds[:1]) + TTL + 2
    later = [o for o in res.pairs if o.round >= 2 and "h4" in o.pair]
    assert later and all(o.finding == "host-down" for o in later)
    others = [o for o in res.final_pairs() if "h4" not in o.pair]
    assert len(others) == 10 and all(o.verdict == "PASS" for o in others)
    assert res.diagnosis.bad_hosts.get("h4", "").startswith("host-down (its agent's lease expired")
    assert "h4 | ERROR host-down" in "\n".join(res.host_lines()) and not res.diagnosis.bad_links
    assert time.monotonic() - t0 < 60


def test_missing_agents_are_named_at_the_join_deadline_and_the_rest_still_run(etcd_server):
    res, _, lines = _fleet(etcd_server, SimFaults(), hosts=HOSTS[:4], expect=HOSTS[:4] + ["h9"], join_timeout=2)
    assert res.missing == ["h9"] and any("missing agents: h9" in line for line in lines)
    assert all(o.finding == "host-down" for o in res.final_pairs() if "h9" in o.pair)
    assert all(o.verdict == "PASS" for o in res.final_pairs() if "h9" not in o.pair)


def test_agents_exit_when_the_coordinators_lease_is_gone(etcd_server):
    cfg = EtcdConfig(parse_metadata_url(etcd_server.url), cluster="gone", ttl=TTL)
    coord = FleetStore(EtcdStore.connect(cfg))
    coord.publish_leased(proto.COORDINATOR, {"pid": 1})
    agents, threads = start_sim_agents(EtcdStore.connect(cfg), ["a1", "a2"], [0.01], SimFaults(), poll=0.1)
    time.sleep(0.5)
    coord.store.stop_keepalive()  # the coordinator "dies": its lease is not refreshed any more
    for t in threads:
        t.join(TTL + 5)
    assert [a.exit_code for a in agents] == [3, 3]


def test_a_rounds_pairs_are_sharded_so_each_agent_reads_its_own_and_a_stale_shard_is_refused():
    import pytest

    from rdmacheck.fleet.protocol import RoundPlan
    from rdmacheck.fleet.schedule import Schedule

    hosts = tuple(f"n{i:04d}" for i in range(1000))
    pairs = next(iter(Schedule("all", hosts).rounds()))
    addresses = {p.target: f"10.0.{i // 250}.{i % 250}" for i, p in enumerate(pairs)}
    plan = RoundPlan(3, pairs, PairSettings(), run="r", shards=proto.shard_count(len(hosts)), addresses=addresses)
    header, shards = json.loads(plan.header_json()), plan.shard_values()
    assert plan.shards == 16 and len(shards) == 16 and "pairs" not in header and len(plan.header_json()) < 400
    assert max(len(v) for v in shards.values()) < 6000  # what one agent reads, whatever the fleet's size
    for h in hosts:
        mine = RoundPlan.from_dict(header, json.loads(shards[proto.plan_key(proto.shard_of(h, plan.shards))]))
        assert mine.pair_of(h) == plan.pair_of(h) and mine.index == 3 and mine.settings == plan.settings
        # its pair's target address came with it: an initiator reads no registration
        assert mine.addresses[mine.pair_of(h).target] == addresses[plan.pair_of(h).target]
    one = json.loads(shards[proto.plan_key(0)])
    first = one["pairs"][0][0]
    gone = RoundPlan.from_dict(header, one | {"addresses": {**one["addresses"], first: ""}})
    assert first not in gone.addresses and len(gone.addresses) == len(one["addresses"]) - 1  # that pair alone fails
    with pytest.raises(ValueError, match="addresses"):
        RoundPlan.from_dict(header, one | {"addresses": ["10.0.0.1"]})
    old = json.loads(shards[proto.plan_key(0)]) | {"index": 2}
    with pytest.raises(ValueError, match="of round 2"):
        RoundPlan.from_dict(header, old)
    with pytest.raises(ValueError, match="shards"):
        RoundPlan.from_dict(header | {"shards": 0})
    small = RoundPlan(0, pairs[:32], PairSettings(), run="r", shards=proto.shard_count(64), addresses=addresses)
    assert small.shards == 1 and small.shard_values() == {}  # up to 64 hosts: the pairs ride in the header
    inline = RoundPlan.from_dict(json.loads(small.header_json()))
    assert inline.pairs == pairs[:32] and inline.addresses == {p.target: addresses[p.target] for p in pairs[:32]}


def test_in_a_fleet_of_several_shards_an_agent_makes_one_etcd_request_a_round(etcd_server):
    """130 hosts (3 shards): each agent's shard comes by its watch and its target's address with the
    round, a target learns its pair is over without etcd: its ready or its result is the round's one
    request. Counted after the agents registered; the shard watches' first reads (one per shard, shared
    by this process's agents as one stream) and a rare read of a shard its watch trails are all the rest."""
    hosts = [f"h{i:03d}" for i in range(130)]
    # Leases long enough that one keep-alive thread refreshing 130 of them one by one never lets one lapse
    # however busy the machine (with TTL 2 it did, under a loaded full suite: hosts "gone" mid-run). This
    # test counts requests; a lapsing lease is other tests' subject.
    cfg = EtcdConfig(parse_metadata_url(etcd_server.url), cluster="shards", ttl=30)
    agents, threads = start_sim_agents(EtcdStore.connect(cfg), hosts, [0.2], SimFaults(), poll=0.1)
    deadline = time.monotonic() + 30
    while sum(a.store.requests for a in agents) < 2 * len(agents) and time.monotonic() < deadline:
        time.sleep(0.1)  # every agent's lease and registration
    before = sum(a.store.requests for a in agents)
    plan = FleetPlan(expect=len(hosts), pairing="random:3", settings=PairSettings(start_timeout=3, round_timeout=3),
                     join_timeout=20, poll=0.1, retest_rounds=0)
    store = FleetStore(EtcdStore.connect(cfg))
    res = Coordinator(plan, store, say=lambda s: None).run()
    for t in threads:
        t.join(10)
    store.close()
    assert res.healthy and len(res.rounds) == 3 and proto.shard_count(len(hosts)) == 3, \
        [(o.round, o.target, o.initiator, o.finding, o.detail) for o in res.pairs if o.verdict != "PASS"][:5]
    made = sum(a.store.requests for a in agents) - before
    assert 3 * len(hosts) <= made <= 3 * len(hosts) + 3 + len(hosts) // 10, made


def test_a_bad_link_is_retested_as_the_same_pair_and_one_that_then_passes_is_flaky_not_bad(etcd_server):
    """h1<->h2 fails every time (a bad link, confirmed by its retest); h3<->h4 fails its first test and passes
    its retest (a flaky link: never healthy, never a plain bad link; each outcome's round and time in its line)."""
    faults = SimFaults(bad_links={frozenset(("h1", "h2"))}, flapping={frozenset(("h3", "h4"))})
    res, _, _ = _fleet(etcd_server, faults)
    assert faults.tested[frozenset(("h1", "h2"))] == 2 and faults.tested[frozenset(("h3", "h4"))] == 2
    d = res.diagnosis
    assert [sorted(r.pair) for r in d.bad_links] == [["h1", "h2"]]
    assert [sorted(p) for p in d.flaky_links] == [["h3", "h4"]]
    seen = d.flaky_links[next(iter(d.flaky_links))]
    assert "FAIL deadline" in seen and "PASS" in seen and seen.count("round ") == 2 and " s" in seen, seen
    lines = res.host_lines()
    assert lines[2].startswith("h3 | ERROR flaky link to h4 (round ") and lines[3].startswith("h4 | ERROR flaky link")
    assert lines[0] == "h1 | Healthy (bad link to h2)" and not res.healthy
    data = json.loads(res.json_text())
    assert [sorted(x[:2]) for x in data["flaky_links"]] == [["h3", "h4"]]


def test_with_one_partner_each_a_slow_host_and_a_slow_link_are_told_apart_by_the_retest_rounds(etcd_server):
    """random:1 over 16 hosts: after the one round, each slow link's hosts have no fast link to compare with
    (undecided); the retests pair them with new partners: the host slow with both is the slow host, the pair
    whose hosts are fast elsewhere the slow link. Nothing else is flagged, and no data-plane verdict changes."""
    hosts = [f"h{i:02d}" for i in range(16)]
    first = next(Schedule("random:1", tuple(hosts)).rounds())
    link, other = first[0], first[1]
    faults = SimFaults(measure=True, slow_hosts={other.target}, slow_links={frozenset(link)})
    res, _, _ = _fleet(etcd_server, faults, hosts=hosts, pairing="random:1")
    s = res.diagnosis.slowness
    assert set(s.slow_hosts) == {other.target} and [sorted(p) for p in s.slow_links] == [sorted(link)], s.to_dict()
    assert not s.undecided and not res.diagnosis.bad_links and not res.diagnosis.bad_hosts
    assert [r.retest for r in res.rounds][:2] == [False, True]  # named only after a retest round
    lines = dict(line.split(" | ", 1) for line in res.host_lines())
    assert lines[other.target].startswith("ERROR slow-host") and lines[link.target].startswith("Healthy (slow link to")
    assert not res.healthy


def test_a_slow_link_is_measured_again_as_the_same_pair_and_one_slow_only_once_is_not_slow(etcd_server):
    """h1<->h6 measures slow every time (a slow link, confirmed by its retest); h2<->h5 only in its first test (a
    busy moment of a CPU, as seen in the lab): measured again as the same pair, it is fast, and nothing is named."""
    faults = SimFaults(measure=True, slow_links={frozenset(("h1", "h6"))}, slow_once={frozenset(("h2", "h5"))})
    res, _, _ = _fleet(etcd_server, faults)
    assert faults.tested[frozenset(("h1", "h6"))] == 2 and faults.tested[frozenset(("h2", "h5"))] == 2
    s = res.diagnosis.slowness
    assert [sorted(p) for p in s.slow_links] == [["h1", "h6"]] and not s.slow_hosts and not s.undecided, s.to_dict()
    assert res.rounds[-1].retest and not res.diagnosis.flaky_links
    lines = dict(line.split(" | ", 1) for line in res.host_lines())
    assert lines["h2"] == "Healthy" and lines["h5"] == "Healthy" and lines["h1"] == "Healthy (slow link to h6)"


def test_as_a_service_the_agents_stay_each_run_is_judged_alone_and_what_flaps_across_runs_is_named(etcd_server,
                                                                                                    tmp_path):
    """--every with --runs 3 over the same agents: h3<->h4 fails its very first test only (flaky in run 1, PASS
    after); every run is a fresh result with its own rounds (indexes growing, so no agent mistakes a round), each
    appended to the history; h3, h4 and their link are named flapping across the runs."""
    from rdmacheck.fleet.history import History

    cfg = EtcdConfig(parse_metadata_url(etcd_server.url), cluster="svc", ttl=TTL)
    shared = EtcdStore.connect(cfg)
    faults = SimFaults(flapping={frozenset(("h3", "h4"))})
    agents, threads = start_sim_agents(shared, HOSTS, [0.05, 0.1], faults, poll=0.1)
    plan = FleetPlan(expect=list(HOSTS), settings=PairSettings(start_timeout=3, round_timeout=3), join_timeout=20,
                     poll=0.1, every=0.2, runs=3)
    history = History(tmp_path / "history.jsonl")
    runs, said = [], []

    def on_run(res, last):
        runs.append((res, last))
        said.extend(history.add(res))

    store = FleetStore(EtcdStore.connect(cfg))
    final = Coordinator(plan, store, say=lambda s: None, on_run=on_run).run()
    for t in threads:
        t.join(10)
    store.close()
    assert [last for _, last in runs] == [False, False, True] and final is runs[-1][0]
    first, second, third = (r for r, _ in runs)
    assert [sorted(p) for p in first.diagnosis.flaky_links] == [["h3", "h4"]] and not first.healthy
    assert second.healthy and third.healthy and len(third.pairs) == 15  # each run its own pairs
    indexes = [r.index for res, _ in runs for r in res.rounds]
    assert indexes == sorted(set(indexes)), indexes  # no round index used twice across runs
    lines = (tmp_path / "history.jsonl").read_text().splitlines()
    assert [json.loads(x)["healthy"] for x in lines] == [False, True, True]
    assert "fleet: flapping across the last 3 runs: link h3~h4 (FLAKY, PASS, PASS)" in said, said
    assert any(x.startswith("fleet: flapping across the last 3 runs: host h3 (ERROR flaky link to h4, Healthy, Healthy")
               for x in said), said
    assert not history.steady and all(a.exit_code == 0 for a in agents)
