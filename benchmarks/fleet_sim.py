"""Fleet control plane at scale, by simulation: the real coordinator against N simulated agents (the
real agent's etcd protocol and loop, fleet/simulate.py; the RDMA pair test replaced by a wait drawn
from per-pair times measured in the lab) over one real etcd. THIS IS A CONTROL-PLANE SIMULATION: it
measures the coordinator and etcd, never RDMA.

Reports per agent count: the coordinator's overhead per round (round wall time minus the slowest
pair's simulated test), etcd requests per round (coordinator and agents), and the projected wall time
of each pairing for 1,024 and 4,096 hosts (rounds x (median pair time + overhead per round)).

  .venv/bin/python benchmarks/fleet_sim.py [--agents 256 1024] [--rounds 3] [--pair-times results/fleet.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rdmacheck.fleet.schedule import Schedule  # noqa: E402
from rdmacheck.fleet.simulate import SimFaults, start_sim_agents  # noqa: E402
from rdmacheck.metadata.etcd import EtcdConfig, EtcdStore, parse_metadata_url  # noqa: E402
from rdmacheck.metadata.local_etcd import EtcdServer  # noqa: E402


def pair_times(path: Path | None, fallback: list[float]) -> tuple[list[float], str]:
    if path and path.exists():
        doc = json.loads(path.read_text())
        got = [p["duration_s"] for p in doc["pairs"] if p["verdict"] == "PASS"]
        if got:
            return got, f"{len(got)} pair tests of {path} (lab)"
    return fallback, "the lab figures built in (see README)"


def run(n: int, rounds: int, times: list[float], poll: float) -> dict:
    """The coordinator as its own process (the real `rdmacheck fleet run`), the simulated agents as
    threads of this one: the coordinator's CPU time per round is its own cost; its round wall time
    minus the slowest pair also carries this harness's lag (hundreds of agent threads on 2 cores)."""
    with tempfile.TemporaryDirectory() as d:
        server = EtcdServer(Path(d) / "data").start()
        try:
            cfg = EtcdConfig(parse_metadata_url(server.url), cluster=f"sim{n}", ttl=60, timeout=30)
            shared = EtcdStore.connect(cfg)
            hosts = [f"n{i:04d}" for i in range(n)]
            out = Path(tempfile.gettempdir()) / f"rdmacheck-fleet-sim-{n}.json"  # kept: the run in full
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            coord = subprocess.Popen([sys.executable, "-m", "rdmacheck", "fleet", "run", "--expect", str(n),
                                      "--pairing", f"random:{rounds}", "--metadata", server.url, "--cluster", cfg.cluster,
                                      "--lease-ttl", "60", "--etcd-timeout", "30", "--start-timeout", "60",
                                      "--pair-timeout", "60", "--retest-rounds", "0", "--join-timeout", "300",
                                      "--json", str(out)], cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
            agents, threads = start_sim_agents(shared, hosts, times, SimFaults(), poll=poll)
            t0 = time.monotonic()
            coord.wait(timeout=3600)
            wall = time.monotonic() - t0
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            for t in threads:
                t.join(60)
            agent_requests = sum(a.store.requests for a in agents)
            shared.close()
        finally:
            server.remove()
        res = json.loads(out.read_text())
    rs = res["rounds"]
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"agents": n, "rounds": len(rs), "passed": sum(p["verdict"] == "PASS" for p in res["pairs"]),
            "pairs": len(res["pairs"]), "overhead_mean_s": statistics.mean(r["overhead_s"] for r in rs),
            "overhead_max_s": max(r["overhead_s"] for r in rs), "coordinator_cpu_s": cpu,
            "coordinator_requests_per_round": statistics.mean(r["etcd_requests"] for r in rs),
            "agent_requests_per_round": agent_requests / max(1, len(rs)), "wall_s": wall}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agents", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--poll", type=float, default=1.0)
    ap.add_argument("--pair-times", type=Path, default=None, help="a fleet results JSON from the lab")
    a = ap.parse_args()
    times, source = pair_times(a.pair_times, [6.0])
    median = statistics.median(times)
    print(f"CONTROL-PLANE SIMULATION (no RDMA): pair times from {source}, median {median:.2f} s; poll {a.poll:g} s")
    rows = [run(n, a.rounds, times, a.poll) for n in a.agents]
    for r in rows:
        print(f"{r['agents']:>5} agents: {r['rounds']} rounds, {r['passed']}/{r['pairs']} pairs; coordinator "
              f"CPU {r['coordinator_cpu_s'] / r['rounds']:.2f} s per round (its own cost); round wall minus the slowest "
              f"pair mean {r['overhead_mean_s']:.2f} s, max {r['overhead_max_s']:.2f} s (incl. this harness's lag); etcd requests "
              f"per round: coordinator {r['coordinator_requests_per_round']:.0f}, agents "
              f"{r['agent_requests_per_round']:.0f}; wall {r['wall_s']:.1f} s")
    overhead = rows[-1]["overhead_mean_s"]  # the pessimistic figure: harness lag included
    for hosts in (1024, 4096):
        names = tuple(f"h{i}" for i in range(hosts))
        for pairing in ("all", "ring", "bisection", "random:8"):
            n_rounds = Schedule(pairing, names).round_count()
            print(f"projected {pairing:>9} on {hosts} hosts: {n_rounds} rounds x ({median:.1f} s + {overhead:.2f} s) = "
                  f"{n_rounds * (median + overhead) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
