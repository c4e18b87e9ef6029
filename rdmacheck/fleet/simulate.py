"""Simulated agents: the real agent's etcd protocol (fleet/agent.py's loop, keys and deadlines) with
the RDMA pair test replaced by a wait drawn from measured per-pair times. A control-plane
simulation: it measures the coordinator and etcd, never RDMA. Used by the host tests of the
coordinator (faults: a bad host, a bad link, an agent that dies; slow ones by made-up link numbers) and
benchmarks/fleet_sim.py."""

from __future__ import annotations

import json
import random
import threading
import time
from dataclasses import dataclass, field

from rdmacheck.fleet import protocol as proto
from rdmacheck.fleet.agent import Agent, AgentConfig
from rdmacheck.fleet.protocol import PairOutcome, RoundPlan
from rdmacheck.fleet.store import FleetStore
from rdmacheck.fleet.watch import PrefixWatch
from rdmacheck.metadata.etcd import EtcdStore
from rdmacheck.words import Verdict


@dataclass
class SimFaults:
    bad_hosts: set[str] = field(default_factory=set)  # fail with every partner
    bad_links: set[frozenset] = field(default_factory=set)  # these pairs fail
    flapping: set[frozenset] = field(default_factory=set)  # these pairs fail their first test, pass when retested
    tested: dict[frozenset, int] = field(default_factory=dict)  # how often each pair has been tested so far
    die_in_round: dict[str, int] = field(default_factory=dict)  # host -> round it dies in (lease left to expire)
    stall_in_round: int | None = None  # every pair of this round hangs until `release` is set (a test's SIGINT
    release: threading.Event = field(default_factory=threading.Event)  # lands mid-run, whatever the machine's load)
    freeze_in_round: dict[str, tuple[int, float]] = field(default_factory=dict)  # host -> (round, seconds it hangs
    # there before going on: its lease kept, like a process stopped and resumed within its lease)
    lie_in_round: dict[str, tuple[int, str]] = field(default_factory=dict)  # host -> (round, LIES kind): what it
    # puts in that round instead of its result (as initiator), or beside its ready (as target)
    slow_hosts: set[str] = field(default_factory=set)  # its links measure `slow_by` times slower with everyone
    slow_links: set[frozenset] = field(default_factory=set)  # these pairs measure `slow_by` times slower
    slow_once: set[frozenset] = field(default_factory=set)  # these measure slower in their first test only (noise)
    slow_by: float = 4.0
    measure: bool = False  # a PASS carries its link's numbers (sim_link), as a measuring pair's does
    targets_serve: bool = False  # an initiator passes only once its target serves (harnesses of one process)
    serving: set = field(default_factory=set)  # (run, round, target) of every simulated target that serves


def sim_link(rng: random.Random, slower: float = 1.0) -> dict[str, float]:
    """A link's numbers as verbs/measure.measure_link reports them, made up: the fastest of 100 READs ~20 µs
    (lognormal noise), 10 GB/s within +-15% each way; `slower` times worse in every figure (a slow host or path)."""
    return {"read_lat_us_min": 20.0 * rng.lognormvariate(0, 0.08) * slower, "read_lat_us_p50": 22.0 * slower,
            "read_lat_us_p99": 30.0 * slower, "write_MBps": 10000.0 * rng.uniform(0.85, 1.15) / slower,
            "read_MBps": 10000.0 * rng.uniform(0.85, 1.15) / slower, "reads": 100.0}


LIES = ("types", "other-key", "other-run", "huge", "not-json")


