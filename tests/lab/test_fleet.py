"""Fleet mode for real, in the lab: N hosts as network namespaces (rdmacheck lab hosts), an agent in
each (soft-iWARP across namespaces, rdma_cm), the coordinator and etcd in the initial namespace.
Every pair connects siw-to-siw between two namespaces, is verified by its target in its own memory,
has its initiator SIGKILLed and restarted, and is verified again."""
import json
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rdmacheck.lab.hosts import blackhole, create, set_link, slow_path, slow_wire
from tests.conftest import IN_LAB, ROOT
from tests.procs import alive, descendants, parent

N = 4
TTL = 3


@pytest.fixture(scope="module")
def fleet_hosts():
    if not IN_LAB:
        pytest.skip("needs the lab guest (root, siw): run with `rdmacheck lab run -- pytest tests/lab`")
    return create(N)


@pytest.fixture
def fleet(fleet_hosts, tmp_path):
    from rdmacheck.fleet.labfleet import LabFleet

    with LabFleet.up(fleet_hosts, tmp_path / "logs", lease_ttl=TTL, join_timeout=60) as f:
        yield f


def _coordinator(fleet, run: str, tmp_path: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(fleet.run_argv(run, "--pair-timeout", "40", "--json", str(tmp_path / "fleet.json"),
                                           "--junit", str(tmp_path / "fleet.xml"), "--prom", str(tmp_path / "fleet.prom"),
                                           *extra),
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(coord, fleet, timeout=400):
    try:
        out, errs = coord.communicate(timeout=timeout)
    finally:
        fleet.stop_agents()
    return coord.returncode, out, errs


def test_four_hosts_all_pairs_every_pair_verified_after_a_restart(fleet, tmp_path):
    logs = fleet.logs
    agents = fleet.start_agents("all4")
    rc, out, errs = _finish(_coordinator(fleet, "all4", tmp_path), fleet)
    res = json.loads((tmp_path / "fleet.json").read_text())
    assert rc == 0 and res["healthy"], out + errs[-3000:]
    pairs = res["pairs"]
    assert len(pairs) == 6 and len(res["rounds"]) == 3
    for p in pairs:
        assert p["verdict"] == "PASS" and p["mode"] == "cm" and p["strategy"] == "recreate", p
        assert len(p["reconnect_ms"]) == 1 and p["reconnect_ms"][0] > 0, p
    assert res["host_lines"] == [f"host{k} | Healthy" for k in range(1, N + 1)]  # no link flagged slow either
    assert all(p["link"]["read_lat_us_p50"] > 0 and p["link"]["write_MBps"] > 0 and p["link"]["read_MBps"] > 0
               for p in pairs), pairs  # each pair measured its link on the QP it had just verified
    assert res["slowness"]["measured"] == 6 and not res["slowness"]["slow_hosts"] and not res["slowness"]["slow_links"]
    assert sorted(res["joined"]) == sorted(res["agents"]) and all(0 < a["start_s"] < 120 for a in res["agents"].values())
    assert "rdmacheck_fleet_pair_pass{" in (tmp_path / "fleet.prom").read_text()
    assert all(code == 0 for code in (p.returncode for p in agents.values()))
    # Every target learned its pair was over from its own role (both checks answered, then the
    # initiator's disconnect), never by waiting for the coordinator's next round.
    said = "".join((logs / f"host{k}.agent.log").read_text() for k in range(1, N + 1))
    assert said.count("over for the target: served (2 of 2 checks answered; then the initiator disconnected)") == 6, said
    assert "stopped waiting for the pair" not in said, said


@pytest.mark.parametrize("victim", [f"host{k}" for k in range(1, N + 1)])
def test_an_agent_killed_in_round_0_is_the_only_bad_host_and_no_link_is_blamed(fleet, tmp_path, victim):
    """Each host's agent in turn is SIGKILLed while round 0 runs (a role of its running): whether it
    was a target or an initiator there, it is the only bad host (host-down within its lease), no
    link is named, and every pair of the survivors passes."""
    run = f"kill-{victim}"
    agents = fleet.start_agents(run)
    coord = _coordinator(fleet, run, tmp_path, "--retest-rounds", "0")
    # Once the coordinator has its agents (read from its output, not from etcd here: grpc in this
    # process would stop later tests from forking roles), and the victim's agent runs a role of round 0.
    deadline = time.monotonic() + 200
    seen = []
    while time.monotonic() < deadline:
        line = coord.stderr.readline()
        seen.append(line)
        if not line or "agent(s):" in line:
            break
    assert any("agent(s):" in x for x in seen), "".join(seen)
    deadline = time.monotonic() + 60
    while len(descendants(agents[victim].pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    left = descendants(agents[victim].pid)
    assert len(left) >= 2, f"{victim}'s agent had no role running within 60 s (descendants {left})"
    killed_at = time.monotonic()
    killed_wall = time.time()
    agents[victim].send_signal(signal.SIGKILL)
    rc, out, errs = _finish(coord, fleet)
    assert not [p for p in left if alive(p)], "the killed agent's fork server or roles outlived it"
    res = json.loads((tmp_path / "fleet.json").read_text())
    assert rc == 1 and victim in res["host_down"], out + errs[-2000:]
    assert list(res["bad_hosts"]) == [victim] and res["bad_hosts"][victim].startswith("host-down"), res
    assert res["bad_links"] == [] and res["undecided"] == [], (res["bad_links"], res["undecided"], res["host_lines"])
    named_after = res["started"] + res["host_down"][victim] - killed_wall
    assert 0 < named_after <= TTL + 2, f"named a host down {named_after:.1f} s after the kill (lease TTL {TTL} s)"
    survivors = [h for h in (f"host{k}" for k in range(1, N + 1)) if h != victim]
    final = {frozenset((p["target"], p["initiator"])): p for p in res["pairs"]}
    others = [p for pair, p in final.items() if victim not in pair]
    assert len(others) == 3 and all(p["verdict"] == "PASS" for p in others), others
    assert [line for line in res["host_lines"] if not line.startswith(victim)] == [f"{h} | Healthy" for h in survivors]
    assert time.monotonic() - killed_at < 400


def test_a_target_role_that_dies_mid_pair_is_its_hosts_failure_and_no_link_is_blamed(fleet, tmp_path):
    """Round 0's first target role is SIGKILLed (as a crash would end it) once it listens: its agent sees
    the role exit before the pair was over and says so, so the pair is `target-failed` on the control
    plane, never a link's failure - its initiator saw only the target vanish, which alone reads as a
    broken path."""
    from rdmacheck.fleet.schedule import Schedule

    first = next(iter(Schedule("all", tuple(f"host{k}" for k in range(1, N + 1))).rounds()))[0]
    logs = fleet.logs
    agents = fleet.start_agents("role-dies")
    coord = _coordinator(fleet, "role-dies", tmp_path, "--retest-rounds", "0", "--pair-timeout", "10")
    agent = agents[first.target].pid
    ready_log = logs / first.target / "round0" / "target.log"
    deadline = time.monotonic() + 200
    roles: list[int] = []
    while time.monotonic() < deadline and not roles:
        if ready_log.exists() and '"event":"ready"' in ready_log.read_text():
            roles = [p for p in descendants(agent) if parent(p) not in (agent, None)]  # below its fork server
        time.sleep(0.02)
    assert roles, f"{first.target}'s target role of round 0 never said it listens"
    for p in roles:
        subprocess.run(["kill", "-KILL", str(p)], check=False)
    rc, out, errs = _finish(coord, fleet)
    res = json.loads((tmp_path / "fleet.json").read_text())
    hit = next(p for p in res["pairs"] if p["round"] == 0 and (p["target"], p["initiator"]) == tuple(first))
    assert hit["verdict"] == "FAIL" and hit["finding"] == "target-failed" and hit["plane"] == "control", hit
    assert "before its pair was over" in hit["detail"], hit
    assert res["bad_links"] == [], (res["bad_links"], res["host_lines"])
    others = [p for p in res["pairs"] if p is not hit]
    assert len(others) == 5 and all(p["verdict"] == "PASS" for p in others), others
    said = (logs / f"{first.target}.agent.log").read_text()
    assert "over for the target: the target role exited with status" in said, said


def test_a_host_whose_wire_is_down_is_the_bad_host_and_one_broken_path_is_a_bad_link(fleet, tmp_path):
    h = {x.name: x for x in fleet.hosts}
    fleet.start_agents("faults")
    time.sleep(8)  # the agents register (etcd over their own wires) before the faults go in
    set_link(h["host2"], up=False)
    blackhole(h["host1"], h["host4"])
    try:
        rc, out, errs = _finish(_coordinator(fleet, "faults", tmp_path, "--pair-timeout", "15",
                                             "--start-timeout", "20"), fleet, timeout=600)
    finally:
        set_link(h["host2"], up=True)
        blackhole(h["host1"], h["host4"], on=False)
    assert (tmp_path / "fleet.json").exists(), f"rc {rc}: {out[-2000:]} {errs[-3000:]}"
    res = json.loads((tmp_path / "fleet.json").read_text())
    assert rc == 1, out
    assert list(res["bad_hosts"]) == ["host2"], (res["bad_hosts"], res["host_lines"], out)
    assert [sorted(x) for x in res["bad_links"]] == [["host1", "host4"]], (res["bad_links"], res["host_lines"])
    assert "host3 | Healthy" in res["host_lines"]


def test_a_slow_host_and_a_slow_path_are_each_named_for_what_they_are_and_nothing_else(fleet_hosts, tmp_path):
    """Six hosts, every pair verified and then measured on its QP: netem delays host2's wire both ways (a slow
    host) and what host1 sends to host4 only (a slow path). host2 is the slow host, host1 <-> host4 the slow
    link; every other host is Healthy, nothing else flagged, no pair fails."""
    from rdmacheck.fleet.labfleet import LabFleet

    six = create(6)
    h = {x.name: x for x in six}
    with LabFleet.up(six, tmp_path / "logs", lease_ttl=TTL, join_timeout=60) as f:
        slow_wire(h["host2"], 5.0)
        slow_path(h["host1"], h["host4"], 10.0)
        try:
            f.start_agents("slow")
            rc, out, errs = _finish(_coordinator(f, "slow", tmp_path), f)
        finally:
            slow_wire(h["host2"], 0, on=False)
            slow_path(h["host1"], h["host4"], 0, on=False)
    res = json.loads((tmp_path / "fleet.json").read_text())
    slow = res["slowness"]
    print(json.dumps({"slowness": slow, "links": {f"{p['target']}-{p['initiator']}": p["link"] for p in res["pairs"]}}))
    assert rc == 1 and all(p["verdict"] == "PASS" and p["link"] for p in res["pairs"]), out + errs[-2000:]
    assert list(slow["slow_hosts"]) == ["host2"], (slow, out)
    assert [sorted(x[:2]) for x in slow["slow_links"]] == [["host1", "host4"]] and not slow["undecided"], (slow, out)
    assert res["host_lines"][1].startswith("host2 | ERROR slow-host"), res["host_lines"]
    assert [x for x in res["host_lines"] if not x.startswith("host2 ")] == [
        "host1 | Healthy (slow link to host4)", "host3 | Healthy", "host4 | Healthy (slow link to host1)",
        "host5 | Healthy", "host6 | Healthy"], res["host_lines"]
    prom = (tmp_path / "fleet.prom").read_text()
    assert prom.count("rdmacheck_fleet_link_read_latency_us{") == 15 and "rdmacheck_fleet_link_slow{" in prom
    print(out)


def test_a_path_down_at_its_test_and_back_for_its_retest_is_a_flaky_link_not_a_bad_one(fleet, tmp_path):
    """host1 -> host3 blackholed until the run's results file shows that pair failed, then restored: its retest
    (the same pair again) passes. A flaky link with both outcomes in its line; nothing else flagged."""
    h = {x.name: x for x in fleet.hosts}
    out = tmp_path / "fleet.json"
    blackhole(h["host1"], h["host3"])
    restored = False
    try:
        fleet.start_agents("flap")
        coord = _coordinator(fleet, "flap", tmp_path, "--pair-timeout", "15", "--start-timeout", "20")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and coord.poll() is None:  # the event: the pair's FAIL in the file
            pairs = json.loads(out.read_text())["pairs"] if out.exists() else []
            if any({p["target"], p["initiator"]} == {"host1", "host3"} and p["verdict"] == "FAIL" for p in pairs):
                blackhole(h["host1"], h["host3"], on=False)
                restored = True
                break
            time.sleep(0.5)
        rc, stdout, errs = _finish(coord, fleet)
    finally:
        if not restored:
            blackhole(h["host1"], h["host3"], on=False)
    assert restored, "the pair host1 <-> host3 never failed while its path was down"
    res = json.loads(out.read_text())
    assert rc == 1 and [sorted(x[:2]) for x in res["flaky_links"]] == [["host1", "host3"]], stdout + errs[-2000:]
    seen = res["flaky_links"][0][2]
    assert "FAIL" in seen and "PASS" in seen, seen
    assert not res["bad_links"] and not res["bad_hosts"] and not res["slowness"]["slow_links"], res
    assert res["host_lines"][0].startswith("host1 | ERROR flaky link to host3 (round ")
    assert res["host_lines"][1] == "host2 | Healthy" and res["host_lines"][3] == "host4 | Healthy"
    print(stdout)


def test_under_real_slurm_srun_starts_one_agent_per_host_and_every_pair_passes(fleet, tmp_path):
    fleet.join_timeout = 90
    with fleet.slurm() as env:
        r = subprocess.run(fleet.run_argv("slurm", "--json", str(tmp_path / "fleet.json"), slurm=True),
                           cwd=ROOT, capture_output=True, text=True, timeout=500, env=env)
    assert (tmp_path / "fleet.json").exists(), r.stdout + r.stderr[-3000:]
    res = json.loads((tmp_path / "fleet.json").read_text())
    assert r.returncode == 0 and res["healthy"], r.stdout + r.stderr[-3000:]
    assert sorted(res["agents"]) == [f"host{k}" for k in range(1, N + 1)], "one agent per Slurm node, by its name"
    assert {a["device"] for a in res["agents"].values()} == {f"fsiw{k}" for k in range(1, N + 1)}
    assert len(res["pairs"]) == 6 and all(p["verdict"] == "PASS" for p in res["pairs"])


def _first_section_commands() -> list[str]:
    """The commands of docs/fleet.md's first section, in order, as a reader copies them."""
    page = (ROOT / "docs" / "fleet.md").read_text()
    section = page.split("\n## ")[1]
    assert section.startswith("A fleet check on your own hosts"), section[:60]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip().startswith("rdmacheck ")]


def test_the_fleet_pages_three_steps_as_written_on_three_lab_hosts(fleet_hosts, tmp_path):
    """docs/fleet.md's first section to the letter on lab hosts 1-3: each agent line run in its host's namespace
    with the hostname the page relies on (its own UTS namespace), the coordinator line with COORDINATOR the
    address every host reaches; the embedded etcd, no other."""
    agent_line, run_line = _first_section_commands()
    coordinator = fleet_hosts[0].gateway
    names = {f"node{k}": h.name for k, h in enumerate(fleet_hosts[:3], 1)}

    def argv(line: str) -> list[str]:
        line = line.replace("COORDINATOR", coordinator)
        for node, host in names.items():
            line = line.replace(node, host)
        return [sys.executable, "-m", *shlex.split(line)]

    agents = []
    for h in fleet_hosts[:3]:
        inner = " ".join(shlex.quote(w) for w in argv(agent_line))
        agents.append(subprocess.Popen(h.ns("unshare", "--uts", "sh", "-c", f"hostname {h.name} && exec {inner}"),
                                       cwd=ROOT, stdout=subprocess.DEVNULL,
                                       stderr=(tmp_path / f"{h.name}.agent.log").open("w")))
    try:
        r = subprocess.run(argv(run_line) + ["--json", str(tmp_path / "fleet.json")], cwd=ROOT, capture_output=True,
                           text=True, timeout=400)
    finally:
        for a in agents:
            try:
                a.wait(timeout=30)
            except subprocess.TimeoutExpired:
                a.kill()
    said = r.stderr.splitlines()
    assert said and said[0].startswith(f"fleet: etcd for this run at {coordinator}:2379"), r.stderr[-2000:]
    res = json.loads((tmp_path / "fleet.json").read_text())
    assert r.returncode == 0 and res["healthy"], r.stdout[-2000:] + r.stderr[-2000:]
    assert res["host_lines"] == [f"{h.name} | Healthy" for h in fleet_hosts[:3]] and len(res["pairs"]) == 3
    assert all(a.returncode == 0 for a in agents)
