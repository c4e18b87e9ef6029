"""`rdmacheck report FLEET.json`: the fleet judged again from the pairs in the file (its stored health, host
lines and lists are not read), its host lines printed, the exit code by that judgement, --html optional;
a file that fails the schema is one line naming the field, exit 2. And every decoder of the fleet's boundary
fed arbitrary JSON: a BoundaryError or a value, never anything else."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rdmacheck.fleet import protocol as proto
from rdmacheck.fleet.schedule import Pair
from rdmacheck.fleet.schemas import (
    AgentValue,
    BoundaryError,
    EndValue,
    FleetFile,
    ReadyValue,
    ResultValue,
    RoundValue,
    ShardValue,
    decode,
)
from tests.conftest import rdmacheck


def _pair(t, i, verdict="PASS", finding=None, plane="data") -> dict:
    return {"round": 0, "target": t, "initiator": i, "verdict": verdict, "finding": finding, "plane": plane,
            "reconnect_ms": [10.0] if verdict == "PASS" else [], "duration_s": 1.0, "reported_by": i,
            "reported_at": 0.0, "run": "n"}


def _file(tmp_path, pairs, hosts=("a", "b", "c"), **stored) -> str:
    d = {"schema": "rdmacheck.fleet/1", "run": "r", "pairing": "all", "hosts": list(hosts), "finished": True,
         "healthy": True, "host_lines": [f"{h} | Healthy" for h in hosts], "bad_hosts": {}, "pairs": pairs, **stored}
    path = tmp_path / "fleet.json"
    path.write_text(json.dumps(d))
    return str(path)


def test_a_file_that_says_healthy_over_a_data_plane_failure_is_judged_again(tmp_path):
    f = _file(tmp_path, [_pair("a", "b"), _pair("b", "c"), _pair("a", "c", "FAIL", "deadline")])
    r = rdmacheck("report", f)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "bad link: a <-> c" in r.stdout and "a | Healthy (bad link to c)" in r.stdout


def test_a_healthy_fleet_file_prints_its_host_lines_and_exits_0_without_html(tmp_path):
    f = _file(tmp_path, [_pair("a", "b"), _pair("b", "c"), _pair("a", "c")])
    r = rdmacheck("report", f)
    assert r.returncode == 0, r.stdout + r.stderr
    assert [x for x in r.stdout.splitlines() if " | " in x and "Healthy" in x] == \
        ["a | Healthy", "b | Healthy", "c | Healthy"]


def test_a_host_the_file_never_paired_is_untested(tmp_path):
    r = rdmacheck("report", _file(tmp_path, [_pair("a", "b")]), "--html", str(tmp_path / "p.html"))
    assert r.returncode == 1 and "c | ERROR untested" in r.stdout and (tmp_path / "p.html").exists()


@pytest.mark.parametrize("field, value", [("finding", ["x"]), ("reconnect_ms", [float("inf")]), ("verdict", "OK"),
                                          ("target", "a/b"), ("duration_s", "x")])
def test_a_pair_that_fails_the_schema_is_one_line_naming_the_field_and_exit_2(tmp_path, field, value):
    bad = _pair("a", "b") | {field: value}
    path = _file(tmp_path, [bad])
    text = open(path).read().replace("Infinity", "1e999")  # JSON has no infinity: a huge number is one
    open(path, "w").write(text)
    r = rdmacheck("report", path)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert f"$.pairs[0].{field}" in r.stderr, r.stderr


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=10), kids, max_size=6),
                    max_leaves=20)
FIELDS = {"round": st.integers(), "target": st.text(max_size=8), "initiator": st.text(max_size=8),
          "verdict": st.sampled_from(["PASS", "FAIL", "pass", ""]), "reconnect_ms": JSON, "duration_s": JSON,
          "reported_by": JSON, "plane": JSON, "run": JSON, "finding": JSON, "schema": JSON, "hosts": JSON,
          "pairs": JSON, "finished": JSON, "addr": JSON, "reason": JSON, "pid": JSON, "index": JSON,
          "settings": JSON, "shards": JSON, "addresses": JSON}


@settings(max_examples=300, deadline=None)
@given(value=JSON | st.fixed_dictionaries({}, optional=FIELDS))
def test_every_decoder_takes_arbitrary_json_to_a_value_or_a_boundary_error(value):
    for schema in (ResultValue, AgentValue, ReadyValue, EndValue, FleetFile, RoundValue, ShardValue):
        try:
            decode(value, schema, "k")
        except BoundaryError as e:
            assert str(e).startswith("k: ")
    out, why = proto.accept_result(0, Pair("a", "b"), value)
    assert (out is None) == bool(why)
    for shard in (None, value):
        try:  # what an agent does with a round key and a shard: a plan, or a ValueError it skips
            proto.RoundPlan.from_dict(value, shard)
        except ValueError:
            pass


@pytest.mark.parametrize("value", [{"host": "h9", "device": "d", "provider": "p", "address": "a", "version": "v",
                                    "pid": 1}, {"host": "h1"}, [1, 2], {"host": "h1", "device": ["x"], "provider": "p",
                                                                       "address": "a", "version": "v", "pid": 1}])
def test_a_registration_that_fails_its_schema_or_names_another_host_is_no_agent(value):
    from rdmacheck.fleet.coordinator import Coordinator

    said = []
    c = Coordinator.__new__(Coordinator)
    c.ignored, c.say = set(), said.append
    assert c._registration("h1", value) is None and "fleet/host/h1/agent" in said[0]
    good = {"host": "h1", "device": "fsiw1", "provider": "siw", "address": "10.0.0.1", "version": "0.1", "pid": 7}
    assert c._registration("h1", good)["address"] == "10.0.0.1"


def test_the_shipped_lab_fleet_file_of_the_readme_tour_reports_healthy():
    """tests/host/data/fleet-lab.json: a real 4-host lab fleet (benchmarks/fleet_lab.py --hosts 4), as the README's
    tour shows it: judged again from its pairs, four Healthy lines, exit 0."""
    r = rdmacheck("report", "tests/host/data/fleet-lab.json")
    assert r.returncode == 0, r.stdout + r.stderr
    assert [x for x in r.stdout.splitlines() if x.startswith("host")][-4:] == [f"host{k} | Healthy" for k in range(1, 5)]
