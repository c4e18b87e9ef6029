"""Slow links and slow hosts (pure): each verified pair's measured link judged against this run's other links,
never against a constant.

A link is slow when its small-READ latency (the fastest of its samples) is high, or its WRITE or READ bandwidth low,
by the run's rule (`--slow-if`):
  mad[:Z]     (default Z 3.5) robust statistics over the run's measured links: worse than the links' median by
              more than Z scaled MADs (the modified z-score of Iglewicz and Hoaglin) AND by more than FLOOR
              (latency above 2x the median, bandwidth below half of it): a fleet of identical links has a MAD
              near 0, where a z-score alone would flag noise
  clusterkit  ClusterKit's fixed ratios: latency above 2.1x the fleet's minimum, bandwidth under 93% of its maximum
Fewer than MIN_LINKS measured links judge nothing (said so). A host slow with more than half of its measured
partners (at least two) is a slow host, and its links are charged to it; a slow link between two hosts that
are each fast with someone else is a slow link; a slow link of a host with no fast link yet is undecided, to be
retested with other partners before a verdict.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field

from rdmacheck.errors import BadInput
from rdmacheck.fleet.schedule import Pair

MIN_LINKS = 4
MAD_SCALE = 0.6745  # the modified z-score: 0.6745 (x - median) / MAD
FLOOR = 2.0
# Latency is judged by each link's fastest of its 64 B READs: a busy CPU only ever adds time to a sample, a slow
# path adds it to every one (the lab's clean links' medians were up to 2.2x the fleet's, under TCG).
METRICS = (("read_lat_us_min", "latency", +1), ("write_MBps", "WRITE bandwidth", -1), ("read_MBps", "READ bandwidth", -1))
UNITS = {"read_lat_us_min": "µs", "write_MBps": "MB/s", "read_MBps": "MB/s"}


@dataclass(frozen=True)
class SlowRule:
    kind: str = "mad"  # mad | clusterkit
    z: float = 3.5

    @classmethod
    def parse(cls, text: str) -> "SlowRule":
        kind, _, arg = text.partition(":")
        if kind == "clusterkit" and not arg:
            return cls("clusterkit")
        if kind == "mad":
            try:
                z = float(arg) if arg else 3.5
            except ValueError:
                z = -1.0
            if 1.0 <= z <= 100.0:
                return cls("mad", z)
        raise BadInput(f"--slow-if {text!r}: use mad, mad:Z (Z from 1 to 100, default 3.5) or clusterkit")

    def spec(self) -> str:
        return "clusterkit" if self.kind == "clusterkit" else f"mad:{self.z:g}"


@dataclass(frozen=True)
class Link:
    pair: Pair
    values: dict[str, float]  # METRICS' keys


@dataclass
class Slowness:
    """What the rule found, and the baseline it judged by (so a reader sees why)."""
    rule: str
    measured: int = 0
    baseline: dict[str, dict[str, float]] = field(default_factory=dict)  # metric -> median/mad or min/max
    note: str = ""  # why nothing was judged
    slow_pairs: dict[Pair, str] = field(default_factory=dict)  # every link the rule flagged -> why
    slow_hosts: dict[str, str] = field(default_factory=dict)  # host -> why
    slow_links: dict[Pair, str] = field(default_factory=dict)  # between hosts fast elsewhere -> why
    undecided: dict[str, Pair] = field(default_factory=dict)  # host -> its slow link, no fast link of it yet

    def to_dict(self) -> dict:
        return {"rule": self.rule, "measured": self.measured, "baseline": self.baseline, "note": self.note,
                "slow_hosts": self.slow_hosts, "slow_links": [[*p, why] for p, why in self.slow_links.items()],
                "undecided": {h: list(p) for h, p in self.undecided.items()}}


def _why(key: str, x: float, bound: float, base: str) -> str:
    name = dict((k, n) for k, n, _ in METRICS)[key]
    unit = UNITS[key]
    return f"{name} {x:g} {unit} {'>' if key.startswith('read_lat') else '<'} {bound:.4g} {unit} ({base})"


def flag(links: list[Link], rule: SlowRule) -> Slowness:
    """Which links the rule calls slow, and the baseline."""
    s = Slowness(rule.spec(), measured=len(links))
    if len(links) < MIN_LINKS:
        s.note = f"{len(links)} measured link(s): at least {MIN_LINKS} are needed to judge slowness"
        return s
    for key, _, sign in METRICS:
        xs = [link.values[key] for link in links if key in link.values]
        if len(xs) < MIN_LINKS:
            continue
        if rule.kind == "clusterkit":
            lo, hi = min(xs), max(xs)
            s.baseline[key] = {"min": lo, "max": hi}
            bound = 2.1 * lo if sign > 0 else 0.93 * hi
            base = f"2.1x the fleet's minimum {lo:g}" if sign > 0 else f"93% of the fleet's maximum {hi:g}"
        else:
            med = statistics.median(xs)
            mad = statistics.median(abs(x - med) for x in xs)
            s.baseline[key] = {"median": med, "mad": mad}
            spread = rule.z * mad / MAD_SCALE
            bound = max(med + spread, FLOOR * med) if sign > 0 else min(med - spread, med / FLOOR)
            base = f"median {med:g}, MAD {mad:g}, z {rule.z:g}, at least x{FLOOR:g}"
        for link in links:
            x = link.values.get(key)
            if x is not None and (x > bound if sign > 0 else x < bound):
                s.slow_pairs.setdefault(link.pair, _why(key, x, bound, base))
    return s


def judge(links: list[Link], rule: SlowRule, unmeasured: dict[Pair, str] | None = None) -> Slowness:
    """Flag, then charge: slow hosts first, then slow links between hosts fast elsewhere; the rest undecided.
    A slow host's links are a third of a small fleet's: once hosts are found slow, the other links are judged
    again against a baseline without theirs (until no new slow host), so a slow link beside a slow host is
    still seen. `unmeasured`: verified pairs whose measurement failed or timed out, slow by that alone."""
    slow_hosts: dict[str, str] = {}
    while True:
        s = _charge(links, rule, unmeasured or {}, slow_hosts)
        if set(s.slow_hosts) == set(slow_hosts):
            return s
        slow_hosts = s.slow_hosts


def _charge(links: list[Link], rule: SlowRule, unmeasured: dict[Pair, str], known: dict[str, str]) -> Slowness:
    """One pass: the links of hosts `known` slow are theirs, the rest flagged against their own baseline."""
    theirs = [link for link in links if set(link.pair.hosts()) & set(known)]
    s = flag([link for link in links if link not in theirs], rule)
    s.measured = len(links)
    if known:
        s.note = (s.note + "; " if s.note else "") + f"baseline without the links of slow host(s) {', '.join(known)}"
    for link in theirs:
        s.slow_pairs[link.pair] = f"a link of slow host {next(h for h in link.pair.hosts() if h in known)}"
    for pair, why in unmeasured.items():
        s.slow_pairs[pair] = f"not measured: {why}"
    links = [*links, *(Link(p, {}) for p in unmeasured)]
    partners: dict[str, set[str]] = defaultdict(set)
    slow_with: dict[str, set[str]] = defaultdict(set)
    for link in links:
        a, b = link.pair.hosts()
        partners[a].add(b)
        partners[b].add(a)
        if link.pair in s.slow_pairs:
            slow_with[a].add(b)
            slow_with[b].add(a)
    for h in sorted(partners):
        n, k = len(partners[h]), len(slow_with[h])
        if h in known:
            s.slow_hosts[h] = known[h]
        elif n >= 2 and k * 2 > n:
            worst = next(why for p, why in s.slow_pairs.items() if h in p.hosts())
            s.slow_hosts[h] = f"slow with {k} of {n} partners (e.g. {worst})"
    for pair, why in s.slow_pairs.items():
        a, b = pair.hosts()
        if a in s.slow_hosts or b in s.slow_hosts:
            continue  # charged to the host
        fast_elsewhere = [h for h in (a, b) if partners[h] - slow_with[h]]
        if len(fast_elsewhere) == 2:
            s.slow_links[pair] = why
        else:
            for h in (a, b):
                if h not in fast_elsewhere:
                    s.undecided.setdefault(h, pair)
    return s
