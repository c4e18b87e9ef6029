"""Benchmark (not a test): the stateful fuzz of the fleet (rdmacheck/fleet/fuzz.py) over a real local etcd,
N seeded scenarios (default 500) of simulated agents that fail with everyone, break links, die, freeze, lie,
with etcd paused mid-run; prints each scenario that broke an invariant and the count of breaks (goal: 0).

    .venv/bin/python benchmarks/fleet_fuzz.py [--scenarios 500] [--first 0]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from rdmacheck.fleet.fuzz import run_many  # noqa: E402
from rdmacheck.metadata.local_etcd import EtcdServer  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", type=int, default=500)
    ap.add_argument("--first", type=int, default=0, help="the first seed")
    a = ap.parse_args()
    kinds: Counter[str] = Counter()
    took: list[float] = []

    def said(sc, breaks, seconds):
        took.append(seconds)
        f = sc.faults
        kinds.update(k for k, on in (("bad host", f.bad_hosts), ("bad link", f.bad_links), ("dies", f.die_in_round),
                                     ("freezes", f.freeze_in_round), ("lies", f.lie_in_round), ("etcd paused", sc.pause))
                     if on)
        if breaks:
            print(f"BROKE {sc.describe()}\n  " + "\n  ".join(breaks[:5]), flush=True)

    server = EtcdServer(Path(tempfile.mkdtemp(prefix="fleet-fuzz-")) / "data").start()
    t0 = time.monotonic()
    try:
        broke = run_many(range(a.first, a.first + a.scenarios), server.url, server.proc.pid, said)
    finally:
        server.remove()
    wall = time.monotonic() - t0
    breaks = sum(len(b) for b in broke.values())
    print(f"{a.scenarios} scenarios (seeds {a.first}..{a.first + a.scenarios - 1}) in {wall:.0f} s "
          f"({min(took):.1f}-{max(took):.1f} s each); with: " + ", ".join(f"{k} {n}" for k, n in kinds.most_common()))
    print(f"invariant breaks: {breaks} in {len(broke)} scenario(s) (goal 0)")
    return 1 if broke else 0


if __name__ == "__main__":
    sys.exit(main())
