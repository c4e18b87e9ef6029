from rdmacheck.report.results import CellResult
from rdmacheck.report.soak import Sample, SoakResult, judge_soak


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
