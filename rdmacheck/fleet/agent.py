"""`rdmacheck fleet agent`: one per host. Registers under a lease, follows the coordinator's rounds,
runs its side of each assigned pair test, publishes what it saw; exits when the run ends or the
coordinator's lease is gone. Every wait has a deadline and names what it waited for."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import rdmacheck
from rdmacheck.errors import DeadlineExceeded, RdmacheckError
from rdmacheck.fleet import protocol as proto
from rdmacheck.fleet.protocol import AgentInfo, PairOutcome, RoundPlan
from rdmacheck.fleet.schemas import BoundaryError, EndValue, ReadyValue, decode
from rdmacheck.fleet.store import FleetStore
from rdmacheck.fleet.watch import PrefixWatch
from rdmacheck.metadata.etcd import EtcdConfig, MetadataError
from rdmacheck.roles.forkserver import ForkServer
from rdmacheck.roles.process import RoleFailed
from rdmacheck.roles.spawn import spawn_policy
from rdmacheck.words import Verdict

SHARD_WAIT_S = 1.0  # how long a round's shard may trail its round key on the watches before it is read


@dataclass
class AgentConfig:
    host: str  # its name in the fleet
    device: str
    address: str  # the IPv4 its targets listen on
    etcd: EtcdConfig
    provider: str = "?"
    join_timeout: float = 120.0  # for the coordinator to appear
    poll: float = 0.5  # between retries while etcd is away
    safety: float = 10.0  # a re-read of what the watches follow, in case a broken stream hid a change
    log_dir: Path = Path("rdmacheck-logs/fleet")
    token: bytes | None = field(default=None, repr=False)  # the pair tests' handshake secret (every host's)


def process_age() -> float:
    """Seconds since this process started (Linux: its start in clock ticks since boot, against the uptime)."""
    try:
        started = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
        return round(float(Path("/proc/uptime").read_text().split()[0]) - started, 3)
    except (OSError, ValueError, IndexError):
        return 0.0


class Agent:
    def __init__(self, cfg: AgentConfig, say: Callable[[str], None] = print):
        self.cfg = cfg
        self.say = say
        self.store: FleetStore | None = None
        self.done_rounds: set[int] = set()
        self.forkserver: ForkServer | None = None
        self.bad_round: object = None  # the last unreadable round value, said once
        self.control: PrefixWatch | None = None  # the run's control keys, followed by a watch
        self.shard: PrefixWatch | None = None  # this host's shard of the rounds' pairs (fleets of several)
        self.shard_arrived = threading.Event()  # set by the shard watch's changes
        self.wake = threading.Event()  # set by every watched change
        self.coordinator_missing: float | None = None  # since when the coordinator's key is gone (monotonic)
        self.ignored: dict[str, str] = {}  # control key -> the value last said to fail its schema

    def run(self) -> int:
        cfg = self.cfg
        self._start_forkserver()  # before etcd's grpc client exists: the server must not inherit its threads
        try:
            self.store = FleetStore.connect(cfg.etcd, wait=cfg.join_timeout,
                                            say=lambda s: self.say(f"agent {cfg.host}: {s}"))
        except BaseException:
            self._stop_forkserver()
            raise
        try:
            info = AgentInfo(cfg.host, cfg.device, cfg.provider, cfg.address, rdmacheck.__version__, os.getpid(),
                             process_age())
            self.store.publish_leased(proto.agent_key(cfg.host), info.__dict__)
            self.say(f"agent {cfg.host}: registered ({cfg.device}, {cfg.address}) in run {cfg.etcd.cluster!r}; "
                     f"waiting up to {cfg.join_timeout:g} s for its coordinator (`rdmacheck fleet run`)")
            self.control = PrefixWatch(self.store, proto.CONTROL).start()
            self.control.listen(self.wake)
            self._wait_coordinator()
            return self._loop()
        finally:
            for watch in (self.shard, self.control):
                if watch is not None:
                    watch.close()
            self.store.close()
            self._stop_forkserver()

    def _start_forkserver(self) -> None:
        if spawn_policy() != "fork":
            return  # fresh interpreters asked for
        t0 = time.monotonic()
        try:
            self.forkserver = ForkServer.start(timeout=self.cfg.join_timeout)
        except RdmacheckError as e:
            self.say(f"agent {self.cfg.host}: no role fork server ({e}); roles start as fresh interpreters")
            return
        self.say(f"agent {self.cfg.host}: role fork server ({self.forkserver.how}) ready in "
                 f"{time.monotonic() - t0:.1f} s")

    def _stop_forkserver(self) -> None:
        if self.forkserver is not None:
            self.forkserver.close()
            self.forkserver = None

    def _wait_coordinator(self) -> None:
        deadline = time.monotonic() + self.cfg.join_timeout
        while "coordinator" not in self._control():
            if time.monotonic() >= deadline:
                raise DeadlineExceeded(f"the coordinator of run {self.cfg.etcd.cluster!r} (key {proto.COORDINATOR})",
                                       self.cfg.join_timeout)
            self._sleep()

    def _control(self) -> dict:
        """The control keys as the watch last saw them (no etcd request), re-read every `safety` seconds."""
        self.wake.clear()  # before reading: a change after this read wakes the next wait at once
        self.control.refresh_if_older(self.cfg.safety)
        return {k: v for k, v in self.control.snapshot().items() if v is not None}

    @staticmethod
    def _run_nonce(control: dict) -> str | None:
        """The run the coordinator key names (None: no coordinator, or a value without one)."""
        coord = control.get("coordinator")
        run = coord.get("run") if isinstance(coord, dict) else None
        return run if isinstance(run, str) and run else None

    def _of_this_run(self, control: dict, name: str, schema: type):
        """A control value of this run (its nonce the coordinator's), through its schema; else None (another
        run's, or one that fails the schema: said once per value)."""
        value = control.get(name)
        if value is None:
            return None
        try:
            v = decode(value, schema, proto.CONTROL + name)
        except BoundaryError as e:
            if self.ignored.get(name) != str(value):
                self.ignored[name] = str(value)
                self.say(f"agent {self.cfg.host}: warning: ignored {e}")
            return None
        return v if v.run == self._run_nonce(control) else None

    def _coordinator_gone(self, control: dict) -> bool:
        """Its key gone for longer than a lease TTL and a second: after an etcd outage longer than its TTL the
        coordinator's lease lapses and its keep-alive publishes the key again (a watch sees the delete
        at once, where a poll would mostly have missed it)."""
        if "coordinator" in control:
            self.coordinator_missing = None
            return False
        now = time.monotonic()
        if self.coordinator_missing is None:
            self.coordinator_missing = now
        if now - self.coordinator_missing <= self.cfg.etcd.ttl + 1:
            self.wake.set()  # look again soon, without waiting for a change
            time.sleep(min(0.5, self.cfg.etcd.ttl / 4))
            return False
        return True

    def _sleep(self, limit: float | None = None) -> None:
        self.wake.wait(min(self.cfg.safety, limit) if limit else self.cfg.safety)

    def _loop(self) -> int:
        lost_since = None  # etcd stopped answering at (monotonic)
        while True:
            try:
                control = self._control()
            except MetadataError as e:  # etcd briefly away: keep the last state, up to the join deadline
                if lost_since is None:
                    lost_since = time.monotonic()
                    self.say(f"agent {self.cfg.host}: etcd not answering ({e}); retrying for {self.cfg.join_timeout:g} s")
                if time.monotonic() - lost_since > self.cfg.join_timeout:
                    raise MetadataError(f"etcd did not answer agent {self.cfg.host} for {self.cfg.join_timeout:g} s: "
                                        f"{e}") from None
                time.sleep(self.cfg.poll)
                continue
            lost_since = None
            end = self._of_this_run(control, "end", EndValue)
            if end is not None:
                self.say(f"agent {self.cfg.host}: the run ended ({end.reason})")
                return 0
            if self._coordinator_gone(control):
                self.say(f"agent {self.cfg.host}: the coordinator's lease is gone: exiting")
                return 3
            plan = self._round_of(control.get("round"))
            if plan is not None and plan.run != self._run_nonce(control):
                plan = None  # another run's round (left behind, or not yet cleared): never acted on
            if plan is not None and plan.index not in self.done_rounds:
                plan = self._with_pairs(plan, control["round"])
            if plan is not None and plan.index not in self.done_rounds:
                self.done_rounds.add(plan.index)
                pair = plan.pair_of(self.cfg.host)
                if pair is not None:
                    try:
                        self._play(plan, pair)
                    except MetadataError as e:  # etcd away past the store's patience: this pair is lost
                        self.say(f"agent {self.cfg.host}: round {plan.index}: etcd did not answer ({e}); the "
                                 "coordinator will see no result for this pair (control plane)")
                    continue
            self._sleep()

    def _round_of(self, value, shard: dict | None = None) -> RoundPlan | None:
        """The round the coordinator published (with the pairs of `shard`), or None (none yet, or
        unreadable: said once)."""
        if value is None:
            return None
        try:
            return RoundPlan.from_dict(value, shard)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            if (value, shard) != self.bad_round:
                self.bad_round = (value, shard)
                self.say(f"agent {self.cfg.host}: ignored an unreadable round ({type(e).__name__}: {e})")
            return None

    def _with_pairs(self, plan: RoundPlan, header: dict) -> RoundPlan | None:
        """The round with its pairs: this host's shard of them, as its watch brings it (the coordinator
        writes the shards before the round key, but two watches keep no order between them: a shard not
        yet of this round is waited for SHARD_WAIT_S, then read). None if unreadable (said once)."""
        if plan.shards == 1:
            return plan  # its pairs came with the header
        watch, arrived = self._shard_watch(proto.shard_of(self.cfg.host, plan.shards))
        deadline = time.monotonic() + SHARD_WAIT_S
        while True:
            arrived.clear()  # before reading: a change after this read ends the wait at once
            shard = watch.get("")
            if proto.current(shard, plan.run, plan.index, "index") or time.monotonic() >= deadline:
                break
            arrived.wait(max(0.0, deadline - time.monotonic()))
        if not proto.current(shard, plan.run, plan.index, "index"):  # the stream is late or broken: read it
            shard = self.store.get(watch.name)
        return self._round_of(header, shard if shard is not None else {})

    def _shard_watch(self, k: int) -> tuple[PrefixWatch, threading.Event]:
        """The watch of shard k (started at the run's first round of several shards: its first read is
        that round's shard, written before the round key) and the event its changes set."""
        if self.shard is None:
            self.shard = PrefixWatch(self.store, proto.plan_key(k)).start()
            self.shard_arrived = self.shard.listen()
        return self.shard, self.shard_arrived

    def _play(self, plan: RoundPlan, pair) -> None:
        from rdmacheck.fleet.pairtest import PairRoles, run_initiator  # noqa: PLC0415

        s = plan.settings
        problems = s.problems()
        if problems:  # refused with a result saying why, never acted on (nor a crash)
            self.say(f"agent {self.cfg.host}: refused round {plan.index}: {'; '.join(problems)}")
            if pair.initiator == self.cfg.host:
                out = PairOutcome(plan.index, pair.target, pair.initiator, Verdict.FAIL, finding="round-refused",
                                  detail="; ".join(problems)[:400], reported_by=self.cfg.host,
                                  plane=proto.CONTROL_PLANE)
                self._report(plan, pair, out)
            return
        d = self.cfg.log_dir / f"round{plan.index}"
        d.mkdir(parents=True, exist_ok=True)
        roles = PairRoles(s, self.cfg.device, pair.target, pair.initiator, self.cfg.token)
        if pair.target == self.cfg.host:
            self._serve(plan, pair, roles, d)
            return
        # Started at once, not after the target's `ready`: its address came with the round, which fixes
        # the port, and the initiator's handshake retries until the target listens. The two set up their
        # devices in parallel (in the lab ~1.5 s of each round).
        address = plan.addresses.get(pair.target)
        if address is None:
            out = PairOutcome(plan.index, pair.target, pair.initiator, Verdict.FAIL, finding="target-not-ready",
                              detail=f"the round gives no address for target {pair.target} (its registration has "
                              "none)", reported_by=self.cfg.host, plane=proto.CONTROL_PLANE)
        else:
            out = run_initiator(roles, pair, plan.index, (address, plan.port), d / "initiator.log", self.forkserver)
            if out.verdict != Verdict.PASS:
                out = self._target_said(plan, pair, out)
        self._report(plan, pair, out)
        self.say(f"agent {self.cfg.host}: round {plan.index} {pair.target}<-{pair.initiator}: {out.verdict}"
                 + (f" {out.finding}" if out.finding else ""))

    def _report(self, plan: RoundPlan, pair, out: PairOutcome) -> None:
        """The pair's outcome under this (initiating) host's own key, with the run's nonce."""
        out.run = plan.run
        self.store.put(proto.result_key(pair), out.stamped())

    def _target_said(self, plan: RoundPlan, pair, out: PairOutcome) -> PairOutcome:
        """A failed pair whose target could not start, exited mid-pair, or never said it listens, is reported
        as that (control plane: its host's failure, never its link's)."""
        key = proto.ready_key(pair.target)
        value = self.store.get(key)
        ready = None
        if proto.current(value, plan.run, plan.index):  # a ready of another round or run says nothing of this one
            try:
                ready = decode(value, ReadyValue, key)
            except BoundaryError as e:  # unreadable: as if it never said it listens (never a link's failure)
                self.say(f"agent {self.cfg.host}: warning: ignored {e}")
        if ready is not None and not ready.error:
            return out  # it listened: what the initiator saw is data-plane evidence
        seen = f"the initiator saw {out.finding}: {out.detail}"
        if ready is None:
            return PairOutcome(plan.index, pair.target, pair.initiator, Verdict.FAIL, finding="target-not-ready",
                               detail=f"target {pair.target} never said it listens; {seen}"[:400],
                               reported_by=self.cfg.host, duration_s=out.duration_s, plane=proto.CONTROL_PLANE)
        return PairOutcome(plan.index, pair.target, pair.initiator, Verdict.FAIL, finding=ready.finding or
                           "target-failed", detail=f"{ready.error}; {seen}"[:400], reported_by=self.cfg.host,
                           duration_s=out.duration_s, plane=proto.CONTROL_PLANE)

    def _serve(self, plan: RoundPlan, pair, roles, d: Path) -> None:
        from rdmacheck.fleet.pairtest import TargetServed, start_target  # noqa: PLC0415

        key = proto.ready_key(pair.target)
        stamp = {"run": plan.run, "round": plan.index}
        try:
            proc, _ = start_target(roles, (self.cfg.address, plan.port), d / "target.log", self.forkserver)
        except (RoleFailed, DeadlineExceeded, RdmacheckError) as e:
            self.store.put(key, {**stamp, "error": str(e)[:300],
                                 "finding": getattr(e, "finding", None) or "target-failed"})
            return
        try:
            self.store.put(key, {**stamp, "addr": [self.cfg.address, plan.port]})
            served = TargetServed(proc, pair.initiator, plan.settings.restarts + 1)
            why = self._serve_until(plan, pair, plan.settings.serve_budget(), served)
            if proc.exit_status is not None and not served.done:  # this host's failure: never its link's
                self.store.put(key, {**stamp, "error": f"{why} before its pair was over",
                                     "finding": "target-failed"})
        finally:
            proc.stop()

    def _serve_until(self, plan: RoundPlan, pair, timeout: float, over: Callable[[float], str | None]) -> str:
        """Serve until the pair is over: `over(wait)` says why (the target role served it; it reads for at
        most `wait` s, returning soon after a change of the control keys), or the pair can no longer
        complete (the coordinator published another round, ended the run or is gone); this agent is then
        free for the next round at once. Returns why it stopped. No etcd request: a watch of the
        initiator's keys for its result cost each target two requests and a watch set-up a round."""
        deadline = time.monotonic() + timeout
        what = f"the pair {pair.target}<-{pair.initiator} in round {plan.index} to be over"
        while (left := deadline - time.monotonic()) > 0:
            try:
                control = self._control()
            except MetadataError:  # etcd away past the store's patience: the role and the deadline still hold
                control = None
            if control is not None:
                current = control.get("round")
                why = ("the run ended" if self._of_this_run(control, "end", EndValue) is not None else
                       "the coordinator is gone" if self._coordinator_gone(control)
                       else "the coordinator moved on" if not isinstance(current, dict) or current.get("index") != plan.index
                       else None)
                if why:
                    self.say(f"agent {self.cfg.host}: stopped waiting for {what}: {why}")
                    return why
            why = over(left)
            if why:
                self.say(f"agent {self.cfg.host}: round {plan.index} {pair.target}<-{pair.initiator} over for the "
                         f"target: {why}")
                return why
        self.say(f"agent {self.cfg.host}: gave up waiting for {what} after {timeout:g} s")
        return "deadline"
