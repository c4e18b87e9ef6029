"""Slow links and slow hosts judged against the run's own links (fleet/slowness.py, through isolation)."""

import itertools
import random

import pytest

from rdmacheck.errors import BadInput
from rdmacheck.fleet.isolation import PairResult, isolate, retests
from rdmacheck.fleet.schedule import Pair
from rdmacheck.fleet.slowness import SlowRule
from rdmacheck.words import Verdict

HOSTS = [f"h{i}" for i in range(8)]


def _link(rng, lat=20.0, bw=1000.0, noise=0.06):
    """A link's numbers with a few % of noise, as real links have."""
    return {"read_lat_us_min": lat * rng.uniform(1 - noise, 1 + noise), "read_lat_us_p50": lat * 1.5, "read_lat_us_p99": lat * 2,
            "write_MBps": bw * rng.uniform(1 - noise, 1 + noise), "read_MBps": bw * rng.uniform(1 - noise, 1 + noise)}


def _fleet(seed=0, slow_host=None, slow_link=None, factor=3.0, hosts=HOSTS, noise=0.06):
    rng = random.Random(seed)
    out = []
    for a, b in itertools.combinations(hosts, 2):
        slow = slow_host in (a, b) or {a, b} == set(slow_link or ())
        out.append(PairResult(Pair(a, b), Verdict.PASS, link=_link(rng, 20.0 * (factor if slow else 1),
                                                                   1000.0 / (factor if slow else 1), noise)))
    return out


def test_clusterkits_fixed_ratios_flag_healthy_links_that_differ_by_a_few_percent_the_mad_rule_does_not():
    results = _fleet(noise=0.06)  # every link the same but for +-6% of noise
    ck = isolate(results, [], {}, HOSTS, SlowRule.parse("clusterkit")).slowness
    mad = isolate(results, [], {}, HOSTS, SlowRule.parse("mad")).slowness
    assert ck.slow_pairs and not mad.slow_pairs  # bandwidth under 93% of the maximum: noise, not a slow link


@pytest.mark.parametrize("seed", range(20))
def test_a_fleet_of_equal_links_flags_nothing(seed):
    d = isolate(_fleet(seed), [], {}, HOSTS)
    assert not d.slowness.slow_pairs and d.healthy == HOSTS, d.slowness


@pytest.mark.parametrize("rule", ["mad", "clusterkit"])
def test_a_host_slow_with_every_partner_is_a_slow_host_not_seven_slow_links(rule):
    d = isolate(_fleet(slow_host="h3", noise=0.02), [], {}, HOSTS, SlowRule.parse(rule))
    assert list(d.slowness.slow_hosts) == ["h3"] and not d.slowness.slow_links and not d.slowness.undecided
    assert "slow with 7 of 7 partners" in d.slowness.slow_hosts["h3"]
    lines = d.host_lines(HOSTS)
    assert lines[3].startswith("h3 | ERROR slow-host") and all(x.endswith("| Healthy") for x in lines[:3] + lines[4:])


@pytest.mark.parametrize("rule", ["mad", "clusterkit"])
def test_one_slow_pair_between_hosts_fast_elsewhere_is_a_slow_link(rule):
    d = isolate(_fleet(slow_link=("h1", "h5"), noise=0.02), [], {}, HOSTS, SlowRule.parse(rule))
    assert [set(p) for p in d.slowness.slow_links] == [{"h1", "h5"}] and not d.slowness.slow_hosts
    why = next(iter(d.slowness.slow_links.values()))
    assert "latency" in why or "bandwidth" in why, why  # the reason, with the numbers it was judged by
    assert "h1 | Healthy (slow link to h5)" in d.host_lines(HOSTS)


