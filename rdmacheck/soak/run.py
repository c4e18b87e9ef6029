"""Soak: restart rounds in a loop; after every round, sample the kernel's RDMA object counts
(`rdma resource show`) and the survivor's RSS, and fail on growth (leaked QPs/CQs/MRs/PDs)."""

from __future__ import annotations

from rdmacheck.scenario.cell import CellSpec
from rdmacheck.scenario.local import LocalRun
from rdmacheck.scenario.result import CellResult
from rdmacheck.scenario.runner import run_cell
from rdmacheck.soak.result import Sample, SoakResult, judge_soak
from rdmacheck.verbs.resources import CountUnreadable, resource_counts
from rdmacheck.words import Restart, Role


def rss_kib(pid: int) -> int | None:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def run_soak(spec: CellSpec, on_step=lambda s: None, on_sample=lambda res: None) -> SoakResult:
    """on_sample(result so far) after every sample: what was gathered is written as it comes."""
    survivor = Role.TARGET if spec.restart is Restart.INITIATOR else Role.INITIATOR
    samples: list[Sample] = []
    so_far = SoakResult(cell=CellResult.of(spec), samples=samples, reason="running")

    def sample(index: int, run: LocalRun) -> None:
        alive = [p for p in run.procs if p.label == survivor and p.exit_status is None]
        try:
            counts, error = resource_counts(), None
        except CountUnreadable as e:
            counts, error = None, str(e)
        samples.append(Sample(index, counts, rss_kib(alive[-1].pid) if alive else None, error))
        on_step(f"round {index}: {counts or error}")
        on_sample(so_far)

    res = SoakResult(cell=run_cell(spec, on_step, after_round=sample), samples=samples)
    judge_soak(res)
    return res
