"""Health only from evidence (pure): a host is Healthy only with a pair of it that verified data in this run
and nothing against it; every file made mid-run says what the run has seen so far."""
from __future__ import annotations

import json

from rdmacheck.fleet.isolation import PairResult, diagnose, isolate, retests
from rdmacheck.fleet.protocol import PairOutcome
from rdmacheck.fleet.result import FleetResult, prom_text
from rdmacheck.fleet.schedule import Pair, Schedule
from rdmacheck.words import Verdict

PASS, FAIL = Verdict.PASS, Verdict.FAIL


def _res(hosts, outcomes, **kw) -> FleetResult:
    r = FleetResult(run="r", pairing="all", hosts=list(hosts), **kw)
    r.pairs = [PairOutcome(i, a, b, v, finding=f, plane=plane) for i, (a, b, v, f, plane) in enumerate(outcomes)]
    return r


def test_a_host_in_no_pair_is_untested_never_healthy():
    hosts = ("a", "b", "c")
    rounds = list(Schedule("bisection", hosts).rounds())
    assert {h for p in rounds[0] for h in p} == {"a", "b"}  # an odd fleet: c has no pair
    res = _res(hosts, [("a", "b", PASS, None, "data")], finished=True)
    assert res.host_lines() == ["a | Healthy", "b | Healthy", "c | ERROR untested (no pair of it verified data in this run)"]
    assert not res.healthy and res.to_dict()["untested_hosts"] == ["c"]
    assert 'rdmacheck_fleet_host_healthy{run="r",host="c"} 0' in prom_text(res)


def test_the_untested_host_is_paired_in_a_retest_with_a_live_partner():
    results = [PairResult(Pair("a", "b"), PASS)]
    d = diagnose(results, ["a", "b", "c"])
    assert d.untested_hosts == ["c"]
    assert retests(d, results, ["a", "b", "c"]) == [[Pair("a", "c")]]
    assert retests(d, results, ["b", "c"]) == [[Pair("b", "c")]]  # a is down: never a partner


def test_a_host_whose_only_partner_went_down_is_not_healthy():
    res = _res(("a", "b", "c", "d"), [("a", "b", PASS, None, "data"), ("c", "d", FAIL, "host-down", "control")],
               host_down={"d": 1.0}, finished=True)
    lines = res.host_lines()
    assert "c | ERROR untested (no pair of it verified data in this run)" in lines and "d | ERROR host-down" in lines[3]
    assert not res.healthy


def test_every_file_made_mid_run_says_what_was_seen_so_far():
    """After two rounds with a bad host (h1 fails with everyone) and a dead one (h4): the results file and the
    Prometheus file already say so; nothing is Healthy that has not passed."""
    hosts = ("h1", "h2", "h3", "h4")
    res = _res(hosts, [("h1", "h2", FAIL, "deadline", "data"), ("h3", "h4", FAIL, "host-down", "control"),
                       ("h1", "h3", FAIL, "deadline", "data"), ("h2", "h4", FAIL, "host-down", "control")],
               host_down={"h4": 3.0})
    doc = json.loads(res.json_text())
    assert doc["host_lines"][0].startswith("h1 | ERROR deadline with every partner") and not doc["healthy"]
    assert doc["host_lines"][3].startswith("h4 | ERROR host-down")
    assert "Healthy" not in " ".join(doc["host_lines"])  # h2 and h3 have not passed yet
    assert 'host="h2"} 0' in prom_text(res) and 'host="h3"} 0' in prom_text(res)
    res.pairs.append(PairOutcome(2, "h2", "h3", PASS))
    assert json.loads(res.json_text())["host_lines"][1:3] == ["h2 | Healthy", "h3 | Healthy"]


def test_isolate_drops_nobody():
    """Every host of the fleet is in exactly one of bad, undecided, healthy, untested."""
    results = [PairResult(Pair("a", "b"), FAIL, "deadline"), PairResult(Pair("c", "d"), PASS),
               PairResult(Pair("e", "f"), FAIL, "host-down", "control")]
    hosts = ["a", "b", "c", "d", "e", "f", "g"]
    d = isolate(results, [], {"f": 1.0}, hosts)
    groups = [set(d.bad_hosts), set(d.undecided), set(d.healthy), set(d.untested_hosts)]
    assert sorted(h for g in groups for h in g) == hosts and sum(len(g) for g in groups) == len(hosts)
