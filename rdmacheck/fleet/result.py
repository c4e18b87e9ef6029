"""What a fleet run found: every pair's outcome, per-round costs, and the isolation (bad hosts, bad
links) an operator acts on; written as one JSON file, JUnit, T-one and a node_exporter textfile."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from rdmacheck.fleet.isolation import Diagnosis, PairResult, isolate
from rdmacheck.fleet.page import render_html
from rdmacheck.fleet.protocol import PairOutcome
from rdmacheck.fleet.slowness import SlowRule
from rdmacheck.output.outcome import Case
from rdmacheck.output.prom import gauge_help, labels
from rdmacheck.words import Verdict

SCHEMA = "rdmacheck.fleet/1"


@dataclass
class RoundStats:
    index: int
    pairs: list[list[str]]
    retest: bool
    wall_s: float  # published -> every result in (or its deadline)
    overhead_s: float  # wall minus the slowest pair test: what the control plane cost
    etcd_requests: int  # the coordinator's
    published_at: float = 0.0  # the coordinator's wall clock when it put the round
    closed_at: float = 0.0  # ... when it had the round's last result (or its deadline passed)
    result_lag_s: float = 0.0  # the longest a result took from its agent's stamp to the coordinator


@dataclass
class FleetResult:
    run: str
    pairing: str
    hosts: list[str] = field(default_factory=list)
    agents: dict[str, dict] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    host_down: dict[str, float] = field(default_factory=dict)  # host -> seconds into the run
    joined: dict[str, float] = field(default_factory=dict)  # host -> seconds into the run its registration was seen
    rounds: list[RoundStats] = field(default_factory=list)
    pairs: list[PairOutcome] = field(default_factory=list)
    duration_s: float = 0.0
    started: float = 0.0  # wall clock (time.time()) when the coordinator started; host_down counts from it
    finished: bool = False
    slow_if: str = "mad:3.5"  # fleet/slowness.SlowRule's spec: how the measured links are judged
    _round_lines: list[str] = field(default_factory=list, repr=False, compare=False)  # json_text's, as they came
    _pair_lines: list[str] = field(default_factory=list, repr=False, compare=False)
    _diagnosed: tuple = field(default=(), repr=False, compare=False)  # (what it was made from, the diagnosis)

    @property
    def diagnosis(self) -> Diagnosis:
        """The one diagnosis every file and line is written from, made from what the run has seen so far
        (mid-run, on Ctrl-C or an error, at the end, read back by `report`); made again only when that
        changed (pairs are only ever appended)."""
        key = (len(self.pairs), tuple(self.missing), tuple(sorted(self.host_down)), tuple(self.hosts), self.slow_if)
        if not self._diagnosed or self._diagnosed[0] != key:
            self._diagnosed = (key, isolate(self.pair_results(), self.missing, self.host_down, self.hosts,
                                            SlowRule.parse(self.slow_if), [self._as_result(o) for o in self.pairs]))
        return self._diagnosed[1]

    def pair_results(self) -> list[PairResult]:
        """The final outcomes, as isolation reads them."""
        return [self._as_result(o) for o in self.final_pairs()]

    def _as_result(self, o: PairOutcome) -> PairResult:
        at = round(o.reported_at - self.started, 1) if o.reported_at and self.started else None
        return PairResult(o.pair, Verdict(o.verdict), o.finding, o.plane, o.link, o.link_error, o.round, at)

    def final_pairs(self) -> list[PairOutcome]:
        """The last outcome of each pair (a retest replaces an earlier result of the same pair)."""
        last: dict[frozenset, PairOutcome] = {}
        for o in self.pairs:
            last[frozenset(o.pair)] = o
        return list(last.values())

    TONE_CASE = "rdmacheck-fleet"

    @property
    def ok(self) -> bool:
        return self.healthy

    def cases(self) -> list[Case]:
        """One per pair test (a retested pair twice, the retest last)."""
        cases = []
        for o in self.pairs:
            case = Case(id=f"{o.target}~{o.initiator}", classname=f"rdmacheck.fleet.{self.run}.round-{o.round}",
                        name=f"{o.target}~{o.initiator}", time_s=o.duration_s)
            if o.verdict != Verdict.PASS:
                case.failure, case.failure_type = o.finding or "failed", o.step or o.verdict
                case.failure_text = o.detail or ""
            cases.append(case)
        return cases

    @property
    def healthy(self) -> bool:
        d = self.diagnosis  # zero pairs tested is no evidence of health
        slow = d.slowness
        return self.finished and bool(self.final_pairs()) and not d.bad_hosts and not d.bad_links and \
            not d.undecided and not d.untested and not d.untested_hosts and not self.missing and \
            not slow.slow_hosts and not slow.slow_links and not slow.undecided and not d.flaky_links

    def host_lines(self) -> list[str]:
        return self.diagnosis.host_lines(self.hosts)

    def verdict_of(self, a: str, b: str) -> PairOutcome | None:
        return next((o for o in reversed(self.pairs) if {o.target, o.initiator} == {a, b}), None)

    def prom_text(self) -> str:
        return prom_text(self)

    def html_text(self) -> str:
        return render_html(self.to_dict())

    def _summary(self) -> dict:
        d = self.diagnosis
        return {"schema": SCHEMA, "run": self.run, "pairing": self.pairing, "hosts": self.hosts,
                "healthy": self.healthy, "finished": self.finished, "started": self.started,
                "duration_s": self.duration_s,
                "agents": self.agents, "joined": self.joined, "missing": self.missing, "host_down": self.host_down,
                "host_lines": self.host_lines(),
                "bad_hosts": d.bad_hosts, "bad_links": [list(r.pair) for r in d.bad_links],
                "undecided": sorted(d.undecided), "untested": [list(r.pair) for r in d.untested],
                "untested_hosts": d.untested_hosts, "slow_if": self.slow_if, "slowness": d.slowness.to_dict(),
                "flaky_links": [[*p, seen] for p, seen in d.flaky_links.items()], "flaky_hosts": d.flaky_hosts}

    def to_dict(self) -> dict:
        return {**self._summary(), "rounds": [asdict(r) for r in self.rounds], "pairs": [asdict(o) for o in self.pairs]}

    def json_text(self) -> str:
        """The results file: to_dict() as JSON, each round and pair on a line of its own and serialized once,
        as it comes (rounds and pairs are only ever appended), so a round's write costs that round's pairs
        and one join: 1.1 s after 999 rounds of `all` at 1,000 hosts (499,500 pairs), where dumping every
        pair so far took 16.8 s, longer than the round it followed (benchmarks/fleet_write.py)."""
        for lines, items in ((self._round_lines, self.rounds), (self._pair_lines, self.pairs)):
            lines.extend(json.dumps(asdict(x), default=str) for x in items[len(lines):])
        head = json.dumps(self._summary(), indent=2, default=str)[:-2]  # without the closing "\n}"
        body = ",\n".join(f'  "{name}": [' + ("\n    " + ",\n    ".join(lines) + "\n  " if lines else "") + "]"
                          for name, lines in (("rounds", self._round_lines), ("pairs", self._pair_lines)))
        return f"{head},\n{body}\n}}\n"


# (gauge, help, the pair's link measurement it shows; the slow flag is the rule's, not a measurement)
LINK_GAUGES = (("rdmacheck_fleet_link_read_latency_us", "Median latency of a 64 B RDMA READ on the pair's verified QP.",
                "read_lat_us_p50"),
               ("rdmacheck_fleet_link_read_latency_min_us", "Fastest 64 B RDMA READ on the pair's verified QP (judged).",
                "read_lat_us_min"),
               ("rdmacheck_fleet_link_read_latency_p99_us", "p99 latency of a 64 B RDMA READ on the pair's verified QP.",
                "read_lat_us_p99"),
               ("rdmacheck_fleet_link_write_MBps", "RDMA WRITE bandwidth, initiator to target, MB/s.", "write_MBps"),
               ("rdmacheck_fleet_link_read_MBps", "RDMA READ bandwidth, target to initiator, MB/s.", "read_MBps"),
               ("rdmacheck_fleet_link_slow", "1 when the run's rule (--slow-if) flagged the link slow.", None))


def prom_text(res: FleetResult) -> str:
    """node_exporter textfile: per pair its verdict (1 pass, 0 fail) and reconnect time; per host health
    (label values escaped: a finding or host name cannot inject a series)."""
    lines = [*gauge_help("rdmacheck_fleet_pair_pass", "1 when the pair test passed (verified after its restarts)."),
             *gauge_help("rdmacheck_fleet_pair_reconnect_seconds", "Slowest re-establishment of the pair's restarts."),
             *gauge_help("rdmacheck_fleet_host_healthy", "1 when the host verified data in this run and nothing is "
                         "against it (bad, slow, undecided or untested: 0)."),
             *(line for name, text, _ in LINK_GAUGES for line in gauge_help(name, text))]
    d = res.diagnosis
    slow = set(d.slowness.slow_pairs)
    for o in res.final_pairs():
        lab = labels(run=res.run, target=o.target, initiator=o.initiator, finding=o.finding or "")
        lines.append(f"rdmacheck_fleet_pair_pass{{{lab}}} {1 if o.verdict == Verdict.PASS else 0}")
        if o.reconnect_ms:
            lines.append(f"rdmacheck_fleet_pair_reconnect_seconds{{{lab}}} {max(o.reconnect_ms) / 1000:.6f}")
        link = labels(run=res.run, target=o.target, initiator=o.initiator)
        for name, _, key in LINK_GAUGES:
            if key and o.link and key in o.link:
                lines.append(f"{name}{{{link}}} {o.link[key]:g}")
        if o.verdict == Verdict.PASS and (o.link or o.link_error):
            lines.append(f"rdmacheck_fleet_link_slow{{{link}}} {1 if o.pair in slow else 0}")
    healthy = set(d.healthy)
    for h in res.hosts:
        ok = h in healthy
        lines.append(f"rdmacheck_fleet_host_healthy{{{labels(run=res.run, host=h)}}} {1 if ok else 0}")
    return "\n".join(lines) + "\n"


def result_from_file(data: object, source: str) -> FleetResult:
    """A fleet results file read back through its schema (schemas.FleetFile): the evidence only, so what
    `report` prints and exits by is judged again from the pairs, never taken from the stored lines or flag.
    A file that fails the schema is a BoundaryError naming the file and the field."""
    import msgspec  # noqa: PLC0415

    from rdmacheck.errors import BadInput  # noqa: PLC0415
    from rdmacheck.fleet.schemas import BoundaryError, FleetFile, decode  # noqa: PLC0415

    f = decode(data, FleetFile, source)
    try:
        SlowRule.parse(f.slow_if)
    except BadInput:
        raise BoundaryError(f"{source}: slow_if {f.slow_if!r} is not a rule (mad, mad:Z or clusterkit) - at "
                            "`$.slow_if`") from None
    return FleetResult(run=f.run, pairing=f.pairing, hosts=list(f.hosts), missing=list(f.missing),
                       host_down=dict(f.host_down), joined=dict(f.joined),
                       agents={h: msgspec.structs.asdict(a) for h, a in f.agents.items()},
                       rounds=[RoundStats(**{**msgspec.structs.asdict(r), "pairs": [list(p) for p in r.pairs]})
                               for r in f.rounds],
                       pairs=[PairOutcome.from_value(p) for p in f.pairs],
                       duration_s=f.duration_s, started=f.started, finished=f.finished, slow_if=f.slow_if)
