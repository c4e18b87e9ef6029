"""`rdmacheck fleet run`: the coordinator. Waits for the agents (a deadline that names who is
missing), computes the schedule, publishes one round at a time, collects each pair's result with a
per-round deadline, treats an agent whose lease expired as a host down (its pairs: `host-down`,
never a hang), retests failed pairs with other partners, and isolates bad hosts from bad links."""

from __future__ import annotations

import os
import secrets
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Callable

import msgspec

from rdmacheck import interrupts
from rdmacheck.fleet import protocol as proto
from rdmacheck.fleet.isolation import retests
from rdmacheck.fleet.protocol import PairOutcome, PairSettings, RoundPlan
from rdmacheck.fleet.result import FleetResult, RoundStats
from rdmacheck.fleet.schedule import Pair, Pairing, Schedule
from rdmacheck.fleet.schemas import AgentValue, BoundaryError, decode, is_host_name
from rdmacheck.fleet.store import FleetStore
from rdmacheck.fleet.watch import PrefixWatch
from rdmacheck.words import Verdict


@dataclass
class FleetPlan:
    expect: list[str] | int  # the agents' names, or how many
    pairing: Pairing = field(default_factory=lambda: Pairing("all"))
    seed: int = 0
    settings: PairSettings = field(default_factory=PairSettings)
    join_timeout: float = 120.0
    round_timeout: float | None = None  # default: from the pair settings
    retest_rounds: int = 2  # extra rounds that pair undecided hosts with new partners
    slow_if: str = "mad:3.5"  # fleet/slowness.SlowRule: how the measured links are judged
    every: float | None = None  # as a service: a new run this many seconds after the last one started
    runs: int = 0  # as a service: stop after this many runs (0: until stopped)
    poll: float = 0.25  # the longest wait for a change before the deadlines are looked at again
    safety: float = 10.0  # a re-read of the hosts' keys, in case the watch's stream hid a change

    def __post_init__(self) -> None:
        self.pairing = Pairing.of(self.pairing)

    def round_deadline(self) -> float:
        s = self.settings
        return self.round_timeout or s.budgets().coordinator

