"""How a fleet agent knows its target's pair is over without asking etcd: from the target role's own
events (TargetServed, read from a real process's output here; the lab's fleet test proves every target
of a real run stopped that way), and what an initiator does with a round that gives no address for its
target, and one whose shard its watch has not brought (the real agent over a real etcd)."""
import json
import os
import textwrap

from rdmacheck.fleet import protocol as proto
from rdmacheck.fleet.agent import Agent, AgentConfig
from rdmacheck.fleet.pairtest import TargetServed
from rdmacheck.fleet.protocol import PairSettings, RoundPlan
from rdmacheck.fleet.schedule import Pair
from rdmacheck.fleet.store import FleetStore
from rdmacheck.metadata.etcd import EtcdConfig, EtcdStore, parse_metadata_url
from rdmacheck.roles.process import RoleProcess


def _role(tmp_path, events: list[dict], then: str = "import time; time.sleep(30)") -> RoleProcess:
    """A process that prints these events one line each, a line at a time when told (stdin), then `then`."""
    script = textwrap.dedent(f"""
        import json, sys
        for ev in {events!r}:
            sys.stdin.readline()
            print(json.dumps(ev), flush=True)
        {then}
    """)
    (tmp_path / "scripted_role.py").write_text(script)
    return RoleProcess("target", [], tmp_path / "log", env={**os.environ, "PYTHONPATH": str(tmp_path)},
                       module="scripted_role")


def _step(role: RoleProcess, served: TargetServed) -> str | None:
    """Let the role print its next event, and look until that event is read."""
    role.send({})
    n = len(role.events)
    why = None
    for _ in range(100):
        why = served(0.1)
        if why or len(role.events) > n:
            break
    return why


def test_a_target_has_served_once_every_check_is_answered_and_its_initiator_then_disconnects(tmp_path):
    ev = [{"event": "verified", "peer": "i"}, {"event": "peer_disconnected", "peer": "i"},  # restart 1's kill
          {"event": "verified", "peer": "someone-else"}, {"event": "peer_disconnected", "peer": "someone-else"},
          {"event": "verified", "peer": "i"}, {"event": "peer_disconnected", "peer": "i"}]
    role = _role(tmp_path, ev)
    try:
        served = TargetServed(role, "i", checks=2)
        whys = [_step(role, served) for _ in ev]
        assert whys[:5] == [None] * 5, whys  # another peer's checks count for nothing
        assert whys[5] == "served (2 of 2 checks answered; then the initiator disconnected)" and served.done
    finally:
        role.stop(grace=1)


def test_a_failed_check_ends_the_pair_for_the_target_at_the_initiators_disconnect(tmp_path):
    ev = [{"event": "verify_failed", "peer": "i"}, {"event": "peer_disconnected", "peer": "i"}]
    role = _role(tmp_path, ev)
    try:
        served = TargetServed(role, "i", checks=3)
        assert _step(role, served) is None
        assert _step(role, served) == "served (0 of 3 checks answered, one failed; then the initiator disconnected)"
    finally:
        role.stop(grace=1)


def test_a_target_role_that_exits_ends_its_pair_with_its_status(tmp_path):
    role = _role(tmp_path, [{"event": "ready"}], then="sys.exit(3)")
    try:
        served = TargetServed(role, "i", checks=2)
        role.send({})
        why = None
        for _ in range(100):
            why = served(0.1)
            if why:
                break
        assert why == "the target role exited with status 3" and not served.done  # its agent says target-failed
    finally:
        role.stop(grace=1)


def test_an_initiator_whose_round_gives_no_target_address_reports_a_control_plane_failure(etcd_server, tmp_path):
    cfg = EtcdConfig(parse_metadata_url(etcd_server.url), cluster="noaddr", ttl=2)
    agent = Agent(AgentConfig(host="h2", device="none0", address="10.0.0.2", etcd=cfg, log_dir=tmp_path),
                  say=lambda s: None)
    agent.store = FleetStore(EtcdStore.connect(cfg))
    try:
        pair = Pair("h1", "h2")
        header = RoundPlan(0, [pair], PairSettings(), run="n").header_json()  # no address for h1
        plan = RoundPlan.from_dict(json.loads(header))
        assert plan.addresses == {}
        agent._play(plan, pair)
        out = agent.store.get(proto.result_key(pair))
        assert out["verdict"] == "FAIL" and out["finding"] == "target-not-ready" and out["plane"] == "control", out
        assert "gives no address for target h1" in out["detail"], out
    finally:
        agent.store.close()


def test_a_shard_its_watch_has_not_brought_is_read_after_a_second_never_taken_stale(etcd_server, tmp_path):
    """Two watches keep no order between them: a round key may come before its shard. The agent waits
    SHARD_WAIT_S for its shard's watch, then reads the shard (one request) - and never plays a round
    with the pairs of the one before."""
    import time

    from rdmacheck.fleet import agent as agent_mod

    cfg = EtcdConfig(parse_metadata_url(etcd_server.url), cluster="trail", ttl=2)
    hosts = [f"h{i:03d}" for i in range(130)]
    store = FleetStore(EtcdStore.connect(cfg))
    agent = Agent(AgentConfig(host="h001", device="none0", address="10.0.0.1", etcd=cfg, log_dir=tmp_path),
                  say=lambda s: None)
    agent.store = store
    try:
        def publish(index: int, partner: str) -> RoundPlan:
            plan = RoundPlan(index, [Pair(partner, "h001")], PairSettings(), run="n",
                             shards=proto.shard_count(len(hosts)), addresses={partner: "10.0.0.9"})
            store.put_many(plan.shard_values())
            return plan

        first = publish(0, "h002")
        got = agent._with_pairs(first, json.loads(first.header_json()))
        assert got.pair_of("h001") == Pair("h002", "h001")  # by the watch it started: its first read
        agent.shard.close()  # the stream stops bringing changes
        second = publish(1, "h003")
        before, t0 = store.requests, time.monotonic()
        got = agent._with_pairs(second, json.loads(second.header_json()))
        assert got.index == 1 and got.pair_of("h001") == Pair("h003", "h001"), got  # never round 0's pairs
        assert store.requests == before + 1 and time.monotonic() - t0 >= agent_mod.SHARD_WAIT_S
    finally:
        store.close()
