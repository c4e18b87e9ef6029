"""The fleet's keys in etcd, all under rdmacheck/<run>/fleet/ (the run id is the EtcdConfig's cluster).

  fleet/ctl/coordinator       leased: the coordinator is alive (agents exit when it is gone)
  fleet/ctl/round             the current round: the coordinator's run nonce, index, settings, shard count
  fleet/ctl/end               the run is over: agents exit
  fleet/plan/<k>/             shard k of the round's pairs, with their targets' addresses
  fleet/host/<host>/agent     leased: an agent, what it offers (device, provider, address)
  fleet/host/<host>/ready     its target of the current round listens at [ip, port] (or could not start)
  fleet/host/<host>/result    the outcome of the pair it initiated last (run nonce and round inside)

The coordinator alone writes under fleet/ctl/ and fleet/plan/, and each host only under
fleet/host/<host>/, so etcd's own role-based access control can enforce who writes what (docs/fleet.md,
ci/etcd/fleet-rbac.sh). Values carry the run nonce and the round: a previous run's or round's value is
never taken for this one's, and the whole fleet is at most three keys per host and one per 64 hosts,
whatever the number of rounds.

Agents follow the control keys and their shard of the pairs, the coordinator the hosts' keys, with
watches (fleet/watch.py); the control keys' and the hosts' are re-read every few seconds in case a broken
stream hid a change, a shard when the round key names a round its watch has not brought. A round costs
an agent one request: its ready (a target) or its result (an initiator).
"""

from __future__ import annotations

import json
import time
import zlib
from dataclasses import asdict, dataclass, field, fields

import msgspec

from rdmacheck.fleet.schedule import Pair
from rdmacheck.fleet.schemas import BoundaryError, ResultValue, RoundValue, ShardValue, decode
from rdmacheck.words import Mode, Strategy, Verdict, values

CONTROL = "fleet/ctl/"  # what every agent watches: three small keys, whatever the fleet's size
COORDINATOR = CONTROL + "coordinator"
ROUND = CONTROL + "round"
END = CONTROL + "end"
HOSTS = "fleet/host/"  # fleet/host/<host>/{agent,ready,result}: each host's own
PLAN = "fleet/plan/"  # fleet/plan/<k>: shard k of the round's pairs (the coordinator's)
SHARD_HOSTS = 64  # hosts per shard: what an agent receives and reads of a round stays small
MAX_SHARDS = 100_000  # schemas.RoundValue bounds a round's shard count the same
HOST_DOWN = "host-down"  # the finding of a pair whose host's agent lease expired
DATA_PLANE, CONTROL_PLANE = "data", "control"  # where a pair's evidence comes from (PairOutcome.plane)


def agent_key(host: str) -> str:
    return f"{HOSTS}{host}/agent"


def ready_key(target: str) -> str:
    return f"{HOSTS}{target}/ready"


def plan_key(shard: int) -> str:
    """Ends with "/": a watch of shard 1's key as a prefix must not also see shards 10-19."""
    return f"{PLAN}{shard}/"