class Coordinator:
    def __init__(self, plan: FleetPlan, store: FleetStore, say: Callable[[str], None] = print,
                 on_round: Callable[[FleetResult], None] = lambda result: None,
                 on_run: Callable[[FleetResult, bool], None] = lambda result, last: None):
        self.plan, self.store, self.say, self.on_round, self.on_run = plan, store, say, on_round, on_run
        self.round_base = 0  # rounds of the earlier runs of a service: indexes keep growing (agents act once each)
        self.ignored: set[tuple[str, int]] = set()  # (result key, round) already warned about
        self.result = FleetResult(run=store.store.cfg.cluster, pairing=str(plan.pairing), started=time.time(),
                                  slow_if=plan.slow_if)
        self.down: dict[str, float] = {}  # host -> seconds into the run its lease was found gone
        self.t0 = time.monotonic()
        self.nonce = secrets.token_hex(8)  # this run's: agents put it back with every ready and result value
        self.hosts_watch: PrefixWatch | None = None  # every host's keys: registrations, results, leases gone
        self.wake = threading.Event()
        self.changed: deque[str] = deque()  # keys under fleet/host/ put or deleted since last looked at
        self.suspect: dict[str, float] = {}  # host -> since when its key is gone right after an etcd outage
        self.unwritten = False  # a finished round whose results are not yet in the files

    def run(self) -> FleetResult:
        try:
            # Claim the run first (create-if-absent: a live coordinator of the same run keeps it), then clear a
            # previous run's control keys, then publish. Every control value carries this run's nonce (the
            # coordinator key too), and agents act only on their run's: an earlier run's end left behind, seen
            # by an agent that started before this coordinator, is not this run's end.
            self.store.publish_leased(proto.COORDINATOR, {"pid": os.getpid(), "started": time.time(), "run": self.nonce})
            for stale in (proto.ROUND, proto.END, proto.PLAN):
                self.store.delete_prefix(stale)
            self.hosts_watch = PrefixWatch(self.store, proto.HOSTS, on_event=self._on_host_event).start()
            self.hosts_watch.listen(self.wake)
            self.hosts_watch.refresh_every(self.plan.safety)
            hosts = self._wait_agents()
            runs = 0
            while True:
                began = time.monotonic()
                if len(hosts) >= 2:
                    for pairs in Schedule(self.plan.pairing, tuple(hosts), self.plan.seed).rounds():
                        self._round(pairs)
                    self._retest(hosts)
                self.result.finished = True
                self.result.duration_s = round(time.monotonic() - self.t0, 3)
                runs += 1
                last = self.plan.every is None or (self.plan.runs and runs >= self.plan.runs)
                self.on_run(self.result, bool(last))
                if last:
                    break
                self._next_run(began, hosts)
        finally:
            if self.hosts_watch is not None:
                self.hosts_watch.close()
            self.result.duration_s = round(time.monotonic() - self.t0, 3)
            self._write()
            try:
                self.store.put(proto.END, {"run": self.nonce,
                                           "reason": "run complete" if self.result.finished else "coordinator stopped"})
            except Exception:  # noqa: BLE001 - etcd gone: the agents see the coordinator's lease expire instead
                pass
        return self.result

    def _on_host_event(self, kind: str, key: str, value) -> None:
        self.changed.append(key)

    def _wait(self) -> None:
        """Until a host's key changes (or `poll`). The safety re-read of every host's keys runs beside
        (at 4,096 hosts ~0.2 s of decoding: here it could hold back a round's last result)."""
        self.wake.wait(self.plan.poll)
        self.wake.clear()
        interrupts.check()

    def _agents(self) -> dict[str, dict]:
        regs = {h: self._registration(h, keys.get("agent"))
                for h, keys in proto.host_keys(self.hosts_watch.snapshot()).items()}
        return {h: reg for h, reg in regs.items() if reg is not None}

    def _registration(self, host: str, value: object) -> dict | None:
        """An agent's registration through its schema (schemas.AgentValue), for the host its key names; a value
        that fails it is one warning and no agent (its host is then missing, never a crash)."""
        if value is None:
            return None
        key = proto.agent_key(host)
        try:
            if not is_host_name(host):
                raise BoundaryError(f"{key}: the key's host name {host!r} is not a host name")
            reg = decode(value, AgentValue, key)
            if reg.host != host:
                raise BoundaryError(f"{key}: the registration names host {reg.host!r}, not its key's")
        except BoundaryError as e:
            self._ignore(key, -1, str(e))
            return None
        return msgspec.structs.asdict(reg)

    def _wait_agents(self) -> list[str]:
        want = self.plan.expect
        deadline = time.monotonic() + self.plan.join_timeout
        self.changed.clear()
        agents = self._agents()  # then only the keys that changed: a join costs its agents, not their square
        self.result.joined = {h: round(time.monotonic() - self.t0, 3) for h in agents}  # there before it looked
        said = False
        while True:
            have = sorted(agents)
            enough = (set(want) <= set(have)) if isinstance(want, list) else len(have) >= want
            if enough or time.monotonic() >= deadline:
                break
            if not said:  # a wait of up to --join-timeout: say for what
                said = True
                who = ", ".join(sorted(set(want) - set(have))) if isinstance(want, list) else f"{want - len(have)} more"
                self.say(f"fleet: waiting up to {self.plan.join_timeout:g} s for the agents ({who}; {len(have)} here)")
            self._wait()
            while self.changed:
                host, _, leaf = self.changed.popleft().partition("/")
                if leaf == "agent":
                    value = self._registration(host, self.hosts_watch.get(f"{host}/agent"))
                    if value is not None:
                        agents[host] = value
                        self.result.joined.setdefault(host, round(time.monotonic() - self.t0, 3))
                    else:
                        agents.pop(host, None)
        self.result.agents = agents
        missing = sorted(set(want) - set(have)) if isinstance(want, list) else []
        if not enough:
            short = missing or [f"{want - len(have)} of {want} expected"]
            self.result.missing = short
            self.say(f"fleet: after {self.plan.join_timeout:g} s, missing agents: {', '.join(short)}")
        hosts = sorted(set(have) | set(missing)) if isinstance(want, list) else have
        for h in missing:
            self.down[h] = 0.0  # never joined: its pairs are host-down without being sent
        self.result.hosts = hosts
        self.say(f"fleet: {len(have)} agent(s): {', '.join(have)}")
        return hosts

    def _next_run(self, began: float, hosts: list[str]) -> None:
        """As a service: wait for the next run's start (Ctrl-C ends the wait), then a fresh result for it; the
        agents stay registered. A host whose agent is registered again is back; one still gone is down."""
        self._write()
        at = began + float(self.plan.every or 0)
        self.say(f"fleet: next run in {max(0.0, at - time.monotonic()):.0f} s (every {self.plan.every:g} s); "
                 "Ctrl-C stops")
        while (left := at - time.monotonic()) > 0:
            self.wake.wait(min(left, 1.0))
            self.wake.clear()
            interrupts.check()
        self.round_base += len(self.result.rounds)
        old = self.result
        self.result = FleetResult(run=old.run, pairing=old.pairing, started=time.time(), slow_if=old.slow_if,
                                  hosts=list(hosts), agents=old.agents, joined=old.joined, missing=old.missing)
        self.t0 = time.monotonic()
        here = self._agents()
        self.down = {h: 0.0 for h in hosts if h not in here}
        self.result.host_down = dict(self.down)

    def _round(self, pairs: list[Pair], retest: bool = False) -> None:
        index = self.round_base + len(self.result.rounds)
        t0 = time.monotonic()
        req0 = self.store.requests
        self._check_leases()
        live = [p for p in pairs if not (set(p) & set(self.down))]
        outcomes = {p: self._host_down(index, p) for p in pairs if p not in live}
        plan = RoundPlan(index, live, self.plan.settings, retest, run=self.nonce,
                         shards=proto.shard_count(len(self.result.hosts)),
                         addresses={p.target: self._address(p.target) for p in live})
        published = time.time()
        if live:  # the shards first: an agent that sees the round finds its pairs
            self.store.put_many(plan.shard_values())
            self.store.put(proto.ROUND, plan.header_json())
        self._write()  # the last round's results, while this one's pairs start (4,096 hosts: 0.2 s of JSON)
        deadline = time.monotonic() + self.plan.round_deadline()
        by_initiator = {p.initiator: p for p in live}  # a pair's result is under its initiator's key
        look = [f"{p.initiator}/result" for p in live]  # results put before this loop began
        down_seen = -1
        lag = 0.0
        while len(outcomes) < len(pairs) and time.monotonic() < deadline:
            for key in look:  # only the keys that changed: a round's cost grows with its pairs, not squared
                host, _, leaf = key.partition("/")
                p = by_initiator.get(host)
                value = self.hosts_watch.get(key)
                if leaf == "agent" and value is None and host not in self.down and host in self.result.hosts:
                    self._agent_key_gone(host)
                if leaf != "result" or p is None or p in outcomes or not proto.current(value, self.nonce, index):
                    continue
                out, why = proto.accept_result(index, p, value)
                if out is None:
                    self._ignore(proto.result_key(p), index, why)
                else:
                    outcomes[p] = out
                    took = time.time() - out.reported_at  # another host's clock: a stamp off by more is left out
                    if 0 <= took <= self.plan.round_deadline():
                        lag = max(lag, took)
            self._settle_suspects()
            if len(self.down) != down_seen:  # a host went down: its pending pairs are settled at once
                down_seen = len(self.down)
                for p in live:
                    if p not in outcomes and (p.target in self.down or p.initiator in self.down):
                        outcomes[p] = self._host_down(index, p)
            if len(outcomes) < len(pairs):
                self._wait()
                look = []
                while self.changed:
                    look.append(self.changed.popleft())
        for p in live:
            if p not in outcomes:
                outcomes[p] = PairOutcome(index, p.target, p.initiator, Verdict.FAIL, finding="deadline",
                                          plane=proto.CONTROL_PLANE,
                                          detail=f"no result within the round's {self.plan.round_deadline():g} s")
        wall = time.monotonic() - t0
        slowest = max((o.duration_s for o in outcomes.values()), default=0.0)
        self.result.rounds.append(RoundStats(index, [list(p) for p in pairs], retest, round(wall, 3),
                                             round(max(0.0, wall - slowest), 3), self.store.requests - req0,
                                             round(published, 3), round(time.time(), 3), round(lag, 3)))
        self.result.pairs.extend(outcomes[p] for p in pairs)
        ok = sum(o.verdict == Verdict.PASS for o in outcomes.values())
        self.say(f"fleet: round {index}{' (retest)' if retest else ''}: {ok}/{len(pairs)} pairs passed in {wall:.1f} s")
        self.unwritten = True  # written once the next round is out, or the run ends

    def _address(self, host: str) -> str:
        """Where its targets listen: its registration as the watch holds it now (an agent that restarted
        may have re-registered), else as it joined (a key briefly gone after an etcd outage)."""
        now = self.hosts_watch.values.get(f"{host}/agent")
        reg = now if isinstance(now, dict) else self.result.agents.get(host, {})
        return str(reg.get("address") or "")

    def _write(self) -> None:
        """The results so far into the files (as they come: a run cut short later keeps every round)."""
        if self.unwritten:
            self.unwritten = False
            self.on_round(self.result)

    def _ignore(self, key: str, index: int, why: str) -> None:
        """A value of this round under a result key that is not the pair's result: one warning, ignored."""
        if (key, index) not in self.ignored:
            self.ignored.add((key, index))
            self.say(f"fleet: warning: ignored {key}" + (f" (round {index})" if index >= 0 else "") + f": {why}")

    def _check_leases(self) -> None:
        """Every round begins with the registrations the hosts' watch holds: a lease that expired is its
        key's delete, and the watch's safety re-read catches one its stream hid. (A keys-only read of
        every host's keys here cost 0.11-0.16 s at 4,096 hosts before each round could be published.)"""
        values = self.hosts_watch.values
        for h in self.result.hosts:
            if h not in self.down and not isinstance(values.get(f"{h}/agent"), dict):
                self._agent_key_gone(h)

    def _agent_key_gone(self, h: str) -> None:
        """A registration's delete is its lease expiring: the host is down at once, unless etcd itself was
        away just before (a frozen or restarted etcd lapses every lease, and each agent's keep-alive puts
        its key back): then the host is down only if its key is still gone a lease TTL and a second later."""
        ttl = self.store.store.cfg.ttl
        if time.monotonic() - self.store.outage_at < 2 * ttl + 5:
            self.suspect.setdefault(h, time.monotonic())
        else:
            self._lease_gone(h)

    def _settle_suspects(self) -> None:
        ttl = self.store.store.cfg.ttl
        for h, since in list(self.suspect.items()):
            if isinstance(self.hosts_watch.values.get(f"{h}/agent"), dict):
                del self.suspect[h]  # back: its keep-alive published it again
            elif time.monotonic() - since > ttl + 1:
                del self.suspect[h]
                if h not in self.down:
                    self._lease_gone(h)

    def _lease_gone(self, h: str) -> None:
        self.down[h] = round(time.monotonic() - self.t0, 3)
        self.result.host_down[h] = self.down[h]
        self.say(f"fleet: agent {h}'s lease expired ({self.down[h]:.1f} s into the run): host down")

    def _host_down(self, index: int, p: Pair) -> PairOutcome:
        who = [h for h in p if h in self.down]
        return PairOutcome(index, p.target, p.initiator, Verdict.FAIL, finding=proto.HOST_DOWN,
                           plane=proto.CONTROL_PLANE, detail=f"agent {', '.join(who)} is gone (lease expired or never joined)")

    def _retest(self, hosts: list[str]) -> None:
        """Up to --retest-rounds rounds: each bad link tested once more as the same pair (a second FAIL confirms
        it; a PASS makes it a flaky link), each slow link measured once more as the same pair (it stays slow only
        if the second measurement is slow too: one busy moment of a host's CPU is not a slow link), and each
        undecided, slow-undecided or untested host with a partner it has not met (retests)."""
        for _ in range(self.plan.retest_rounds):
            d = self.result.diagnosis
            live = [h for h in hosts if h not in self.down]
            tested = Counter(frozenset(o.pair) for o in self.result.pairs)
            busy: set[str] = set()
            confirm = []
            for pair in [*(r.pair for r in d.bad_links), *d.slowness.slow_links]:
                if tested[frozenset(pair)] == 1 and set(pair) <= set(live) and not set(pair) & busy:
                    confirm.append(pair)
                    busy |= set(pair)
            rounds = retests(d, self.result.pair_results(), live)
            pairs = confirm + [p for p in (rounds[0] if rounds else []) if not set(p) & busy]
            if not pairs:
                return
            self._round(pairs, retest=True)
