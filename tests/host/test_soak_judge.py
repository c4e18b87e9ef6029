from rdmacheck.scenario.result import CellResult
from rdmacheck.soak.result import Sample, SoakResult, judge_soak


def res(samples, verdict="PASS"):
    r = SoakResult(cell=CellResult(device="rxe0", provider="rxe", mode="oob", strategy="reset", restart="initiator",
                                   verdict=verdict, finding=None if verdict == "PASS" else "x"))
    r.samples = [Sample(i, {"pd": 2, "cq": 2, "qp": q, "mr": 2, "cm_id": 0}, rss) for i, (q, rss) in enumerate(samples)]
    judge_soak(r)
    return r


def test_flat_counts_and_rss_pass():
    r = res([(3, 50_000), (2, 60_000), (2, 61_000), (2, 61_500), (2, 61_200)])
    assert r.verdict == "PASS" and r.rss_growth_kib == 200


def test_a_growing_qp_count_is_a_leak():
    r = res([(2, 1), (2, 1), (2, 1), (3, 1), (4, 1)])
    assert r.verdict == "FAIL" and r.leaked == {"qp": 2} and "qp +2" in r.reason


def test_rss_growth_beyond_slack_fails_and_failed_rounds_fail():
    assert res([(2, 50_000)] * 3 + [(2, 80_000)]).verdict == "FAIL"
    assert res([(2, 1)] * 4, verdict="FAIL").verdict == "FAIL"


def test_unreadable_counts_or_rss_are_a_fail_not_a_pass():
    r = SoakResult(cell=CellResult(device="rxe0", provider="rxe", mode="oob", strategy="reset", restart="initiator",
                                   verdict="PASS"))
    r.samples = [Sample(i, None, 50_000, "`rdma -j resource show` could not run: no such file") for i in range(4)]
    judge_soak(r)
    assert r.verdict == "FAIL" and "unreadable" in r.reason and "could not run" in r.reason
    no_rss = res([(2, None)] * 4)
    assert no_rss.verdict == "FAIL" and "RSS was unreadable" in no_rss.reason


def test_a_simopen_run_whose_qp_counts_are_unreadable_does_not_pass():
    from rdmacheck.simopen.result import SimopenResult, SimopenRound

    def run(leaked, before, after):
        r = SimopenResult(device="rxe0", endpoints=2, rounds_planned=1, policy="reuse", callers=2,
                          qps_before=before, qps_after=after)
        r.rounds = [SimopenRound(round=0, side=s, verdict="PASS", all_connected_ms=1.0, verified=2, leaked_qps=leaked)
                    for s in "AB"]
        return r
    assert run(0, 5, 5).verdict == "PASS"
    assert run(None, 5, 5).verdict == "FAIL" and "QPs left after teardown" in run(None, 5, 5).unknown_counts()[0]
    assert run(0, None, 5).verdict == "FAIL"


def test_a_count_the_rdma_tool_cannot_give_is_an_error_never_zero(monkeypatch):
    import subprocess

    import pytest

    from rdmacheck.verbs import resources

    monkeypatch.setattr(subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(a, 1, "", "error: no netlink"))
    with pytest.raises(resources.CountUnreadable, match="no netlink"):
        resources.resource_counts()
