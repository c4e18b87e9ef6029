"""Soak: restart rounds in a loop; after every round, sample the kernel's RDMA object counts
(`rdma resource show`) and the survivor's RSS, and fail on growth (leaked QPs/CQs/MRs/PDs)."""

from __future__ import annotations

from dataclasses import dataclass, field

from rdmacheck.report.results import PASS, CellResult
from rdmacheck.scenario.local import LocalPlan, LocalRun
from rdmacheck.verbs.resources import KINDS, resource_counts

@dataclass
class Sample:
    round: int
    counts: dict[str, int]  # summed over devices
    survivor_rss_kib: int | None


@dataclass
class SoakResult:
    cell: CellResult
    samples: list[Sample] = field(default_factory=list)
    leaked: dict[str, int] = field(default_factory=dict)
    rss_growth_kib: int | None = None
    verdict: str = "FAIL"
    reason: str = ""

    def to_dict(self) -> dict:
        from dataclasses import asdict
        return {"verdict": self.verdict, "reason": self.reason, "leaked": self.leaked,
                "rss_growth_kib": self.rss_growth_kib, "samples": [asdict(s) for s in self.samples],
                "cell": asdict(self.cell)}


def rss_kib(pid: int) -> int | None:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


# Warm-up rounds before the baseline: allocators and caches settle in the first rounds.
WARMUP = 2
RSS_SLACK_KIB = 8 * 1024


def judge_soak(res: SoakResult) -> None:
    if res.cell.verdict != PASS:
        res.verdict, res.reason = "FAIL", f"a round failed: {res.cell.finding}"
        return
    base = res.samples[min(WARMUP, len(res.samples) - 1)]
    last = res.samples[-1]
    res.leaked = {k: last.counts[k] - base.counts[k] for k in KINDS if last.counts[k] > base.counts[k]}
    if base.survivor_rss_kib and last.survivor_rss_kib:
        res.rss_growth_kib = last.survivor_rss_kib - base.survivor_rss_kib
    if res.leaked:
        res.verdict, res.reason = "FAIL", "RDMA objects grew: " + ", ".join(f"{k} +{v}" for k, v in res.leaked.items())
    elif res.rss_growth_kib is not None and res.rss_growth_kib > RSS_SLACK_KIB:
        res.verdict, res.reason = "FAIL", f"survivor RSS grew by {res.rss_growth_kib} KiB"
    else:
        res.verdict, res.reason = "PASS", (f"{len(res.samples) - 1} restarts: no RDMA object growth, survivor RSS "
                                           f"{res.rss_growth_kib:+d} KiB after warm-up" if res.rss_growth_kib is not None
                                           else "no RDMA object growth")


def run_soak(plan: LocalPlan, on_step=lambda s: None) -> SoakResult:
    cell = CellResult(device=plan.device, provider="?", mode=plan.mode, strategy=plan.strategy, restart=plan.restart)
    res = SoakResult(cell=cell)
    survivor = "target" if plan.restart == "initiator" else "initiator"

    def sample(index: int, run: LocalRun) -> None:
        alive = [p for p in run.procs if p.label == survivor and p.exit_status is None]
        res.samples.append(Sample(index, resource_counts(), rss_kib(alive[-1].pid) if alive else None))
        on_step(f"round {index}: {res.samples[-1].counts}")

    LocalRun(plan, on_step=on_step, after_round=sample).run(cell)
    judge_soak(res)
    return res