@dataclass
class SharedWatches:
    """One harness process's watches, shared by its simulated agents as one stream: the control keys,
    and each shard of the pairs that one of them follows (started by the first agent that needs it)."""
    control: PrefixWatch
    shards: dict[int, PrefixWatch] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class SimAgent(Agent):
    def __init__(self, cfg: AgentConfig, store: FleetStore, pair_seconds: list[float], faults: SimFaults,
                 watches: SharedWatches):
        super().__init__(cfg, say=lambda s: None)
        self.shared = store
        self.watches = watches
        self.pair_seconds, self.faults = pair_seconds, faults
        self.exit_code: int | None = None
        self.start_requests: int | None = None  # its requests before its first round's pair (join, watches)

    def _shard_watch(self, k: int) -> tuple[PrefixWatch, threading.Event]:
        if self.shard is None:
            with self.watches.lock:
                if k not in self.watches.shards:
                    self.watches.shards[k] = PrefixWatch(self.store, proto.plan_key(k)).start()
                self.shard = self.watches.shards[k]
            self.shard_arrived = self.shard.listen()
        return self.shard, self.shard_arrived

    def run(self) -> int:
        self.store = self.shared
        info = {"host": self.cfg.host, "device": "sim", "provider": "sim", "address": "0.0.0.0", "version": "sim",
                "pid": 0}
        self.store.publish_leased(proto.agent_key(self.cfg.host), info)
        self.control = self.watches.control
        self.control.listen(self.wake)
        self._wait_coordinator()
        return self._loop()

    def _play(self, plan: RoundPlan, pair) -> None:
        if self.start_requests is None:
            self.start_requests = self.store.requests
        if self.faults.stall_in_round == plan.index:
            self.faults.release.wait()
        if self.faults.die_in_round.get(self.cfg.host) == plan.index:
            self.store.store.abandon(proto.agent_key(self.cfg.host))  # like SIGKILL: the lease runs out
            raise SystemExit(137)
        frozen = self.faults.freeze_in_round.get(self.cfg.host)
        if frozen and frozen[0] == plan.index:
            time.sleep(frozen[1])
        lie = self.faults.lie_in_round.get(self.cfg.host)
        if lie and lie[0] == plan.index:
            self._lie(plan, pair, lie[1])
            if pair.initiator == self.cfg.host and lie[1] != "other-key":
                return  # its pair gets no readable result from it: the coordinator's deadline ends it
        rng = random.Random(f"{plan.run}:{plan.index}:{pair.target}:{pair.initiator}")
        took = rng.choice(self.pair_seconds)  # the same on both sides of the pair, whichever harness process each is in
        if pair.target == self.cfg.host:  # as the real target: ready, then serve until the pair is over
            self.store.put(proto.ready_key(pair.target), {"run": plan.run, "round": plan.index,
                                                          "addr": ["0.0.0.0", plan.port]})
            self.faults.serving.add((plan.run, plan.index, pair.target))
            self._serve_until(plan, pair, plan.settings.serve_budget(), self._served_after(took))
            return
        if pair.target not in plan.addresses:  # as the real agent
            out = PairOutcome(plan.index, pair.target, pair.initiator, Verdict.FAIL, finding="target-not-ready",
                              reported_by=self.cfg.host, plane=proto.CONTROL_PLANE)
        elif self.faults.targets_serve and not self._target_serves(plan, pair):
            out = PairOutcome(plan.index, pair.target, pair.initiator, Verdict.FAIL, finding="target-not-ready",
                              detail="the simulated target never served", reported_by=self.cfg.host,
                              plane=proto.CONTROL_PLANE)
        else:
            time.sleep(took)
            key = frozenset(pair)
            self.faults.tested[key] = self.faults.tested.get(key, 0) + 1
            bad = set(pair) & self.faults.bad_hosts or key in self.faults.bad_links or \
                (key in self.faults.flapping and self.faults.tested[key] == 1)
            f = self.faults
            slow = set(pair) & f.slow_hosts or key in f.slow_links or (key in f.slow_once and f.tested[key] == 1)
            slower = f.slow_by if slow else 1.0
            out = PairOutcome(plan.index, pair.target, pair.initiator, Verdict.FAIL if bad else Verdict.PASS,
                              finding="deadline" if bad else None, reconnect_ms=[] if bad else [took * 300],
                              duration_s=took, reported_by=self.cfg.host,
                              link=sim_link(rng, slower) if f.measure and not bad else None)
        self._report(plan, pair, out)


    def _target_serves(self, plan: RoundPlan, pair) -> bool:
        """As a real initiator: no data without a target (a dead or frozen one never answers)."""
        deadline = time.monotonic() + plan.settings.start_timeout
        while (plan.run, plan.index, pair.target) not in self.faults.serving:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    def _lie(self, plan: RoundPlan, pair, kind: str) -> None:
        """What a broken or hostile agent puts under its own result key: wrong types, another run's nonce, a
        huge value, text that is not JSON; or ("other-key") a FAIL under another pair's initiator's key, put
        as itself (without etcd's access control anyone can write any key: what the value says of its author
        is what is checked)."""
        c, cfg = self.store.store.client, self.store.store.cfg
        good = json.loads(PairOutcome(plan.index, pair.target, pair.initiator, Verdict.PASS, reported_by=self.cfg.host,
                                      run=plan.run, reconnect_ms=[1.0]).to_json())
        key = proto.result_key(pair)
        if kind == "other-key":
            other = next((p for p in plan.pairs if self.cfg.host not in p), None)
            if other is None:
                return
            key = proto.result_key(other)
            good |= {"target": other.target, "initiator": other.initiator, "verdict": Verdict.FAIL, "finding": "deadline"}
        forged = {"types": json.dumps(good | {"finding": ["x"], "duration_s": "soon"}),
                  "other-key": json.dumps(good),
                  "other-run": json.dumps(good | {"run": "another-run"}),
                  "huge": json.dumps(good | {"detail": "x" * 200_000}),
                  "not-json": "{not json"}[kind]
        c.put(cfg.key(key), forged)

    def _served_after(self, took: float):
        """The simulated target role: it has served its pair once the initiator's draw of the pair's time
        has passed (the real one: from its own events); woken by a change of the control keys."""
        end = time.monotonic() + took

        def over(wait: float) -> str | None:
            left = end - time.monotonic()
            if left <= 0:
                return "served (simulated)"
            self.wake.wait(min(wait, left))
            return None
        return over


def start_sim_agents(shared: EtcdStore, hosts: list[str], pair_seconds: list[float], faults: SimFaults,
                     poll: float = 0.5) -> tuple[list[SimAgent], list[threading.Thread]]:
    """One thread per agent over one etcd connection and one keep-alive thread (each agent with a lease of
    its own, its own request count), one watch on the control keys and one on each shard for all of them:
    light enough for 1,000 agents in a process."""
    agents, threads = [], []
    leases = EtcdStore(cfg=shared.cfg, client=shared.client, endpoint=shared.endpoint)
    watches = SharedWatches(PrefixWatch(FleetStore(leases), proto.CONTROL).start())
    for h in hosts:
        store = FleetStore(leases)
        cfg = AgentConfig(host=h, device="sim", address="0.0.0.0", etcd=shared.cfg, poll=poll, join_timeout=60)
        a = SimAgent(cfg, store, pair_seconds, faults, watches)

        def run(a=a):
            try:
                a.exit_code = a.run()
            except SystemExit as e:
                a.exit_code = e.code

        t = threading.Thread(target=run, name=f"sim-{h}", daemon=True)
        t.start()
        agents.append(a)
        threads.append(t)
    return agents, threads
