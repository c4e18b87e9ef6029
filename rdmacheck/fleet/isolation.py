"""Isolation (pure): from pair verdicts to what an operator acts on - bad hosts and bad links.

Only data-plane evidence (the target listened; what the QP and the data did) implicates a host or a
link: a host that failed on the data plane with every partner it was tested with (at least two) is a
bad host; a data-plane failure between two hosts that both passed with someone else is a bad link
(or path). A control-plane failure (a partner that never listened, a late or dead agent, no result
at all) implicates nobody: its hosts are undecided until they pass with someone, and the pair itself
is reported untested. Anything else is not yet decided, and `retests` proposes rounds that pair each
undecided host with partners it has not met, preferring hosts known good (as ClusterKit retests bad
pairs before a verdict). A host whose agent went away is down, and charged alone (`isolate`).

Health comes only from evidence: a host is Healthy only with at least one pair of it that verified data in
this run (a PASS) and nothing against it; a host of the fleet with no PASS and nothing against it either
(never paired, or only in pairs that never made contact) is untested, which is not healthy."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from rdmacheck.fleet.schedule import Pair
from rdmacheck.fleet.slowness import Link, Slowness, SlowRule, judge
from rdmacheck.words import Verdict


@dataclass(frozen=True)
class PairResult:
    pair: Pair
    verdict: Verdict
    finding: str | None = None  # e.g. reuse-refused, deadline, host-down
    plane: str = "data"  # data | control (fleet/protocol.py)
    link: dict[str, float] | None = field(default=None, compare=False)  # the verified QP's measured numbers
    link_error: str | None = None  # verified, but its measurement failed
    round: int = -1  # the round it was tested in (its line names it when the pair flaps)
    at_s: float | None = None  # seconds into the run its result was put

    def seen(self) -> str:
        what = self.verdict.value if self.verdict == Verdict.PASS else f"{self.verdict.value} {self.finding or ''}".strip()
        return f"round {self.round}: {what}" + (f" at {self.at_s:.1f} s" if self.at_s is not None else "")

    @property
    def data_failure(self) -> bool:
        return self.verdict == Verdict.FAIL and self.plane == "data"


@dataclass
class Diagnosis:
    bad_hosts: dict[str, str] = field(default_factory=dict)  # host -> what it failed with
    bad_links: list[PairResult] = field(default_factory=list)
    undecided: dict[str, list[PairResult]] = field(default_factory=dict)  # host -> its failures so far
    healthy: list[str] = field(default_factory=list)
    untested: list[PairResult] = field(default_factory=list)  # control-plane failures of hosts that pass elsewhere
    untested_hosts: list[str] = field(default_factory=list)  # hosts with no PASS and no failure against them
    slowness: Slowness = field(default_factory=lambda: Slowness(SlowRule().spec()))  # slow hosts and links
    flaky_links: dict[Pair, str] = field(default_factory=dict)  # a pair whose tests disagreed -> each outcome
    flaky_hosts: dict[str, str] = field(default_factory=dict)  # flaky with more than half of its partners

    def host_lines(self, hosts: list[str]) -> list[str]:
        """`host | Healthy` / `host | ERROR <finding>`, the form health-check tooling parses."""
        lines = []
        for h in hosts:
            flaky = next((p for p in self.flaky_links if h in p.hosts()), None)
            if h in self.bad_hosts:
                lines.append(f"{h} | ERROR {self.bad_hosts[h]}")
            elif h in self.flaky_hosts:
                lines.append(f"{h} | ERROR flaky-host ({self.flaky_hosts[h]})")
            elif flaky is not None:
                lines.append(f"{h} | ERROR flaky link to {_other(flaky, h)} ({self.flaky_links[flaky]})")
            elif h in self.undecided:
                worst = self.undecided[h][0]
                lines.append(f"{h} | ERROR {worst.finding or 'pair failed'} (with {_other(worst.pair, h)}; "
                             f"not yet isolated)")
            elif h in self.slowness.slow_hosts:
                lines.append(f"{h} | ERROR slow-host ({self.slowness.slow_hosts[h]})")
            elif h in self.slowness.undecided:
                p = self.slowness.undecided[h]
                lines.append(f"{h} | ERROR slow link to {_other(p, h)} (not yet isolated: "
                             f"{self.slowness.slow_pairs.get(p, '')})")
            elif h in self.healthy:
                link = next((r for r in self.bad_links if h in r.pair.hosts()), None)
                slow = next((p for p in self.slowness.slow_links if h in p.hosts()), None)
                notes = ([f"bad link to {_other(link.pair, h)}"] if link else []) + \
                        ([f"slow link to {_other(slow, h)}"] if slow else [])
                lines.append(f"{h} | Healthy" + (f" ({'; '.join(notes)})" if notes else ""))
            else:  # never Healthy without a verified pair
                lines.append(f"{h} | ERROR untested (no pair of it verified data in this run)")
        return lines


def _other(pair: Pair, host: str) -> str:
    return pair.initiator if pair.target == host else pair.target


def diagnose(results: list[PairResult], hosts: list[str] | None = None) -> Diagnosis:
    """`hosts`: the fleet's hosts (a host in no pair is then untested); None: the hosts of the results."""
    by_host: dict[str, list[PairResult]] = defaultdict(list)
    for r in results:
        for h in r.pair.hosts():
            by_host[h].append(r)
    passed_with = {h: {_other(r.pair, h) for r in rs if r.verdict == Verdict.PASS} for h, rs in by_host.items()}
    d = Diagnosis()
    for h, rs in sorted(by_host.items()):
        failed = [r for r in rs if r.data_failure]
        partners = {_other(r.pair, h) for r in rs if r.verdict == Verdict.PASS or r.data_failure}
        if failed and not passed_with[h] and len(partners) >= 2:
            d.bad_hosts[h] = _common(failed)
    for r in results:
        if r.verdict != Verdict.FAIL:
            continue
        a, b = r.pair.hosts()
        if a in d.bad_hosts or b in d.bad_hosts:
            continue
        both_pass_elsewhere = passed_with[a] - {b} and passed_with[b] - {a}
        if both_pass_elsewhere:
            (d.bad_links if r.data_failure else d.untested).append(r)
        else:
            for h in (a, b):
                if not passed_with[h] - {_other(r.pair, h)}:
                    d.undecided.setdefault(h, []).append(r)
    known = sorted(set(by_host) | set(hosts or []))
    d.healthy = [h for h in known if h not in d.bad_hosts and h not in d.undecided and passed_with.get(h)]
    d.untested_hosts = [h for h in known if h not in d.bad_hosts and h not in d.undecided and not passed_with.get(h)]
    return d


