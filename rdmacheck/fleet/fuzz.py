"""A stateful fuzz of the fleet (a test and benchmark harness): seeded scenarios of simulated agents over a real
etcd - hosts that fail with everyone, broken links, agents that die, freeze past or within their round's
deadline, lie (wrong types, other runs' nonces, huge values, text that is not JSON, values under another host's
key) - and etcd itself paused mid-run. After every round and at the end the invariants are checked:

  1. the coordinator never raises;
  2. a link is named bad only with data-plane evidence against it from two hosts that passed elsewhere, and
     only a link the scenario broke;
  3. no host is Healthy without a PASS of its own in the run (so a host the scenario broke never is); a host
     is named bad only if it is down or failed on the data plane with every partner, at least two;
  4. every results file written (each round's, the last) is parseable, reads back through the report's
     schema, and judged again says the same health and host lines as written.

`run_scenario` returns the breaks of one scenario (empty: none)."""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from dataclasses import dataclass
from itertools import combinations

from rdmacheck.fleet.coordinator import Coordinator, FleetPlan
from rdmacheck.fleet.protocol import PairSettings
from rdmacheck.fleet.result import FleetResult, result_from_file
from rdmacheck.fleet.simulate import LIES, SimFaults, start_sim_agents
from rdmacheck.fleet.store import FleetStore
from rdmacheck.metadata.etcd import EtcdConfig, EtcdStore, parse_metadata_url
from rdmacheck.words import Verdict

SETTINGS = PairSettings(start_timeout=0.4, round_timeout=0.4)  # a round's deadline: 2.4 s
PAIRINGS = ("all", "ring", "bisection", "random:3")


@dataclass
class Scenario:
    seed: int
    hosts: list[str]
    pairing: str
    faults: SimFaults
    pause: tuple[int, float] | None = None  # etcd SIGSTOPped once round k is out, for s seconds

    @classmethod
    def draw(cls, seed: int) -> Scenario:
        rng = random.Random(seed)
        hosts = [f"h{i}" for i in range(rng.randint(3, 6))]
        f = SimFaults(targets_serve=True)
        sc = cls(seed, hosts, rng.choice(PAIRINGS), f)
        deadline = SETTINGS.budgets().coordinator
        for h in hosts:
            x = rng.random()
            if x < 0.12:
                f.bad_hosts.add(h)
            elif x < 0.22:
                f.die_in_round[h] = rng.randint(0, 3)
            elif x < 0.32:
                f.freeze_in_round[h] = (rng.randint(0, 3), rng.choice([0.2, deadline + 1.0]))
            elif x < 0.47:
                f.lie_in_round[h] = (rng.randint(0, 3), rng.choice(LIES))
        for a, b in combinations(hosts, 2):
            if rng.random() < 0.1:
                f.bad_links.add(frozenset((a, b)))
        if rng.random() < 0.2:
            sc.pause = (rng.randint(0, 2), rng.choice([0.3, 0.8]))
        return sc

    def describe(self) -> str:
        f = self.faults
        parts = [f"seed {self.seed}: {len(self.hosts)} hosts, {self.pairing}"]
        parts += [f"bad {sorted(f.bad_hosts)}"] if f.bad_hosts else []
        parts += [f"links {sorted(sorted(x) for x in f.bad_links)}"] if f.bad_links else []
        parts += [f"dies {f.die_in_round}"] if f.die_in_round else []
        parts += [f"freezes {f.freeze_in_round}"] if f.freeze_in_round else []
        parts += [f"lies {f.lie_in_round}"] if f.lie_in_round else []
        parts += [f"etcd paused {self.pause}"] if self.pause else []
        return "; ".join(parts)


