"""Every value the fleet reads from outside, declared once: what an agent puts in etcd (its registration, its
target's ready, its pair's result), the coordinator's end, and a fleet results file given to `report`.

The library is msgspec (strict structs, checked in C): every field typed, strings bounded, numbers finite and
in range, host names in one grammar. It imports in ~20 ms, where pydantic cost seconds under the lab's
emulation (typer's pydantic was measured at +1.7 s a command) - and every agent decodes every round's values.
A value that fails is a BoundaryError naming where it came from and the field; the caller makes it that one
pair's control-plane failure, or one line and exit 2 for a file: never a crash."""

from __future__ import annotations

import re
from typing import Annotated, Literal, Optional, TypeVar

import msgspec
from msgspec import Meta, Struct

from rdmacheck.errors import BadInput
from rdmacheck.words import Verdict

# A host's name: what its keys are made of (fleet/host/<host>/...), Slurm's and Kubernetes' node names.
HOST_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,252}$"
HOST_RE = re.compile(HOST_PATTERN)
HostName = Annotated[str, Meta(pattern=HOST_PATTERN)]
Word = Annotated[str, Meta(max_length=200)]  # a finding, a step, a mode, a nonce, a version
Detail = Annotated[str, Meta(max_length=4000)]
Seconds = Annotated[float, Meta(ge=0, le=1e10)]  # durations and wall clocks: finite, never negative
Millis = Annotated[float, Meta(ge=0, le=1e9)]
Index = Annotated[int, Meta(ge=0, le=10_000_000)]
Count = Annotated[int, Meta(ge=0, le=1 << 40)]

T = TypeVar("T")


class BoundaryError(BadInput, ValueError):
    """A value from outside that does not meet its schema (exit 2 where it ends a command; a ValueError to
    the code that reads values: what it cannot read it skips)."""


def decode(value: object, schema: type[T], where: str) -> T:
    """`value` (parsed JSON) as `schema`, or a BoundaryError naming `where` and the field."""
    try:
        return msgspec.convert(value, schema, strict=True)
    except msgspec.ValidationError as e:
        raise BoundaryError(f"{where}: {e}") from None


def is_host_name(name: str) -> bool:
    return bool(HOST_RE.match(name))


Rate = Annotated[float, Meta(ge=0, le=1e9)]


class LinkValue(Struct, forbid_unknown_fields=False):
    """A pair's link, measured on its verified QP (verbs/measure.measure_link)."""
    read_lat_us_p50: Rate
    read_lat_us_p99: Rate
    write_MBps: Rate
    read_MBps: Rate
    read_lat_us_min: Optional[Rate] = None  # the judged latency (results before it was measured have none)
    reads: Rate = 0.0
    bytes: Annotated[float, Meta(ge=0, le=1e15)] = 0.0


class ResultValue(Struct, forbid_unknown_fields=False):
    """fleet/host/<initiator>/result: one pair test as its initiator saw it."""
    round: Index
    target: HostName
    initiator: HostName
    verdict: Verdict
    finding: Optional[Word] = None
    step: Optional[Word] = None
    detail: Optional[Detail] = None
    reconnect_ms: Annotated[list[Millis], Meta(max_length=1000)] = []
    mode: Optional[Word] = None
    strategy: Optional[Word] = None
    duration_s: Seconds = 0.0
    reported_by: Annotated[str, Meta(max_length=253)] = ""
    reported_at: Seconds = 0.0
    plane: Literal["data", "control"] = "data"
    run: Word = ""
    link: Optional[LinkValue] = None
    link_error: Optional[Detail] = None

    def __post_init__(self) -> None:
        if self.verdict not in (Verdict.PASS, Verdict.FAIL):  # a pair test passes or fails: it is never skipped
            raise ValueError(f"Expected a verdict of PASS or FAIL, got {self.verdict.value!r} - at `$.verdict`")


class AgentValue(Struct, forbid_unknown_fields=False):
    """fleet/host/<host>/agent: an agent's registration."""
    host: HostName
    device: Word
    provider: Word
    address: Word
    version: Word
    pid: Count
    start_s: Seconds = 0.0


class ReadyValue(Struct, forbid_unknown_fields=False):
    """fleet/host/<target>/ready: its target of a round listens (addr) or could not start (error)."""
    run: Word
    round: Index
    addr: Optional[tuple[Word, Annotated[int, Meta(ge=0, le=65535)]]] = None
    error: Optional[Detail] = None
    finding: Optional[Word] = None


Pairs = Annotated[list[tuple[HostName, HostName]], Meta(max_length=10_000_000)]


class ShardValue(Struct, forbid_unknown_fields=False):
    """fleet/plan/<k>/: a shard of a round's pairs, with their targets' addresses."""
    run: Word
    index: Index
    pairs: Pairs = []
    addresses: dict[HostName, Optional[Word]] = {}  # a target with none (or ""): that pair alone fails


class RoundValue(Struct, forbid_unknown_fields=False):
    """fleet/ctl/round: the round's header (its pairs in it when the fleet is one shard). The settings' values
    are checked by PairSettings.problems(): a round an agent refuses is answered with round-refused."""
    index: Index
    settings: dict[Annotated[str, Meta(max_length=64)], object]
    run: Word = ""
    shards: Annotated[int, Meta(ge=1, le=100_000)] = 1
    retest: bool = False
    pairs: Pairs = []
    addresses: dict[HostName, Optional[Word]] = {}


class EndValue(Struct, forbid_unknown_fields=False):
    """fleet/ctl/end: the run whose nonce it carries is over."""
    run: Word
    reason: Detail = ""


class RoundRow(Struct, forbid_unknown_fields=False):
    index: Index
    pairs: Annotated[list[tuple[HostName, HostName]], Meta(max_length=10_000_000)]
    retest: bool
    wall_s: Seconds
    overhead_s: Annotated[float, Meta(ge=-1e10, le=1e10)]
    etcd_requests: Count
    published_at: Seconds = 0.0
    closed_at: Seconds = 0.0
    result_lag_s: Annotated[float, Meta(ge=-1e10, le=1e10)] = 0.0


class FleetFile(Struct, forbid_unknown_fields=False):
    """A fleet results file (rdmacheck.fleet/1), as `report` reads it: the evidence (hosts, who joined, who
    went down, every pair's outcome), from which it judges the fleet again. Stored judgements (healthy,
    host_lines, bad_hosts, ...) are not read."""
    schema: Literal["rdmacheck.fleet/1"]
    run: Word
    pairing: Annotated[str, Meta(max_length=4096)]
    hosts: list[HostName]
    pairs: list[ResultValue]
    finished: bool
    missing: list[HostName] = []
    host_down: dict[HostName, Seconds] = {}
    joined: dict[HostName, Seconds] = {}
    agents: dict[HostName, AgentValue] = {}
    rounds: list[RoundRow] = []
    duration_s: Seconds = 0.0
    started: Seconds = 0.0
    slow_if: Annotated[str, Meta(max_length=64)] = "mad:3.5"  # the rule the run judged slowness by
