"""simopen results: per round and side, what the simultaneous open did; the verdict; a rich table."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from rich.console import Console
from rich.table import Table

from rdmacheck.report.render import STYLE
from rdmacheck.words import Verdict

SCHEMA = 1
COUNTED = ("hangs", "errors", "unconnected", "duplicates", "crossed", "write_failures", "verify_failures",
           "leaked_qps")  # each must be 0 in a passing round


@dataclass
class SimopenRound:
    round: int
    side: str
    verdict: str
    all_connected_ms: float
    verified: int
    hangs: int = 0
    errors: int = 0
    unconnected: int = 0
    duplicates: int = 0
    crossed: int = 0
    write_failures: int = 0
    verify_failures: int = 0
    leaked_qps: int | None = None
    reclaimed_qps: int = 0
    qps_in_use: int | None = None  # the kernel's count for the process before teardown
    handshakes: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)

    @classmethod
    def from_event(cls, side: str, ev: dict) -> "SimopenRound":
        names = {f.name for f in fields(cls)}
        return cls(side=side, **{k: v for k, v in ev.items() if k in names and k != "side"})

    def problems(self) -> list[str]:
        return [f"{k.replace('_', ' ')} {getattr(self, k)}" for k in COUNTED if getattr(self, k)]


@dataclass
class SimopenResult:
    device: str
    endpoints: int
    rounds_planned: int
    policy: str
    callers: int
    rounds: list[SimopenRound] = field(default_factory=list)
    qps_before: int | None = None  # kernel QP count (all processes) before and after the run
    qps_after: int | None = None
    error: str | None = None
    duration_s: float = 0.0
    logs: str | None = None

    @property
    def leaked_total(self) -> int | None:
        if self.qps_before is None or self.qps_after is None:
            return None
        return self.qps_after - self.qps_before

    @property
    def verdict(self) -> str:
        complete = len({r.round for r in self.rounds}) == self.rounds_planned
        ok = complete and not self.error and all(r.verdict == Verdict.PASS for r in self.rounds)
        return Verdict.PASS if ok and not self.leaked_total and not self.unknown_counts() else Verdict.FAIL

    def unknown_counts(self) -> list[str]:
        """Leak counts that could not be read: a leak check that cannot count has not passed."""
        missing = [f"round {r.round} {r.side}: QPs left after teardown" for r in self.rounds if r.leaked_qps is None]
        if self.leaked_total is None:
            missing.append("the kernel's QP count before or after the run")
        return missing

    def totals(self) -> dict[str, int]:
        return {k: sum(getattr(r, k) or 0 for r in self.rounds) for k in (*COUNTED, "verified")}

    def to_dict(self) -> dict:
        d = asdict(self)
        d.update(schema=SCHEMA, kind="simopen", verdict=self.verdict, leaked_total=self.leaked_total,
                 unknown_counts=self.unknown_counts(),
                 totals=self.totals())
        return d


def render_simopen(res: SimopenResult, console: Console) -> None:
    t = Table(title=f"simopen · {res.device} · {res.endpoints} endpoints x {res.callers} callers per side · "
                    f"passive policy {res.policy}", title_justify="left")
    for col in ("round", "side", "verdict", "all connected ms", "handshakes sent/answered/merged/retried/waited",
                "hangs", "dup", "crossed", "verified", "leaked QPs", "problem"):
        t.add_column(col, no_wrap=col != "problem")
    for r in res.rounds:
        h = r.handshakes
        example = next((v[0] for v in r.examples.values() if v), "")
        t.add_row(str(r.round), r.side, f"[{STYLE.get(r.verdict, '')}]{r.verdict}[/]", f"{r.all_connected_ms:.0f}",
                  "/".join(str(h.get(k, 0)) for k in ("sent", "answered", "merged", "retried", "waited")),
                  str(r.hangs), str(r.duplicates), str(r.crossed), f"{r.verified}/{res.endpoints}",
                  "-" if r.leaked_qps is None else str(r.leaked_qps), example)
    console.print(t)
    tot = res.totals()
    worst = max((r.all_connected_ms for r in res.rounds), default=0.0)
    leaked = "unknown" if res.leaked_total is None else str(res.leaked_total)
    if res.unknown_counts():
        console.print(f"[bold red]unreadable counts (not a pass):[/] {'; '.join(res.unknown_counts())} "
                      "(is `rdma` from iproute2 installed?)")
    console.print(f"[{STYLE[res.verdict]}]{res.verdict}[/]: {len({r.round for r in res.rounds})}/{res.rounds_planned} "
                  f"rounds, all connected in <= {worst:.0f} ms, hangs {tot['hangs']}, duplicate QPs "
                  f"{tot['duplicates']}, crossed {tot['crossed']}, data verified on {tot['verified']} endpoint-"
                  f"rounds (failures {tot['write_failures'] + tot['verify_failures']}), leaked QPs {leaked} "
                  f"({res.duration_s:.1f} s)" + (f"; error: {res.error}" if res.error else ""), highlight=False)
