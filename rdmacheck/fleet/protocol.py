"""The fleet's keys in etcd, all under rdmacheck/<run>/fleet/ (the run id is the EtcdConfig's cluster).

  fleet/ctl/coordinator             leased: the coordinator is alive (agents exit when it is gone)
  fleet/agents/<host>               leased: an agent, what it offers (device, provider, address)
  fleet/ctl/round                   the current round: its index, pairs and pair-test settings
  fleet/ready/<round>/<target>      a target of that round listens at [ip, port] (or could not start)
  fleet/result/<round>/<t>~<i>      a pair's outcome, put by its initiator
  fleet/ctl/end                     the run is over: agents exit

Agents and the coordinator poll (one range read of a prefix per interval) rather than watch: a lost
watch is a silent stall, a lost poll is the next poll. The cost per round is in the benchmark.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

from rdmacheck.fleet.schedule import Pair

CONTROL = "fleet/ctl/"  # what every agent reads each poll: three small keys, whatever the fleet's size
COORDINATOR = CONTROL + "coordinator"
AGENTS = "fleet/agents/"
ROUND = CONTROL + "round"
READY = "fleet/ready/"
RESULTS = "fleet/result/"
END = CONTROL + "end"
HOST_DOWN = "host-down"  # the finding of a pair whose host's agent lease expired


def agent_key(host: str) -> str:
    return f"{AGENTS}{host}"


def ready_key(index: int, target: str) -> str:
    return f"{READY}{index}/{target}"


def result_key(index: int, pair: Pair) -> str:
    return f"{RESULTS}{index}/{pair.target}~{pair.initiator}"


@dataclass(frozen=True)
class AgentInfo:
    host: str
    device: str
    provider: str
    address: str  # where its targets listen
    version: str
    pid: int


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


@dataclass
class RoundPlan:
    index: int
    pairs: list[Pair]
    settings: PairSettings
    retest: bool = False

    def to_json(self) -> str:
        return json.dumps({"index": self.index, "pairs": [list(p) for p in self.pairs],
                           "settings": asdict(self.settings), "retest": self.retest})

    @classmethod
    def from_dict(cls, d: dict) -> "RoundPlan":
        return cls(int(d["index"]), [Pair(*p) for p in d["pairs"]], PairSettings(**d["settings"]),
                   bool(d.get("retest")))

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
