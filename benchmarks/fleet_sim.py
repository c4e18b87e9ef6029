"""Fleet control plane at scale, by simulation: the real coordinator against N simulated agents (the
real agent's etcd protocol and loop, fleet/simulate.py; the RDMA pair test replaced by a wait drawn
from per-pair times measured in the lab) over one real etcd. THIS IS A CONTROL-PLANE SIMULATION: it
measures the coordinator and etcd, never RDMA.

Reports per agent count: the coordinator's own latency (a round's last result in its hands -> the next
round published; and from that result's stamp by its agent, the harness's and etcd's lag included), the round's control overhead (round wall time minus the slowest pair's simulated test),
etcd requests per agent per round (agents follow the control keys and their shard of the pairs by
watches: one per harness process here, each agent's own in a real fleet; start-up requests apart), the
coordinator's and etcd's own CPU per round, and the
projected wall time of each pairing and what etcd must sustain at 1,000 and 10,000 hosts.

With --localize: one slow host and one slow link (a pair of the first round, apart from the slow host) among
the agents, `slow_by` times slower in made-up link numbers (fleet/simulate.sim_link; the real judge, the real
retest rounds): what the run named, after how many rounds, in what wall time, and the projection to 10,000.

  .venv/bin/python benchmarks/fleet_sim.py [--agents 256 1024] [--rounds 3] [--pair-times results/fleet.json]
  .venv/bin/python benchmarks/fleet_sim.py --localize --agents 1024 --rounds 1
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LEASE_TTL = 3  # `--lease-ttl`'s default: each lease is refreshed every TTL/3
SAFETY_S = 10.0  # an agent's re-read of its control keys (AgentConfig.safety)
sys.path.insert(0, str(ROOT))

from rdmacheck.fleet.schedule import Pair, Schedule  # noqa: E402
from rdmacheck.fleet.simulate import SimFaults, start_sim_agents  # noqa: E402
from rdmacheck.metadata.etcd import EtcdConfig, EtcdStore, parse_metadata_url  # noqa: E402
from rdmacheck.metadata.local_etcd import EtcdServer  # noqa: E402


def pair_times(path: Path | None, fallback: list[float]) -> tuple[list[float], str]:
    if path and path.exists():
        doc = json.loads(path.read_text())
        got = [p["duration_s"] for p in doc["pairs"] if p["verdict"] == "PASS"]
        if got:
            return got, f"{len(got)} pair tests of {path} (lab)"
    return fallback, "the lab figures built in (see docs/performance.md)"


def worker(url: str, cluster: str, hosts: list[str], times: list[float], poll: float, faults: SimFaults) -> int:
    """One harness process: its slice of the simulated agents as threads; prints their etcd requests."""
    cfg = EtcdConfig(parse_metadata_url(url), cluster=cluster, ttl=60, timeout=30)
    shared = EtcdStore.connect(cfg)
    agents, threads = start_sim_agents(shared, hosts, times, faults, poll=poll)
    for t in threads:
        t.join(3600)
    control = agents[0].control.store.requests if agents and agents[0].control else 0  # the shared watch's
    ru = resource.getrusage(resource.RUSAGE_SELF)
    print(json.dumps({"requests": sum(a.store.requests for a in agents) + control,
                      "start_requests": sum(a.start_requests or 0 for a in agents) + control,
                      "exits": sorted({str(a.exit_code) for a in agents}), "cpu_s": ru.ru_utime + ru.ru_stime}))
    shared.close()
    return 0


@dataclass(frozen=True)
class Slow:
    """--localize: the injected slow host and slow link, and the retest rounds the coordinator may use."""
    host: str
    link: Pair
    retest_rounds: int

    @classmethod
    def pick(cls, hosts: list[str], rounds: int, retest_rounds: int) -> "Slow":
        """The slow link from the first round the coordinator will play (its schedule: sorted hosts, seed 0),
        so that it is tested; the slow host in none of the first round's pairs with it."""
        first = next(Schedule(f"random:{rounds}", tuple(sorted(hosts))).rounds())
        link = first[len(first) // 2]
        host = next(h for p in first[1:] if not set(p) & set(link) for h in p)
        return cls(host, link, retest_rounds)

    def args(self) -> list[str]:
        return ["--slow-host", self.host, "--slow-link", ",".join(self.link), "--retest-rounds",
                str(self.retest_rounds)]


def run(n: int, rounds: int, times: list[float], poll: float, procs: int, pair_times_arg: Path | None,
        profile_to: Path | None = None, slow: Slow | None = None) -> dict:
    """The coordinator as its own process (the real `rdmacheck fleet run`), the simulated agents as
    threads of `procs` harness processes: the coordinator's CPU time per round is its own cost; its
    round wall time minus the slowest pair also carries the harness's lag (hundreds of agent threads
    on this machine's cores), while the time from a round's last result to the next round's
    publication is the coordinator's alone."""
    with tempfile.TemporaryDirectory() as d:
        server = EtcdServer(Path(d) / "data").start()
        try:
            cluster = f"sim{n}"
            hosts = [f"n{i:04d}" for i in range(n)]
            out = Path(tempfile.gettempdir()) / f"rdmacheck-fleet-sim-{n}.json"  # kept: the run in full
            profile = ["-m", "cProfile", "-o", str(profile_to)] if profile_to else []
            coord = subprocess.Popen([sys.executable, *profile, "-m", "rdmacheck", "fleet", "run", "--expect", str(n),
                                      "--pairing", f"random:{rounds}", "--metadata", server.url, "--cluster", cluster,
                                      "--lease-ttl", "60", "--etcd-timeout", "30", "--start-timeout", "60",
                                      "--pair-timeout", "60", "--retest-rounds", str(slow.retest_rounds if slow else 0),
                                      "--join-timeout", "300",
                                      "--json", str(out)], cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
            me = [sys.executable, str(Path(__file__).resolve()), "--poll", str(poll)]
            if pair_times_arg:
                me += ["--pair-times", str(pair_times_arg)]
            if slow:
                me += slow.args()
            workers = [subprocess.Popen([*me, "--worker", server.url, cluster, ",".join(hosts[k::procs])],
                                        cwd=ROOT, stdout=subprocess.PIPE, text=True) for k in range(procs)]
            t0 = time.monotonic()
            etcd0 = _cpu_of(server.proc.pid)
            cpu = _wait_cpu_seconds(coord, 3600)
            etcd_cpu = _cpu_of(server.proc.pid) - etcd0
            wall = time.monotonic() - t0
            reports = [json.loads(w.communicate(timeout=120)[0].strip().splitlines()[-1]) for w in workers]
        finally:
            server.remove()
        res = json.loads(out.read_text())
    rs = res["rounds"]
    last_in = {}
    for p in res["pairs"]:
        last_in[p["round"]] = max(last_in.get(p["round"], 0.0), p["reported_at"])
    coord_lag = [rs[i]["published_at"] - rs[i - 1]["closed_at"] for i in range(1, len(rs))]
    end_to_end = [rs[i]["published_at"] - last_in[i - 1] for i in range(1, len(rs))]
    return {"agents": n, "rounds": len(rs), "slowness": res.get("slowness") or {},
            "retest_rounds_played": sum(1 for r in rs if r.get("retest")), "passed": sum(p["verdict"] == "PASS" for p in res["pairs"]),
            "pairs": len(res["pairs"]), "overhead_mean_s": statistics.mean(r["overhead_s"] for r in rs),
            "overhead_max_s": max(r["overhead_s"] for r in rs), "coordinator_cpu_s": cpu,
            "coordinator_lag_mean_s": statistics.mean(coord_lag), "coordinator_lag_max_s": max(coord_lag),
            "end_to_end_mean_s": statistics.mean(end_to_end), "end_to_end_max_s": max(end_to_end),
            "result_lag_max_s": max(r.get("result_lag_s", 0.0) for r in rs),
            "coordinator_requests_per_round": statistics.mean(r["etcd_requests"] for r in rs),
            "agent_requests_per_round": sum(r["requests"] - r["start_requests"] for r in reports) / max(1, len(rs)),
            "agent_start_requests": sum(r["start_requests"] for r in reports), "wall_s": wall,
            "procs": procs, "etcd_cpu_s": etcd_cpu, "harness_cpu_s": sum(r["cpu_s"] for r in reports)}


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds of a live process (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _wait_cpu_seconds(proc: subprocess.Popen, timeout: float) -> float:
    """Reap proc (within timeout: then it is killed) and return its user + system CPU seconds."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return ru.ru_utime + ru.ru_stime
        if time.monotonic() >= deadline:
            proc.kill()
            raise TimeoutError(f"the coordinator did not finish within {timeout:g} s")
        time.sleep(0.2)


def localize(a, times: list[float], median: float) -> int:
    """One slow host and one slow link per fleet size: named or not, after how many rounds and how long."""
    ok = True
    for n in a.agents:
        hosts = [f"n{i:04d}" for i in range(n)]
        slow = Slow.pick(hosts, a.rounds, a.retest_rounds)
        r = run(n, a.rounds, times, a.poll, a.procs, a.pair_times, slow=slow)
        s = r["slowness"]
        named_hosts = set(s.get("slow_hosts") or {})
        named_links = {frozenset(x[:2]) for x in s.get("slow_links") or []}
        right = named_hosts == {slow.host} and named_links == {frozenset(slow.link)}
        ok &= right
        print(f"{n:,} agents, random:{a.rounds}, up to {a.retest_rounds} retest round(s): injected slow host "
              f"{slow.host} and slow link {'-'.join(slow.link)} ({SimFaults().slow_by:g}x); named: slow hosts "
              f"{sorted(named_hosts)}, slow links {sorted('-'.join(sorted(p)) for p in named_links)}, undecided "
              f"{sorted(s.get('undecided') or {})} -> {'both named, nothing else' if right else 'WRONG'}; "
              f"{r['rounds']} rounds ({r['retest_rounds_played']} retest), {r['passed']}/{r['pairs']} pairs passed, "
              f"{r['wall_s']:.1f} s wall (pair time median {median:.2f} s; round overhead "
              f"{r['overhead_mean_s']:.2f} s mean)", flush=True)
        slowest = (r["wall_s"] / max(1, r["rounds"])) - r["overhead_mean_s"]
        overhead = r["overhead_mean_s"] * 10_000 / n  # the control overhead grows with the agents (measured to 4,096)
        print(f"  projected to 10,000 hosts: the same {r['rounds']} rounds (neither random:{a.rounds} nor the retest "
              f"rounds grow with the fleet), each the slowest pair's ~{slowest:.1f} s plus the control overhead "
              f"scaled linearly from this {n:,}-agent run's {r['overhead_mean_s']:.2f} s: {r['rounds']} x ({slowest:.1f} s + "
              f"{overhead:.1f} s) = ~{r['rounds'] * (slowest + overhead):.0f} s", flush=True)
    return 0 if ok else 1


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--agents", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--poll", type=float, default=1.0)
    ap.add_argument("--procs", type=int, default=4, help="harness processes the simulated agents are spread over")
    ap.add_argument("--pair-times", type=Path, default=None, help="a fleet results JSON from the lab")
    ap.add_argument("--profile", type=Path, default=None,
                    help="the coordinator under cProfile: its statistics into FILE.<agents> (read with pstats)")
    ap.add_argument("--localize", action="store_true", help="inject one slow host and one slow link (see above)")
    ap.add_argument("--retest-rounds", type=int, default=2, help="with --localize: the coordinator's")
    ap.add_argument("--worker", nargs=3, metavar=("URL", "CLUSTER", "HOSTS"), help=argparse.SUPPRESS)
    ap.add_argument("--slow-host", help=argparse.SUPPRESS)
    ap.add_argument("--slow-link", help=argparse.SUPPRESS)
    a = ap.parse_args()
    times, source = pair_times(a.pair_times, [6.0])
    if a.worker:
        url, cluster, hosts = a.worker
        faults = SimFaults(measure=bool(a.slow_host), slow_hosts={a.slow_host} if a.slow_host else set(),
                           slow_links={frozenset(a.slow_link.split(","))} if a.slow_link else set())
        return worker(url, cluster, hosts.split(","), times, a.poll, faults)
    median = statistics.median(times)
    print(f"CONTROL-PLANE SIMULATION (no RDMA): pair times from {source}, median {median:.2f} s; poll {a.poll:g} s")
    if a.localize:
        return localize(a, times, median)
    rows = [run(n, a.rounds, times, a.poll, a.procs, a.pair_times,
                a.profile.with_suffix(f".{n}") if a.profile else None) for n in a.agents]
    # One row per figure, a column per fleet size, the goal beside it (docs/performance.md).
    figures = [
        ("pairs passed", lambda r: f"{r['passed']}/{r['pairs']}", "all"),
        ("etcd requests per agent per round", lambda r: f"{r['agent_requests_per_round'] / r['agents']:.2f}", "<= 1"),
        ("... once per agent, before its first pair", lambda r: f"{r['agent_start_requests'] / r['agents']:.2f}",
         "lease, key, watches"),
        ("coordinator etcd requests per round", lambda r: f"{r['coordinator_requests_per_round']:.0f}", "O(1)"),
        ("last result -> next round published, mean / max s",
         lambda r: f"{r['coordinator_lag_mean_s']:.2f} / {r['coordinator_lag_max_s']:.2f}", "< 1 s"),
        ("last result's stamp -> next round, mean / max s",
         lambda r: f"{r['end_to_end_mean_s']:.2f} / {r['end_to_end_max_s']:.2f}", "-"),
        ("round wall minus slowest pair, mean / max s",
         lambda r: f"{r['overhead_mean_s']:.2f} / {r['overhead_max_s']:.2f}", "< 2 s"),
        ("CPU per round: coordinator / etcd s",
         lambda r: f"{r['coordinator_cpu_s'] / r['rounds']:.2f} / {r['etcd_cpu_s'] / r['rounds']:.2f}", "-"),
        ("wall s (rounds)", lambda r: f"{r['wall_s']:.1f} ({r['rounds']})", "-"),
    ]
    width = max(len(f[0]) for f in figures)
    print(f"{'agents':<{width}} | " + " | ".join(f"{r['agents']:>13,}" for r in rows) + " | goal")
    for name, value, goal in figures:
        print(f"{name:<{width}} | " + " | ".join(f"{value(r):>13}" for r in rows) + f" | {goal}")
    overhead = min(r["overhead_mean_s"] for r in rows)  # the run this machine saturated least
    per_agent = rows[-1]["agent_requests_per_round"] / rows[-1]["agents"]  # measured, the largest run
    round_s = median + overhead
    print(f"projected: {per_agent:.2f} etcd requests per agent per round (the {rows[-1]['agents']}-agent run; each "
          f"agent's own control watch adds its 10 s re-read; its shard's watch has none), a round every {round_s:.1f} s "
          f"(the median pair time plus the least saturated run's overhead), lease keep-alive every "
          f"{LEASE_TTL / 3:g} s (--lease-ttl {LEASE_TTL})")
    print(f"| hosts | pairing | rounds | run | etcd requests/s: the rounds' / the {SAFETY_S:g} s re-reads / lease "
          f"keep-alives (TTL {LEASE_TTL} s) | watchers | leases |")
    print("|---|---|---|---|---|---|---|")
    for hosts in (1000, 10000):
        names = tuple(f"h{i}" for i in range(hosts))
        for pairing in ("ring", "random:8", "all"):
            n_rounds = Schedule(pairing, names).round_count()
            print(f"| {hosts:,} | {pairing} | {n_rounds:,} | {n_rounds * round_s / 60:,.1f} min | "
                  f"{hosts * per_agent / round_s:,.0f} / {hosts / SAFETY_S:,.0f} / {hosts / (LEASE_TTL / 3):,.0f} | "
                  f"{2 * hosts + 1:,} | {hosts + 1:,} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
