"""What a fleet run found: every pair's outcome, per-round costs, and the isolation (bad hosts, bad
links) an operator acts on; written as one JSON file, JUnit, T-one and a node_exporter textfile."""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from rdmacheck.fleet.isolation import Diagnosis, PairResult, diagnose
from rdmacheck.fleet.protocol import PairOutcome
from rdmacheck.report.junit import Case, suite_xml
from rdmacheck.report.results import write_json_atomic
from rdmacheck.report.tone import write_records
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


@dataclass
class FleetResult:
    run: str
    pairing: str
    hosts: list[str] = field(default_factory=list)
    agents: dict[str, dict] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    host_down: dict[str, float] = field(default_factory=dict)  # host -> seconds into the run
    rounds: list[RoundStats] = field(default_factory=list)
    pairs: list[PairOutcome] = field(default_factory=list)
    diagnosis: Diagnosis = field(default_factory=Diagnosis)
    duration_s: float = 0.0
    started: float = 0.0  # wall clock (time.time()) when the coordinator started; host_down counts from it
    finished: bool = False

    def diagnose(self) -> None:
        """Isolation from the final outcomes; a host whose agent went away is down, whatever it passed
        before (its failed pairs then say nothing about links)."""
        d = diagnose([PairResult(o.pair, Verdict(o.verdict), o.finding) for o in self.final_pairs()])
        for h in self.missing:
            d.bad_hosts[h] = "host-down (its agent never joined)"
        for h, t in self.host_down.items():
            d.bad_hosts[h] = f"host-down (its agent's lease expired {t:.1f} s into the run)"
        down = set(d.bad_hosts)
        d.bad_links = [r for r in d.bad_links if not set(r.pair) & down]
        d.undecided = {h: rs for h, rs in d.undecided.items() if h not in down and
                       any(not set(r.pair) & down for r in rs)}
        d.healthy = [h for h in d.healthy if h not in down and h not in d.undecided]
        self.diagnosis = d
        self.finished = True

    def final_pairs(self) -> list[PairOutcome]:
        """The last outcome of each pair (a retest replaces an earlier result of the same pair)."""
        last: dict[frozenset, PairOutcome] = {}
        for o in self.pairs:
            last[frozenset(o.pair)] = o
        return list(last.values())

    @property
    def healthy(self) -> bool:
        d = self.diagnosis
        return self.finished and not d.bad_hosts and not d.bad_links and not d.undecided and not self.missing

    def host_lines(self) -> list[str]:
        return self.diagnosis.host_lines(self.hosts)

    def verdict_of(self, a: str, b: str) -> PairOutcome | None:
        return next((o for o in reversed(self.pairs) if {o.target, o.initiator} == {a, b}), None)

    def to_dict(self) -> dict:
        d = self.diagnosis
        return {"schema": SCHEMA, "run": self.run, "pairing": self.pairing, "hosts": self.hosts,
                "healthy": self.healthy, "finished": self.finished, "started": self.started,
                "duration_s": self.duration_s,
                "agents": self.agents, "missing": self.missing, "host_down": self.host_down,
                "host_lines": self.host_lines(),
                "bad_hosts": d.bad_hosts, "bad_links": [list(r.pair) for r in d.bad_links],
                "undecided": sorted(d.undecided), "rounds": [asdict(r) for r in self.rounds],
                "pairs": [asdict(o) for o in self.pairs]}


def write_fleet_json(res: FleetResult, path: Path) -> None:
    write_json_atomic(path, res.to_dict())


def fleet_junit_xml(res: FleetResult) -> bytes:
    cases = []
    for o in res.pairs:
        case = Case(classname=f"rdmacheck.fleet.{res.run}.round-{o.round}", name=f"{o.target}~{o.initiator}",
                    time_s=o.duration_s)
        if o.verdict != "PASS":
            case.failure, case.failure_type = o.finding or "failed", o.step or o.verdict
            case.failure_text = o.detail or ""
        cases.append(case)
    return suite_xml(cases, time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), platform.node())


def write_fleet_tone(res: FleetResult, directory: Path) -> None:
    write_records(directory, "rdmacheck-fleet", res.healthy,
                  [(f"{o.target}~{o.initiator}", o.verdict == "PASS") for o in res.final_pairs()])


def prom_text(res: FleetResult) -> str:
    """node_exporter textfile: per pair its verdict (1 pass, 0 fail) and reconnect time; per host health."""
    lines = ["# HELP rdmacheck_fleet_pair_pass 1 when the pair test passed (verified after its restarts).",
             "# TYPE rdmacheck_fleet_pair_pass gauge",
             "# HELP rdmacheck_fleet_pair_reconnect_seconds Slowest re-establishment of the pair's restarts.",
             "# TYPE rdmacheck_fleet_pair_reconnect_seconds gauge",
             "# HELP rdmacheck_fleet_host_healthy 1 when the host is not a bad host nor undecided.",
             "# TYPE rdmacheck_fleet_host_healthy gauge"]
    for o in res.final_pairs():
        lab = f'run="{res.run}",target="{o.target}",initiator="{o.initiator}",finding="{o.finding or ""}"'
        lines.append(f"rdmacheck_fleet_pair_pass{{{lab}}} {1 if o.verdict == 'PASS' else 0}")
        if o.reconnect_ms:
            lines.append(f"rdmacheck_fleet_pair_reconnect_seconds{{{lab}}} {max(o.reconnect_ms) / 1000:.6f}")
    d = res.diagnosis
    for h in res.hosts:
        ok = h not in d.bad_hosts and h not in d.undecided
        lines.append(f'rdmacheck_fleet_host_healthy{{run="{res.run}",host="{h}"}} {1 if ok else 0}')
    return "\n".join(lines) + "\n"


def write_prom(res: FleetResult, path: Path) -> None:
    """Atomically, as node_exporter's textfile collector requires (it may read at any moment)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(prom_text(res))
    tmp.replace(path)
