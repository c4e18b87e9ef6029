"""Flapping, from every outcome of a run (isolation._flaky): a pair that passed and failed is a flaky link; a host
flaky with more than half of its partners is a flaky host; neither is ever Healthy nor a plain bad link."""

from rdmacheck.fleet.isolation import PairResult, isolate
from rdmacheck.fleet.schedule import Pair
from rdmacheck.words import Verdict

P, F = Verdict.PASS, Verdict.FAIL


def _r(a, b, v, rnd, at):
    return PairResult(Pair(a, b), v, None if v == P else "write-stalled", round=rnd, at_s=at)


def test_a_host_flaky_with_most_partners_is_a_flaky_host():
    hosts = ["h1", "h2", "h3", "h4"]
    history = [_r("h1", "h2", F, 0, 1.0), _r("h3", "h4", P, 0, 1.2), _r("h1", "h3", F, 1, 2.0), _r("h2", "h4", P, 1, 2.1),
               _r("h1", "h4", P, 2, 3.0), _r("h2", "h3", P, 2, 3.1), _r("h1", "h2", P, 3, 4.0), _r("h1", "h3", P, 4, 5.0)]
    finals = {frozenset(r.pair): r for r in history}
    d = isolate(list(finals.values()), [], {}, hosts, history=history)
    assert list(d.flaky_hosts) == ["h1"] and "flaky with 2 of 3 partners" in d.flaky_hosts["h1"]
    assert d.host_lines(hosts)[0].startswith("h1 | ERROR flaky-host")
    assert not d.bad_links and "h1" not in d.healthy
    assert d.flaky_links[Pair("h1", "h2")] == "round 0: FAIL write-stalled at 1.0 s; round 3: PASS at 4.0 s"


def test_control_plane_failures_and_a_down_host_do_not_make_a_pair_flaky():
    hosts = ["h1", "h2", "h3"]
    history = [PairResult(Pair("h1", "h2"), F, "target-not-ready", plane="control", round=0),
               _r("h1", "h2", P, 2, 3.0), _r("h1", "h3", P, 1, 2.0), _r("h2", "h3", F, 0, 1.0), _r("h2", "h3", P, 3, 4.0)]
    finals = {frozenset(r.pair): r for r in history}
    d = isolate(list(finals.values()), [], {"h3": 5.0}, hosts, history=history)
    assert not d.flaky_links  # h1<->h2: only a control-plane failure; h2<->h3: h3 is down, charged alone
