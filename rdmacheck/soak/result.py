"""Soak results: the RDMA object counts and survivor RSS sampled after every restart round, and
the verdict on them (growth = a leak)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from rdmacheck.scenario.result import PASS, CellResult
from rdmacheck.verbs.resources import KINDS
from rdmacheck.words import Verdict


@dataclass
class Sample:
    round: int
    counts: dict[str, int] | None  # summed over devices; None: unreadable (see error)
    survivor_rss_kib: int | None
    error: str | None = None


@dataclass
class SoakResult:
    cell: CellResult
    samples: list[Sample] = field(default_factory=list)
    leaked: dict[str, int] = field(default_factory=dict)
    rss_growth_kib: int | None = None
    verdict: Verdict = Verdict.FAIL
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict == Verdict.PASS

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "reason": self.reason, "leaked": self.leaked,
                "rss_growth_kib": self.rss_growth_kib, "samples": [asdict(s) for s in self.samples],
                "cell": asdict(self.cell)}


# Warm-up rounds before the baseline: allocators and caches settle in the first rounds. A leak
# verdict compares the baseline with at least MIN_LATER samples after it.
WARMUP = 2
MIN_LATER = 2
MIN_ROUNDS = WARMUP + MIN_LATER  # restart rounds; the samples are taken after round 0 and each restart
RSS_SLACK_KIB = 8 * 1024


def judge_soak(res: SoakResult) -> None:
    if res.cell.verdict != PASS:
        res.verdict, res.reason = Verdict.FAIL, f"a round failed: {res.cell.finding}"
        return
    # A leak check that cannot count has not passed: every sample must be readable.
    unread = next((x for x in res.samples if x.counts is None), None)
    if unread:
        res.verdict, res.reason = Verdict.FAIL, f"RDMA object counts unreadable after round {unread.round}: {unread.error}"
        return
    gone = next((x for x in res.samples if not x.survivor_rss_kib), None)
    if gone:
        res.verdict, res.reason = Verdict.FAIL, (f"the survivor's RSS was unreadable after round {gone.round} "
                                                 "(/proc/PID/status): memory growth cannot be judged")
        return
    if len(res.samples) - 1 - WARMUP < MIN_LATER:
        res.verdict, res.reason = Verdict.FAIL, (f"no-evidence: {len(res.samples)} samples; a leak verdict needs the "
                                                 f"baseline after {WARMUP} warm-up rounds and {MIN_LATER} samples "
                                                 "after it")
        return
    base, last = res.samples[WARMUP], res.samples[-1]
    res.leaked = {k: last.counts[k] - base.counts[k] for k in KINDS if last.counts[k] > base.counts[k]}
    res.rss_growth_kib = last.survivor_rss_kib - base.survivor_rss_kib
    if res.leaked:
        res.verdict, res.reason = Verdict.FAIL, "RDMA objects grew: " + ", ".join(f"{k} +{v}" for k, v in res.leaked.items())
    elif res.rss_growth_kib > RSS_SLACK_KIB:
        res.verdict, res.reason = Verdict.FAIL, f"survivor RSS grew by {res.rss_growth_kib} KiB"
    else:
        res.verdict, res.reason = Verdict.PASS, (f"{len(res.samples) - 1} restarts: no RDMA object growth, survivor RSS "
                                                 f"{res.rss_growth_kib:+d} KiB after warm-up")
