"""`fleet run` with no --metadata: it starts its own etcd on --etcd-listen, says the exact line each host's agent
runs, coordinates the agents that join it (simulated here: the real agent loop, RDMA replaced by a wait), and
stops its etcd at the end."""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys

from rdmacheck.fleet.simulate import SimFaults, start_sim_agents
from rdmacheck.metadata.etcd import EtcdConfig, EtcdStore, parse_metadata_url
from rdmacheck.metadata.local_etcd import free_port
from tests.conftest import ROOT


def test_fleet_run_starts_its_own_etcd_says_the_agent_line_and_stops_it(tmp_path):
    port = free_port()
    out = tmp_path / "fleet.json"
    p = subprocess.Popen([sys.executable, "-m", "rdmacheck", "fleet", "run", "--hosts", "h1,h2,h3", "--etcd-listen",
                          f"127.0.0.1:{port}", "--json", str(out), "--join-timeout", "30", "--lease-ttl", "2"],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = p.stderr.readline()
        m = re.search(r"on each host run: (rdmacheck fleet agent -d auto --metadata (etcd://\S+) --lease-ttl 2)$",
                      first.strip())
        assert m and m.group(2) == f"etcd://127.0.0.1:{port}", first
        cfg = EtcdConfig(parse_metadata_url(m.group(2)), cluster="fleet", ttl=2)  # what the line's agent uses
        agents, threads = start_sim_agents(EtcdStore.connect(cfg), ["h1", "h2", "h3"], [0.05], SimFaults(), poll=0.1)
        _, rest = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    for t in threads:
        t.join(10)
    res = json.loads(out.read_text())
    assert p.returncode == 0 and res["healthy"] and len(res["pairs"]) == 3, first + rest
    with socket.socket() as s:  # its etcd is gone with it
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_the_embedded_etcd_outlives_every_agents_reading_of_the_end(tmp_path):
    """Its etcd stops only once the agents have left (each after reading the run's end): every agent exits 0,
    none is cut off by its etcd going away first (a lab run saw one agent not exit 0 before this)."""
    port = free_port()
    p = subprocess.Popen([sys.executable, "-m", "rdmacheck", "fleet", "run", "--hosts", "h1,h2", "--etcd-listen",
                          f"127.0.0.1:{port}", "--json", str(tmp_path / "f.json"), "--join-timeout", "30",
                          "--lease-ttl", "2"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        p.stderr.readline()
        cfg = EtcdConfig(parse_metadata_url(f"etcd://127.0.0.1:{port}"), cluster="fleet", ttl=2)
        agents, threads = start_sim_agents(EtcdStore.connect(cfg), ["h1", "h2"], [0.05], SimFaults(), poll=0.1)
        for t in threads:
            t.join(60)  # they leave on the run's end, before the coordinator stops its etcd
        p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0 and [a.exit_code for a in agents] == [0, 0]
