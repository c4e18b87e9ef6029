"""The fleet's pure parts: schedules (every host at most once per round, every pair of `all`
exactly once) and isolation (bad host vs bad link), on the host."""
import itertools

import pytest

from rdmacheck.fleet.isolation import PairResult, diagnose, retests
from rdmacheck.fleet.schedule import Pair, Pairing, Schedule, ScheduleError

HOSTS8 = tuple(f"host{i}" for i in range(1, 9))


def _disjoint(rounds):
    for r in rounds:
        seen = [h for p in r for h in p.hosts()]
        assert len(seen) == len(set(seen)), r


@pytest.mark.parametrize("n", [2, 3, 4, 7, 8, 33])
def test_all_pairs_round_robin_meets_every_pair_once_in_n_minus_1_rounds(n):
    hosts = tuple(f"h{i}" for i in range(n))
    s = Schedule("all", hosts)
    rounds = list(s.rounds())
    _disjoint(rounds)
    assert len(rounds) == s.round_count() == (n - 1 if n % 2 == 0 else n)
    pairs = [frozenset(p.hosts()) for r in rounds for p in r]
    assert len(pairs) == len(set(pairs)) == n * (n - 1) // 2
    if n % 2 == 0:
        assert all(len(r) == n // 2 for r in rounds)
    serves = {h: sum(p.target == h for r in rounds for p in r) for h in hosts}
    assert max(serves.values()) - min(serves.values()) <= 1  # every host serves about as often as it dials


def test_eight_hosts_all_pairs_is_28_pairs_in_7_rounds():
    rounds = list(Schedule("all", HOSTS8).rounds())
    assert len(rounds) == 7 and sum(len(r) for r in rounds) == 28


@pytest.mark.parametrize("n", [2, 5, 8])
def test_ring_and_bisection(n):
    hosts = tuple(f"h{i}" for i in range(n))
    ring = list(Schedule("ring", hosts).rounds())
    _disjoint(ring)
    assert {frozenset(p.hosts()) for r in ring for p in r} == {frozenset((hosts[i], hosts[(i + 1) % n]))
                                                              for i in range(n)}
    bis = list(Schedule("bisection", hosts).rounds())
    assert len(bis) == 1 and {p.hosts() for p in bis[0]} == {(hosts[i], hosts[i + n // 2]) for i in range(n // 2)}


def test_random_is_seeded_and_disjoint():
    a = list(Schedule("random:5", HOSTS8, seed=3).rounds())
    assert a == list(Schedule("random:5", HOSTS8, seed=3).rounds()) and len(a) == 5
    _disjoint(a)
    with pytest.raises(ScheduleError, match="random:K"):
        list(Schedule("random:x", HOSTS8).rounds())


def test_a_clusterkit_pair_file_is_read_and_checked(tmp_path):
    f = tmp_path / "pairs.txt"
    f.write_text("# round a b\n0 host1 host2\n0 host3 host4\n1 host1 host3\n")
    assert list(Schedule(f"file:{f}", HOSTS8).rounds()) == [[Pair("host1", "host2"), Pair("host3", "host4")],
                                                            [Pair("host1", "host3")]]
    for text, msg in (("0 host1 host9\n", "not in the fleet"), ("0 host1 host2\n0 host2 host3\n", "already in a pair"),
                      ("zero host1 host2\n", "expected '<round> <a> <b>'"), ("0 host1 host1\n", "itself")):
        f.write_text(text)
        with pytest.raises(ScheduleError, match=msg):
            list(Schedule(f"file:{f}", HOSTS8).rounds())


def test_a_pairing_is_parsed_once_and_a_pair_file_read_once(tmp_path):
    f = tmp_path / "pairs.txt"
    f.write_text("0 host1 host2\n1 host1 host3\n1 host2 host4\n")
    pairing = Pairing.parse(f"file:{f}")
    f.unlink()  # the schedule, its rounds and their count come from what was read
    s = Schedule(pairing, HOSTS8)
    assert s.round_count() == 2 and len(list(s.rounds())) == 2 and str(pairing) == f"file:{f}"
    assert str(Pairing.parse("random:7")) == "random:7" and Pairing.parse("random:7").count == 7
    for text in ("random:0", "ring:2", "file:"):
        with pytest.raises(ScheduleError):
            Pairing.parse(text)


def test_bad_input_is_refused():
    for pairing, hosts, msg in (("all", ("a",), "at least 2"), ("all", ("a", "a"), "twice"), ("star", ("a", "b"), "unknown")):
        with pytest.raises(ScheduleError, match=msg):
            Schedule(pairing, hosts)


def _results(fails: set[frozenset], finding="deadline"):
    out = []
    for r in Schedule("all", HOSTS8).rounds():
        for p in r:
            bad = frozenset(p.hosts()) in fails or any(f == frozenset({h}) for f in fails for h in p.hosts())
            out.append(PairResult(p, "FAIL" if bad else "PASS", finding if bad else None))
    return out


def test_a_host_that_fails_with_every_partner_is_the_bad_host():
    d = diagnose(_results({frozenset({"host3"})}, finding="host-down"))
    assert list(d.bad_hosts) == ["host3"] and "host-down with every partner (7 pairs)" in d.bad_hosts["host3"]
    assert not d.bad_links and not d.undecided
    lines = d.host_lines(list(HOSTS8))
    assert "host3 | ERROR host-down with every partner (7 pairs)" in lines and "host1 | Healthy" in lines


def test_a_pair_that_fails_while_both_hosts_pass_with_others_is_a_bad_link():
    d = diagnose(_results({frozenset({"host2", "host5"})}))
    assert not d.bad_hosts and [r.pair.hosts() for r in d.bad_links] in ([("host2", "host5")], [("host5", "host2")])
    assert "host2 | Healthy (bad link to host5)" in d.host_lines(list(HOSTS8))


def test_an_undecided_failure_is_retested_with_new_partners():
    first = [PairResult(Pair("host1", "host2"), "FAIL", "deadline"), PairResult(Pair("host3", "host4"), "PASS")]
    d = diagnose(first)
    assert set(d.undecided) == {"host1", "host2"} and not d.bad_hosts and not d.bad_links
    plan = retests(d, first, ["host1", "host2", "host3", "host4"])
    _disjoint(plan)
    met = {frozenset(p.hosts()) for r in plan for p in r}
    assert frozenset({"host1", "host2"}) not in met  # never the same failed pair again
    assert all(any(h in pair for pair in met) for h in ("host1", "host2"))
    # host1 then fails with everybody, host2 passes with the others: host1 is the bad host
    more = first + [PairResult(p, "FAIL" if "host1" in p.hosts() else "PASS", "deadline" if "host1" in p.hosts() else None)
                    for r in plan for p in r]
    more += [PairResult(Pair("host1", h), "FAIL", "deadline") for h in ("host3", "host4")
             if frozenset({"host1", h}) not in met]
    d2 = diagnose(more)
    assert "host1" in d2.bad_hosts and "host2" not in d2.undecided


def test_schedule_for_4096_hosts_rounds_come_one_at_a_time():
    s = Schedule("all", tuple(f"h{i}" for i in range(4096)))
    first = next(s.rounds())
    assert len(first) == 2048 and s.round_count() == 4095
    assert len(list(itertools.islice(s.rounds(), 3))) == 3


def test_the_results_text_grows_with_the_run_and_always_reads_as_the_whole_result():
    """json_text() serializes each round and pair once, as they come: after every append it must still be
    exactly to_dict() (what the report, the HTML page and a reader expect)."""
    import json

    from rdmacheck.fleet.protocol import PairOutcome
    from rdmacheck.fleet.result import FleetResult, RoundStats
    from rdmacheck.words import Verdict

    r = FleetResult(run="r", pairing="all", hosts=["a", "b", "c"], started=1.0)
    whole = lambda: json.loads(json.dumps(r.to_dict(), default=str))  # noqa: E731
    assert json.loads(r.json_text()) == whole()
    for k, (t, i) in enumerate([("a", "b"), ("a", "c"), ("b", "c")]):
        r.rounds.append(RoundStats(k, [[t, i]], False, 1.0 + k, 0.1, 3))
        r.pairs.append(PairOutcome(k, t, i, Verdict.PASS if k != 1 else Verdict.FAIL, finding="deadline" if k == 1
                                   else None, reconnect_ms=[12.5], reported_by=i))
        text = r.json_text()
        assert json.loads(text) == whole() and len(json.loads(text)["pairs"]) == k + 1
    assert text.count("\n") > 30 and '"finding": "deadline"' in text  # a line per pair, the rest indented


def test_after_each_round_the_results_file_is_written_and_the_other_files_only_while_cheap(tmp_path):
    """The results file every round; JUnit and the others again only once `spacing` times their last
    write's time has passed (a clock that advances 1 s a reading: the first write took 1 s, so the next
    is due 9 s later)."""
    import json
    import xml.etree.ElementTree as ET

    from rdmacheck.fleet.round_files import RoundFiles
    from rdmacheck.fleet.protocol import PairOutcome
    from rdmacheck.fleet.result import FleetResult, RoundStats
    from rdmacheck.words import Verdict

    ticks = iter(range(1000))
    files = RoundFiles(tmp_path / "f.json", junit=tmp_path / "f.xml", clock=lambda: float(next(ticks)))
    r = FleetResult(run="r", pairing="all", hosts=["a", "b", "c"], started=1.0)
    seen = []
    for k, (t, i) in enumerate([("a", "b"), ("a", "c"), ("b", "c")]):
        r.rounds.append(RoundStats(k, [[t, i]], False, 1.0, 0.1, 3))
        r.pairs.append(PairOutcome(k, t, i, Verdict.PASS, reported_by=i))
        files(r)
        seen.append((len(json.loads((tmp_path / "f.json").read_text())["pairs"]),
                     len(list(ET.parse(tmp_path / "f.xml").getroot().iter("testcase")))))
    assert seen == [(1, 1), (2, 1), (3, 1)], seen  # JUnit written at round 0 (t=1..2), due again at t=11
