"""The stateful fuzz of the fleet (rdmacheck/fleet/fuzz.py) over a real etcd: 50 seeded scenarios of simulated
agents that fail, die, freeze, lie, with etcd paused mid-run; every invariant checked after every round and
at the end (benchmarks/fleet_fuzz.py runs 500)."""
from __future__ import annotations

from rdmacheck.fleet.fuzz import Scenario, run_many

SEEDS = range(50)


def test_fifty_seeded_scenarios_break_no_invariant(etcd_server):
    broke = run_many(SEEDS, etcd_server.url, etcd_server.proc.pid)
    said = {seed: (Scenario.draw(seed).describe(), breaks[:3]) for seed, breaks in broke.items()}
    assert not broke, said


def test_the_scenarios_cover_every_fault():
    scenarios = [Scenario.draw(s) for s in SEEDS]
    f = [sc.faults for sc in scenarios]
    assert sum(bool(x.bad_hosts) for x in f) >= 5 and sum(bool(x.bad_links) for x in f) >= 5
    assert sum(bool(x.die_in_round) for x in f) >= 5 and sum(bool(x.freeze_in_round) for x in f) >= 5
    assert {kind for x in f for _, kind in x.lie_in_round.values()} == {"types", "other-key", "other-run", "huge",
                                                                        "not-json"}
    assert sum(sc.pause is not None for sc in scenarios) >= 5
    assert {sc.pairing for sc in scenarios} == {"all", "ring", "bisection", "random:3"}
