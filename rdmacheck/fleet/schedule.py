"""Fleet schedules (pure): which pairs of hosts are tested in which round. In every round a host is
in at most one pair, so every pair test of a round can run at once.

Pairings: `all` (round-robin by the circle method: n-1 rounds of n/2 disjoint pairs, every pair
once; an odd fleet gets a bye per round), `ring` (each host with the next, in 2 or 3 rounds),
`bisection` (i with i+n/2, one round), `random:K` (K rounds of random disjoint pairs, seeded), and
`file:PATH` (ClusterKit's `<round> <a> <b>` lines; `#` starts a comment).

A pair is (target, initiator); `all` alternates who is which so each host serves about as often
as it dials. Rounds are produced one at a time: a coordinator needs only the next one."""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, NamedTuple

from rdmacheck.errors import BadInput, RdmacheckError
from rdmacheck.output.files import read_text_input

PAIRINGS = ("all", "ring", "bisection", "random:K", "file:PATH")


class ScheduleError(RdmacheckError):
    exit_code = 2


class Pair(NamedTuple):  # a tuple: a 4096-host schedule holds 8.4 million of them
    target: str
    initiator: str

    def hosts(self) -> tuple[str, str]:
        return self.target, self.initiator


@dataclass(frozen=True)
class Pairing:
    """A pairing parsed once (`Pairing.parse("random:8")`): its kind, random:K's K, and a file: pairing's
    rounds, read once (their host names are checked against the fleet when a schedule is made)."""
    kind: str  # all | ring | bisection | random | file
    count: int = 0  # random:K
    path: Path | None = None  # file:PATH
    file_rounds: tuple[tuple[Pair, ...], ...] = ()

    @classmethod
    def parse(cls, text: str) -> Pairing:
        """The spelling, K of random:K, and a pair file's lines: before anything waits on etcd."""
        kind, _, arg = text.partition(":")
        if kind not in ("all", "ring", "bisection", "random", "file") or (kind in ("all", "ring", "bisection") and arg):
            raise ScheduleError(f"unknown pairing {text!r}; use one of {', '.join(PAIRINGS)}")
        if kind == "random":
            if not arg.isdigit() or int(arg) < 1:
                raise ScheduleError(f"{text!r}: random:K needs a number of rounds K >= 1")
            return cls(kind, count=int(arg))
        if kind == "file":
            if not arg:
                raise ScheduleError("file:PATH needs the path of a pair file")
            rounds = read_pair_file(Path(arg))
            return cls(kind, path=Path(arg), file_rounds=tuple(tuple(r) for r in rounds))
        return cls(kind)

    @classmethod
    def of(cls, value: Pairing | str) -> Pairing:
        return value if isinstance(value, Pairing) else cls.parse(value)

    def __str__(self) -> str:
        return {"random": f"random:{self.count}", "file": f"file:{self.path}"}.get(self.kind, self.kind)


@dataclass(frozen=True)
class Schedule:
    pairing: Pairing
    hosts: tuple[str, ...]
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "pairing", Pairing.of(self.pairing))
        if len(set(self.hosts)) != len(self.hosts):
            dup = next(h for h in self.hosts if self.hosts.count(h) > 1)
            raise ScheduleError(f"host {dup!r} is listed twice")
        if len(self.hosts) < 2:
            raise ScheduleError(f"a fleet needs at least 2 hosts, got {len(self.hosts)}")
        known = set(self.hosts)
        for r, pairs in enumerate(self.pairing.file_rounds):
            for h in (h for p in pairs for h in p.hosts()):
                if h not in known:
                    raise ScheduleError(f"{self.pairing.path}: host {h!r} (round {r}) is not in the fleet")

    def rounds(self) -> Iterator[list[Pair]]:
        kind = self.pairing.kind
        if kind == "all":
            yield from _round_robin(self.hosts)
        elif kind == "ring":
            yield from _ring(self.hosts)
        elif kind == "bisection":
            half = len(self.hosts) // 2
            yield [Pair(self.hosts[i], self.hosts[i + half]) for i in range(half)]
        elif kind == "random":
            yield from _random(self.hosts, self.pairing.count, self.seed)
        else:
            yield from (list(r) for r in self.pairing.file_rounds)

    def round_count(self) -> int:
        kind, n = self.pairing.kind, len(self.hosts)
        if kind == "all":
            return n - 1 if n % 2 == 0 else n
        if kind == "ring":
            return 2 if n == 2 or n % 2 == 0 else 3
        if kind == "bisection":
            return 1
        if kind == "random":
            return self.pairing.count
        return len(self.pairing.file_rounds)


def _round_robin(hosts: tuple[str, ...]) -> Iterator[list[Pair]]:
    """The circle method: one position fixed, the others rotate one step per round."""
    ring: list[str | None] = list(hosts) + ([None] if len(hosts) % 2 else [])  # None: the bye
    n = len(ring)
    for r in range(n - 1):
        # The top row serves; the fixed host alternates. A rotating host spends about half its
        # rounds on each row, so every host serves about as often as it dials.
        top, bottom = ring[1:n // 2], ring[:n // 2 - 1:-1][1:]
        pairs = [Pair(a, b) for a, b in zip(top, bottom) if a is not None and b is not None]
        first = (ring[0], ring[-1]) if r % 2 == 0 else (ring[-1], ring[0])
        if None not in first:
            pairs.insert(0, Pair(*first))
        yield pairs
        ring = [ring[0], ring[-1], *ring[1:-1]]


def _ring(hosts: tuple[str, ...]) -> Iterator[list[Pair]]:
    n = len(hosts)
    if n == 2:
        yield [Pair(hosts[0], hosts[1])]
        yield [Pair(hosts[1], hosts[0])]
        return
    edges = [(i, (i + 1) % n) for i in range(n)]
    groups = [edges[0::2], edges[1::2]] if n % 2 == 0 else [edges[0:-1:2], edges[1:-1:2], edges[-1:]]
    for group in groups:
        yield [Pair(hosts[a], hosts[b]) for a, b in group]


def _random(hosts: tuple[str, ...], rounds: int, seed: int) -> Iterator[list[Pair]]:
    rng = random.Random(seed)
    for _ in range(rounds):
        order = list(hosts)
        rng.shuffle(order)
        yield [Pair(order[i], order[i + 1]) for i in range(0, len(order) - 1, 2)]


def read_pair_file(path: Path) -> list[list[Pair]]:
    """ClusterKit's format: `<round> <a> <b>` per line; no host twice in a round (whether each is in the
    fleet is the schedule's check)."""
    try:
        text = read_text_input(path, "the pair file")
    except BadInput as e:
        raise ScheduleError(str(e)) from None
    by_round: dict[int, list[Pair]] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        parts = line.split()
        if len(parts) != 3 or not parts[0].isdigit():
            raise ScheduleError(f"{path}:{n}: expected '<round> <a> <b>', got {raw.strip()!r}")
        r, a, b = int(parts[0]), parts[1], parts[2]
        if a == b:
            raise ScheduleError(f"{path}:{n}: a host cannot pair with itself ({a})")
        busy = {h for p in by_round.get(r, []) for h in p.hosts()}
        twice = next((h for h in (a, b) if h in busy), None)
        if twice:
            raise ScheduleError(f"{path}:{n}: host {twice!r} is already in a pair of round {r}")
        by_round.setdefault(r, []).append(Pair(a, b))
    if not by_round:
        raise ScheduleError(f"{path}: no pairs")
    return [by_round[r] for r in sorted(by_round)]
