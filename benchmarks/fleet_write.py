"""What `fleet run` pays to write its results file after a round, as the run grows: the whole result
dumped (to_dict + json.dumps, as every round did before) against FleetResult.json_text (each round and
pair serialized once, as it comes), after 10, 100, 300 and 999 rounds of `--pairing all` at 1,000 hosts
(the pair outcomes built, not measured: this is the file's cost, not a fleet's).

  .venv/bin/python benchmarks/fleet_write.py [--hosts 1000] [--at 10 100 300 999]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rdmacheck.fleet.protocol import PairOutcome  # noqa: E402
from rdmacheck.fleet.result import FleetResult, RoundStats  # noqa: E402
from rdmacheck.fleet.schedule import Schedule  # noqa: E402
from rdmacheck.output.files import write_text_atomic  # noqa: E402
from rdmacheck.words import Verdict  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=1000)
    ap.add_argument("--at", type=int, nargs="+", default=[10, 100, 300, 999], help="rounds after which to measure")
    a = ap.parse_args()
    hosts = tuple(f"host-{i:05d}.rack{i % 97:02d}.dc01" for i in range(a.hosts))
    r = FleetResult(run="bench", pairing="all", hosts=list(hosts), started=time.time())
    out = Path(tempfile.mkdtemp()) / "fleet.json"
    at = set(a.at)
    print(f"results file after a round of `all` at {a.hosts:,} hosts: the whole result dumped vs json_text")
    for k, pairs in enumerate(Schedule("all", hosts).rounds(), start=1):
        now = time.time()
        r.rounds.append(RoundStats(k - 1, [list(p) for p in pairs], False, 6.1, 0.1, 3, now, now, 0.05))
        r.pairs.extend(PairOutcome(k - 1, p.target, p.initiator, Verdict.PASS, reconnect_ms=[120.0], duration_s=6.0,
                                   reported_by=p.initiator, reported_at=now, run="n", mode="cm", strategy="recreate")
                       for p in pairs)
        if k + 1 in at:
            r.json_text()  # the rounds before are in its lines, as in a run that wrote every round
        if k in at:
            t0 = time.perf_counter()
            write_text_atomic(out, json.dumps(r.to_dict(), indent=2, default=str) + "\n")
            whole = time.perf_counter() - t0
            size_before = out.stat().st_size
            t0 = time.perf_counter()
            write_text_atomic(out, r.json_text())
            grown = time.perf_counter() - t0
            print(f"  after {k:>5,} rounds ({len(r.pairs):>9,} pairs): whole dump {whole:6.2f} s ({size_before / 1e6:,.0f} MB)"
                  f", json_text {grown:5.2f} s ({out.stat().st_size / 1e6:,.0f} MB): {whole / grown:,.0f}x")
        if k >= max(at):
            break
    return 0


if __name__ == "__main__":
    sys.exit(main())
