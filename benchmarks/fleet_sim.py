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
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rdmacheck.fleet.coordinator import Coordinator, FleetPlan  # noqa: E402
from rdmacheck.fleet.protocol import PairSettings  # noqa: E402
from rdmacheck.fleet.schedule import Schedule  # noqa: E402
from rdmacheck.fleet.simulate import SimFaults, start_sim_agents  # noqa: E402
from rdmacheck.fleet.store import FleetStore  # noqa: E402
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
    with tempfile.TemporaryDirectory() as d:
        server = EtcdServer(Path(d) / "data").start()
        try:
            cfg = EtcdConfig(parse_metadata_url(server.url), cluster=f"sim{n}", ttl=15, timeout=10)
            shared = EtcdStore.connect(cfg)
            hosts = [f"n{i:04d}" for i in range(n)]
            agents, threads = start_sim_agents(shared, hosts, times, SimFaults(), poll=poll)
            store = FleetStore(EtcdStore.connect(cfg))
            plan = FleetPlan(expect=n, pairing=f"random:{rounds}", settings=PairSettings(start_timeout=60,
                             round_timeout=60), join_timeout=120, retest_rounds=0, poll=poll)
            t0 = time.monotonic()
            res = Coordinator(plan, store, say=lambda s: None).run()
            wall = time.monotonic() - t0
            for t in threads:
                t.join(30)
            agent_requests = sum(a.store.requests for a in agents)
            store.close()
            shared.close()
        finally:
            server.stop()
    per_round = [r.overhead_s for r in res.rounds]
    return {"agents": n, "rounds": len(res.rounds), "passed": sum(p.verdict == "PASS" for p in res.pairs),
            "pairs": len(res.pairs), "overhead_mean_s": statistics.mean(per_round), "overhead_max_s": max(per_round),
            "coordinator_requests_per_round": statistics.mean(r.etcd_requests for r in res.rounds),
            "agent_requests_per_round": agent_requests / max(1, len(res.rounds)), "wall_s": wall}


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
              f"overhead per round mean {r['overhead_mean_s']:.2f} s, max {r['overhead_max_s']:.2f} s; etcd requests "
              f"per round: coordinator {r['coordinator_requests_per_round']:.0f}, agents "
              f"{r['agent_requests_per_round']:.0f}; wall {r['wall_s']:.1f} s")
    overhead = rows[-1]["overhead_mean_s"]
    for hosts in (1024, 4096):
        names = tuple(f"h{i}" for i in range(hosts))
        for pairing in ("all", "ring", "bisection", "random:8"):
            n_rounds = Schedule(pairing, names).round_count()
            print(f"projected {pairing:>9} on {hosts} hosts: {n_rounds} rounds x ({median:.1f} s + {overhead:.2f} s) = "
                  f"{n_rounds * (median + overhead) / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