def test_a_slow_link_of_a_host_with_no_fast_link_yet_is_retested_with_another_partner():
    rng = random.Random(1)
    results = [PairResult(Pair(a, b), Verdict.PASS, link=_link(rng)) for a, b in
               [("h0", "h1"), ("h2", "h3"), ("h4", "h5"), ("h6", "h7")]]
    results[0] = PairResult(Pair("h0", "h1"), Verdict.PASS, link=_link(rng, 90.0, 200.0))
    d = isolate(results, [], {}, HOSTS)
    assert set(d.slowness.undecided) == {"h0", "h1"} and "h0" not in d.healthy
    assert "h0 | ERROR slow link to h1 (not yet isolated" in d.host_lines(HOSTS)[0]
    again = retests(d, results, HOSTS)
    met = {h for rnd in again for p in rnd for h in p.hosts()}
    assert {"h0", "h1"} <= met and Pair("h0", "h1") not in [p for rnd in again for p in rnd]
    # the retests: h0 fast with a known-good partner, h1 slow again -> h1 is the slow host... with two partners
    results += [PairResult(Pair("h2", "h0"), Verdict.PASS, link=_link(rng)),
                PairResult(Pair("h4", "h1"), Verdict.PASS, link=_link(rng, 90.0, 200.0))]
    d = isolate(results, [], {}, HOSTS)
    assert list(d.slowness.slow_hosts) == ["h1"] and "h0" in d.healthy


def test_too_few_links_judge_nothing_and_say_so():
    d = isolate(_fleet(hosts=HOSTS[:3], slow_host="h0"), [], {}, HOSTS[:3])
    assert not d.slowness.slow_pairs and "at least 4" in d.slowness.note


def test_a_verified_pair_whose_measurement_failed_is_slow_not_silently_fast():
    results = _fleet()
    results[0] = PairResult(results[0].pair, Verdict.PASS, link=None,
                            link_error="the link's measurement: no event within 30 s")
    d = isolate(results, [], {}, HOSTS)
    assert results[0].pair in d.slowness.slow_links and "not measured" in d.slowness.slow_links[results[0].pair]


@pytest.mark.parametrize("text", ["fast", "mad:0", "mad:x", "clusterkit:2", "mad:1000"])
def test_a_rule_that_is_not_one_is_refused(text):
    with pytest.raises(BadInput):
        SlowRule.parse(text)


def test_a_result_with_its_link_goes_through_the_boundary_as_plain_values():
    """An agent's result with the link's numbers: taken through its schema, then written (the coordinator's
    files) and read back (`report`) with the numbers intact; a number out of bounds is refused, naming it."""
    import json

    from rdmacheck.fleet.protocol import PairOutcome, accept_result
    from rdmacheck.fleet.result import FleetResult, result_from_file

    link = {"read_lat_us_p50": 616.7, "read_lat_us_p99": 21290.7, "write_MBps": 6.0, "read_MBps": 7.1,
            "reads": 100.0, "bytes": 4194304.0}
    sent = PairOutcome(0, "a", "b", "PASS", reported_by="b", link=link).to_json()
    out, why = accept_result(0, Pair("a", "b"), json.loads(sent))
    assert why == "" and out.link == link and json.loads(out.to_json())["link"] == link
    res = FleetResult(run="r", pairing="all", hosts=["a", "b"], pairs=[out], finished=True)
    again = result_from_file(json.loads(res.json_text()), "f.json")
    assert again.pairs[0].link == link
    bad = json.loads(sent)
    bad["link"]["write_MBps"] = -1
    out, why = accept_result(0, Pair("a", "b"), bad)
    assert out is None and "write_MBps" in why


def test_the_labs_slow_host_and_slow_path_are_named_from_their_measured_numbers():
    """A real 6-host lab run (siw; netem 3 ms on host2's wire both ways, and on host1 -> host4 only): host2 is the
    slow host; host1 <-> host4, once host2's links are out of the baseline, the slow link; nothing else."""
    import json
    from pathlib import Path

    from rdmacheck.fleet.result import result_from_file

    data = json.loads((Path(__file__).resolve().parents[1] / "data" / "fleet-slow-lab.json").read_text())
    res = result_from_file(data, "fleet-slow-lab.json")
    slow = res.diagnosis.slowness
    assert list(slow.slow_hosts) == ["host2"] and [sorted(p) for p in slow.slow_links] == [["host1", "host4"]]
    assert not slow.undecided and "without the links of slow host(s) host2" in slow.note
    assert res.host_lines()[1].startswith("host2 | ERROR slow-host") and not res.healthy


def test_the_precision_benchmark_names_what_was_injected_in_seeded_fleets():
    """benchmarks/fleet_precision.py on 40 seeded fleets (slow hosts and links, flapping links, deaths): every
    item named right, none missed, no bad link invented (its exit status says so)."""
    import subprocess
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parents[2] / "benchmarks" / "fleet_precision.py"
    r = subprocess.run([sys.executable, str(bench), "--fleets", "40", "--seed", "7"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and "0 false bad link(s)" in r.stdout, r.stdout + r.stderr