def isolate(results: list[PairResult], missing: list[str], host_down: dict[str, float],
            hosts: list[str] | None = None, rule: SlowRule | None = None,
            history: list[PairResult] | None = None) -> Diagnosis:
    """The diagnosis of a fleet run, mid-run or at its end (every file and line is written from it): a host
    whose agent went away (or never joined) is down, whatever it passed before, and its failed pairs then
    say nothing about links. Then the verified pairs' links between hosts not found bad are judged for
    slowness (fleet/slowness.py): a slow host is not healthy, a slow host of no fast link is undecided.
    `history`: every outcome of the run in order (`results` holds each pair's last): a pair whose data-plane
    outcomes disagree (it passed and it failed) is a flaky link, never a bad link nor healthy (`_flaky`)."""
    d = diagnose(results, hosts)
    for h in missing:
        d.bad_hosts[h] = "host-down (its agent never joined)"
    for h, t in host_down.items():  # not re-admitted if its agent comes back: a run trusts a host once
        d.bad_hosts[h] = f"host-down (its agent's lease expired {t:.1f} s into the run; down for the rest of it)"
    down = set(d.bad_hosts)
    d.bad_links = [r for r in d.bad_links if not set(r.pair) & down]
    d.untested = [r for r in d.untested if not set(r.pair) & down]
    before = d.undecided
    d.undecided = {h: rs for h, rs in d.undecided.items() if h not in down and
                   any(not set(r.pair) & down for r in rs)}
    passed = {h for r in results if r.verdict == Verdict.PASS for h in r.pair.hosts()}
    for h in sorted(set(before) - set(d.undecided) - down):  # its only failures were with hosts that are down
        (d.healthy if h in passed else d.untested_hosts).append(h)
    d.healthy = sorted(h for h in d.healthy if h not in down)
    d.untested_hosts = sorted(h for h in d.untested_hosts if h not in down)
    judged = [r for r in results if r.verdict == Verdict.PASS and not set(r.pair) & set(d.bad_hosts)]
    d.slowness = judge([Link(r.pair, r.link) for r in judged if r.link], rule or SlowRule(),
                       {r.pair: r.link_error for r in judged if not r.link and r.link_error})
    _flaky(d, history or results, down)
    flagged = set(d.slowness.slow_hosts) | set(d.slowness.undecided) | {h for p in d.flaky_links for h in p.hosts()}
    d.healthy = [h for h in d.healthy if h not in flagged]
    return d


