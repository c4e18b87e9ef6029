"""Benchmark (not a test): how long the fleet schedules take for large fleets (pure Python, host).

    .venv/bin/python benchmarks/fleet_schedule.py [--hosts 1024 4096]
Prints, per pairing and size: rounds, pairs, the time to the first round, and to all rounds."""
import argparse
import time

from rdmacheck.fleet.schedule import Schedule

ap = argparse.ArgumentParser()
ap.add_argument("--hosts", type=int, nargs="+", default=[1024, 4096])
for n in ap.parse_args().hosts:
    hosts = tuple(f"host{i}" for i in range(n))
    for pairing in ("all", "ring", "bisection", "random:16"):
        s = Schedule(pairing, hosts, seed=1)
        t0 = time.perf_counter()
        it = s.rounds()
        first = next(it)
        t1 = time.perf_counter()
        pairs = len(first) + sum(len(r) for r in it)
        t2 = time.perf_counter()
        print(f"{n} hosts, {pairing}: {s.round_count()} rounds, {pairs} pairs; first round "
              f"{(t1 - t0) * 1000:.2f} ms, all rounds {t2 - t0:.2f} s")