def check(sc: Scenario, res: FleetResult) -> list[str]:
    """Invariants 2 and 3 on one result (mid-run or final)."""
    breaks = []
    d = res.diagnosis
    finals = res.final_pairs()
    passed = {h for o in finals if o.verdict == Verdict.PASS for h in o.pair}
    for r in d.bad_links:
        a, b = r.pair
        evidence = [o for o in finals if {a, b} == set(o.pair) and o.verdict == Verdict.FAIL and o.plane == "data"]
        elsewhere = all(any(o.verdict == Verdict.PASS and h in o.pair and o.pair != r.pair for o in finals)
                        for h in (a, b))
        if not evidence or not elsewhere:
            breaks.append(f"bad link {a}<->{b} without data-plane evidence from two hosts that passed elsewhere")
        if frozenset((a, b)) not in sc.faults.bad_links:
            breaks.append(f"bad link {a}<->{b} named, but the scenario broke no such link")
    for h in d.bad_hosts:
        if h in res.host_down or h in res.missing:
            continue
        mine = [o for o in finals if h in o.pair and (o.verdict == Verdict.PASS or o.plane == "data")]
        partners = {o.initiator if o.target == h else o.target for o in mine}
        if any(o.verdict == Verdict.PASS for o in mine) or len(partners) < 2:
            breaks.append(f"{h} named a bad host without failing on the data plane with every partner (>= 2)")
    for h in d.healthy:
        if h not in passed:
            breaks.append(f"{h} Healthy without a PASS")
        if h in sc.faults.bad_hosts:
            breaks.append(f"{h} Healthy, but the scenario made it fail with everyone")
    return breaks


def check_file(text: str, where: str) -> list[str]:
    """Invariant 4: the file parses, reads back through the report's schema, and says what it shows."""
    try:
        data = json.loads(text)
        again = result_from_file(data, where)
    except Exception as e:  # noqa: BLE001 - any failure here is a break, said with what it was
        return [f"{where}: unreadable: {type(e).__name__}: {e}"]
    if again.host_lines() != data["host_lines"] or again.healthy != data["healthy"]:
        return [f"{where}: judged again it says {again.host_lines()} (healthy {again.healthy}), the file says "
                f"{data['host_lines']} (healthy {data['healthy']})"]
    return []


def _pause_etcd(pid: int, res: FleetResult, round_index: int, seconds: float, stop: threading.Event) -> None:
    while len(res.rounds) < round_index and not stop.wait(0.02):
        pass
    if stop.is_set():
        return
    os.kill(pid, signal.SIGSTOP)
    try:
        stop.wait(seconds)
    finally:
        os.kill(pid, signal.SIGCONT)


def run_scenario(sc: Scenario, etcd_url: str, etcd_pid: int | None = None) -> list[str]:
    cfg = EtcdConfig(parse_metadata_url(etcd_url), cluster=f"fuzz{sc.seed}", ttl=2, timeout=1.0)
    shared = EtcdStore.connect(cfg)
    agents, threads = start_sim_agents(shared, sc.hosts, [0.02, 0.05], sc.faults, poll=0.05)
    plan = FleetPlan(expect=list(sc.hosts), pairing=sc.pairing, seed=sc.seed, settings=SETTINGS, join_timeout=15,
                     poll=0.05, retest_rounds=2)
    store = FleetStore(EtcdStore.connect(cfg))
    breaks: list[str] = []

    def after_round(r: FleetResult) -> None:
        breaks.extend(f"round {len(r.rounds) - 1}: {b}" for b in check(sc, r))
        breaks.extend(check_file(r.json_text(), f"the file after round {len(r.rounds) - 1}"))

    coord = Coordinator(plan, store, say=lambda s: None, on_round=after_round)
    stop = threading.Event()
    pauser = None
    if sc.pause and etcd_pid:
        pauser = threading.Thread(target=_pause_etcd, args=(etcd_pid, coord.result, *sc.pause, stop), daemon=True)
        pauser.start()
    try:
        res = coord.run()
    except Exception as e:  # noqa: BLE001 - invariant 1
        breaks.append(f"the coordinator raised {type(e).__name__}: {e}")
        res = coord.result
    finally:
        stop.set()
        if pauser is not None:
            pauser.join(5)
        sc.faults.release.set()
        deadline = time.monotonic() + 10  # the agents leave on the run's end (a frozen one once it wakes)
        for t in threads:
            t.join(max(0.1, deadline - time.monotonic()))
        if agents:
            agents[0].store.store.stop_keepalive()  # the simulated agents' one keep-alive thread
        store.close()
        shared.close()
    breaks += check(sc, res)
    breaks += check_file(res.json_text(), "the final file")
    return breaks


def run_many(seeds: range, etcd_url: str, etcd_pid: int | None = None,
             on_scenario=lambda sc, breaks, seconds: None) -> dict[int, list[str]]:
    """Every seed's scenario; the breaks of those that broke an invariant."""
    broke = {}
    for seed in seeds:
        sc = Scenario.draw(seed)
        t0 = time.monotonic()
        breaks = run_scenario(sc, etcd_url, etcd_pid)
        on_scenario(sc, breaks, time.monotonic() - t0)
        if breaks:
            broke[seed] = breaks
    return broke