def _flaky(d: Diagnosis, history: list[PairResult], down: set[str]) -> None:
    """Pairs whose data-plane outcomes disagree, with each outcome; a host flaky with more than half of its
    partners (at least two) is a flaky host. A flaky pair is taken out of the bad links and the undecided."""
    by_pair: dict[frozenset, list[PairResult]] = defaultdict(list)
    for r in history:
        if r.verdict == Verdict.PASS or r.data_failure:
            by_pair[frozenset(r.pair)].append(r)
    partners: dict[str, set[str]] = defaultdict(set)
    for key, rs in by_pair.items():
        for h in key:
            partners[h] |= key - {h}
        if len({r.verdict for r in rs}) > 1 and not key & down:
            d.flaky_links[rs[-1].pair] = "; ".join(r.seen() for r in rs)
    flaky_with: dict[str, int] = defaultdict(int)
    for p in d.flaky_links:
        for h in p.hosts():
            flaky_with[h] += 1
    for h, k in sorted(flaky_with.items()):
        if k >= 2 and k * 2 > len(partners[h]):
            d.flaky_hosts[h] = f"flaky with {k} of {len(partners[h])} partners"
    flaky = {frozenset(p) for p in d.flaky_links}
    d.bad_links = [r for r in d.bad_links if frozenset(r.pair) not in flaky]
    for h in list(d.undecided):
        d.undecided[h] = [r for r in d.undecided[h] if frozenset(r.pair) not in flaky]
        if not d.undecided[h]:
            del d.undecided[h]


def _common(failed: list[PairResult]) -> str:
    """What a bad host failed with: the finding every failure shares, else the most frequent."""
    counts: dict[str, int] = defaultdict(int)
    for r in failed:
        counts[r.finding or "pair failed"] += 1
    finding = max(counts, key=counts.get)
    return f"{finding} with every partner ({len(failed)} pairs)"


def retests(d: Diagnosis, results: list[PairResult], hosts: list[str]) -> list[list[Pair]]:
    """Rounds (disjoint pairs) that meet each undecided or untested host with a partner it has not been
    tested with, known-good hosts first, among `hosts` (the live ones); empty when there is nothing left to try."""
    met = defaultdict(set)
    for r in results:
        a, b = r.pair.hosts()
        met[a].add(b)
        met[b].add(a)
    live = set(hosts)  # the hosts still up: a retest never pairs anyone with a host that is down
    order = [h for h in dict.fromkeys([*d.healthy, *hosts]) if h in live]  # known-good hosts first
    todo = [h for h in dict.fromkeys([*d.undecided, *d.slowness.undecided, *d.untested_hosts]) if h in live]
    rounds: list[list[Pair]] = []
    while todo:
        busy: set[str] = set()
        this: list[Pair] = []
        left = []
        for h in todo:
            fresh = [p for p in order if p != h and p not in met[h] and p not in d.bad_hosts]
            if not fresh:
                continue  # nobody left to try: it stays undecided
            candidates = [p for p in fresh if p not in busy]
            if h in busy or not candidates:
                left.append(h)  # next round
                continue
            p = candidates[0]
            this.append(Pair(p, h))
            busy |= {h, p}
            met[h].add(p)
            met[p].add(h)
        if not this:
            break
        rounds.append(this)
        todo = left
    return rounds