def shard_count(hosts: int) -> int:
    return max(1, -(-hosts // SHARD_HOSTS))


def shard_of(host: str, shards: int) -> int:
    """Which shard of a round's pairs holds the pairs of `host` (the same on every machine)."""
    return zlib.crc32(host.encode()) % shards


def result_key(pair: Pair) -> str:
    """Where a pair's outcome goes: under its initiator, who reports it."""
    return f"{HOSTS}{pair.initiator}/result"


def host_keys(rows: dict[str, object]) -> dict[str, dict[str, object]]:
    """A range read of HOSTS as host -> {"agent"|"ready"|"result": value}; other keys are nobody's."""
    out: dict[str, dict[str, object]] = {}
    for rest, value in rows.items():
        host, _, kind = rest.partition("/")
        if host and kind in ("agent", "ready", "result"):
            out.setdefault(host, {})[kind] = value
    return out


def current(value: object, run: str, index: int, field: str = "round") -> bool:
    """Whether a ready or result value (a shard: field "index") is of this run (its nonce) and this round."""
    return isinstance(value, dict) and value.get("run") == run and value.get(field) == index


def _is_number(x: object) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


@dataclass(frozen=True)
class AgentInfo:
    host: str
    device: str
    provider: str
    address: str  # where its targets listen
    version: str
    pid: int
    start_s: float = 0.0  # from its process's start to this registration: how long an agent takes to join


@dataclass(frozen=True)
class Budgets:
    initiator: float  # its starts and verified writes, every restart's
    target: float  # its start, then serving the initiator's budget
    coordinator: float  # a round's deadline: the target's budget and the result's put


@dataclass(frozen=True)
class PairSettings:
    """What every pair test of the run does (one cell: connect, verify on the receiver, kill and restart
    the initiator `restarts` times, re-establish with `strategy`, verify again)."""
    mode: str = "auto"
    strategy: str = "auto"
    restarts: int = 1
    length: int = 1 << 20
    buffer_size: int = 4 << 20
    start_timeout: float = 30.0
    round_timeout: float = 30.0
    port: int = 18515  # targets listen here (cm mode: +1 too)
    measure: bool = True  # after its last verified write, the initiator measures the link (latency, bandwidth)

    def budgets(self) -> Budgets:
        """Every side's time for one pair test, from one formula, so no side gives up while another may still
        be within its own: the initiator starts `restarts + 1` times, each start then a verified write; the
        target starts once and serves all of that; the coordinator waits for that and the result's put."""
        initiator = (self.restarts + 1) * (self.start_timeout + self.round_timeout) + self.measure * self.round_timeout
        target = self.start_timeout + initiator
        return Budgets(initiator=initiator, target=target, coordinator=target + self.start_timeout)

    def serve_budget(self) -> float:
        """How long a target serves its pair at most (budgets().target)."""
        return self.budgets().target

    def problems(self) -> list[str]:
        """What an agent refuses to act on (anyone who can write the round key could put anything)."""
        return [message for _, message in self.field_problems()]

    def field_problems(self) -> list[tuple[str, str]]:
        """Each problem with the setting it is about (the coordinator names the option that sets it)."""
        bounds = {"restarts": (0, 100), "length": (1, 1 << 30), "buffer_size": (1, 4 << 30),
                  "start_timeout": (0.1, 3600), "round_timeout": (0.1, 3600), "port": (1024, 64000)}
        out = [("mode", f"mode {self.mode!r} is not one of {', '.join(values(Mode))}")] \
            if self.mode not in values(Mode) else []
        if self.strategy not in values(Strategy):
            out.append(("strategy", f"strategy {self.strategy!r} is not one of {', '.join(values(Strategy))}"))
        for name, (lo, hi) in bounds.items():
            v = getattr(self, name)
            if not _is_number(v) or not lo <= v <= hi:
                out.append((name, f"{name} {v!r} is not in {lo}..{hi}"))
        if not isinstance(self.measure, bool):
            out.append(("measure", f"measure {self.measure!r} is not true or false"))
        if not out and self.length > self.buffer_size:
            out.append(("length", f"length {self.length} exceeds buffer_size {self.buffer_size}"))
        return out


@dataclass
class RoundPlan:
    """A round. Its header (index, settings, nonce, shard count) is the round key, which every agent's
    watch receives; its pairs are in shards (fleet/plan/<k>, the pairs of the hosts whose shard is k),
    of which an agent reads its own: a plan of 5,000 pairs sent to 10,000 watchers was ~1 GB a round.
    A fleet of one shard (at most SHARD_HOSTS hosts) has its pairs in the header: no read a round.
    Each pair's target address rides with it (from the target's registration, as the coordinator's
    watch holds it): an initiator starts without reading its target's key."""
    index: int
    pairs: list[Pair]
    settings: PairSettings
    retest: bool = False
    run: str = ""  # the coordinator's nonce: what agents put back with their ready and result values
    shards: int = 1
    addresses: dict[str, str] = field(default_factory=dict)  # target host -> where its targets listen

    def _pairs_json(self, pairs: list[Pair]) -> dict:
        return {"pairs": [list(p) for p in pairs], "addresses": {p.target: self.addresses.get(p.target) for p in pairs}}

    def header_json(self) -> str:
        inline = self._pairs_json(self.pairs) if self.shards == 1 else {}
        return json.dumps({"index": self.index, "settings": asdict(self.settings), "retest": self.retest,
                           "run": self.run, "shards": self.shards, **inline})

    def shard_values(self) -> dict[str, str]:
        """plan key -> its shard: every shard, each pair in its target's and its initiator's (none for
        one shard: its pairs are in the header)."""
        if self.shards == 1:
            return {}
        by: dict[int, list[Pair]] = {k: [] for k in range(self.shards)}
        for p in self.pairs:
            for k in {shard_of(p.target, self.shards), shard_of(p.initiator, self.shards)}:
                by[k].append(p)
        return {plan_key(k): json.dumps({"run": self.run, "index": self.index, **self._pairs_json(pairs)})
                for k, pairs in by.items()}

    @classmethod
    def from_dict(cls, d: dict, shard: dict | None = None) -> "RoundPlan":
        """The round from its header (schemas.RoundValue), with the pairs of `shard` (ShardValue, one of this
        round's: else ValueError; a header of one shard holds them itself). A ValueError (a BoundaryError)
        naming the field for a round an agent cannot read."""
        head = decode(d, RoundValue, ROUND)
        names = {f.name for f in fields(PairSettings)}
        settings = PairSettings(**{k: v for k, v in head.settings.items() if k in names})
        plan = cls(head.index, [], settings, head.retest, head.run, head.shards)
        if head.shards == 1:
            body = ShardValue(head.run, head.index, head.pairs, head.addresses)
        elif shard is not None:
            body = decode(shard, ShardValue, f"{PLAN}<k>/")
        else:
            return plan
        if body.run != plan.run or body.index != plan.index:
            raise ValueError(f"its shard of the pairs is of round {body.index!r} of run {body.run!r}")
        plan.pairs = [Pair(t, i) for t, i in body.pairs]
        plan.addresses = {p.target: body.addresses[p.target] for p in plan.pairs
                          if body.addresses.get(p.target)}  # none (or empty): that pair alone fails
        return plan

    @property
    def port(self) -> int:
        """Where this round's targets listen (+1: rdma_cm): a new port each round, so a target never
        waits for the last round's sockets to leave TIME_WAIT."""
        return self.settings.port + 2 * (self.index % 500)

    def pair_of(self, host: str) -> Pair | None:
        return next((p for p in self.pairs if host in p), None)


@dataclass
class PairOutcome:
    """One pair test, as its initiator saw it (the target's verification of its memory included)."""
    round: int
    target: str
    initiator: str
    verdict: str
    finding: str | None = None
    step: str | None = None
    detail: str | None = None
    reconnect_ms: list[float] = field(default_factory=list)  # per restart
    mode: str | None = None
    strategy: str | None = None
    duration_s: float = 0.0
    reported_by: str = ""
    reported_at: float = 0.0  # the reporter's wall clock when it put the result
    plane: str = DATA_PLANE  # data: the target listened, what the QP and the data did decides; control: no contact
    run: str = ""  # the round's run nonce
    link: dict[str, float] | None = None  # verbs/measure.measure_link's numbers, on the verified QP
    link_error: str | None = None  # why the link was not measured though the data was verified

    @property
    def pair(self) -> Pair:
        return Pair(self.target, self.initiator)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    def stamped(self) -> str:
        """to_json() with reported_at set to now: what an agent puts."""
        self.reported_at = round(time.time(), 3)
        return self.to_json()

    @classmethod
    def from_dict(cls, d: dict) -> "PairOutcome":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})

    @classmethod
    def from_value(cls, v: ResultValue) -> "PairOutcome":
        """From a value that met its schema (a result key, a results file): plain values all the way down."""
        return cls(**{**msgspec.structs.asdict(v), "verdict": Verdict(v.verdict),
                      "link": {k: x for k, x in msgspec.structs.asdict(v.link).items() if x is not None}
                      if v.link else None})


def accept_result(index: int, pair: Pair, value: object) -> tuple[PairOutcome | None, str]:
    """A result read from the pair's initiator's key (of this run and round: see `current`), taken
    only if it meets its schema (schemas.ResultValue) and is the one its key says (this pair, put by that
    initiator); else (None, why, naming the field) - never a crash."""
    try:
        v = decode(value, ResultValue, result_key(pair))
    except BoundaryError as e:
        return None, str(e)
    out = PairOutcome.from_value(v)
    if (out.round, out.target, out.initiator) != (index, pair.target, pair.initiator):
        return None, (f"its value names round {out.round!r} {out.target!r}<-{out.initiator!r}, not its key's "
                      f"round {index} {pair.target}<-{pair.initiator}")
    if out.reported_by not in pair:
        return None, f"put by {out.reported_by!r}, who is not one of the pair's two hosts"
    if out.reported_by != pair.initiator:
        return None, f"put by {out.reported_by!r} under the key of {pair.initiator!r}, the pair's initiator"
    return out, ""
