"""The cost and the false positives of measuring every pair's link, on a real lab fleet: in one boot, N hosts,
R all-pairs runs with the measurement and R without (alternating, so the VM's state is shared alike), each a
fresh coordinator and fresh agents. Prints each run's wall time and what the measured runs flagged slow (on a
clean fleet every flag is a false positive), then the medians and the measurement's share of the wall time.

  .venv/bin/python benchmarks/fleet_links.py [--hosts 8] [--runs 5] [--slurm]     (on the host: boots the lab)
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.inlab import rerun_inside  # noqa: E402


def inside(n: int, runs: int, out: Path, slurm: bool) -> int:
    from rdmacheck.fleet.labfleet import LabFleet

    walls: dict[bool, list[float]] = {True: [], False: []}
    flagged = 0
    with LabFleet.up(n, out / "logs") as fleet:
        for k in range(2 * runs):
            measure = k % 2 == 0
            name = f"links{k}"
            extra = ["--json", str(out / f"{name}.json"), *([] if measure else ["--no-measure"])]
            run = fleet.run(name, *extra, slurm=slurm)
            r, wall = run.proc, run.wall_s
            res = json.loads((out / f"{name}.json").read_text())
            walls[measure].append(wall)
            slow = res.get("slowness") or {}
            flags = len(slow.get("slow_hosts") or {}) + len(slow.get("slow_links") or []) + \
                len(slow.get("undecided") or {}) + len(res.get("flaky_links") or [])
            flagged += flags if measure else 0
            base = (slow.get("baseline") or {}).get("read_lat_us_min", {})
            worst = max((p["link"]["read_lat_us_min"] for p in res["pairs"] if (p.get("link") or {}).get("read_lat_us_min")),
                        default=0.0)
            print(f"run {k + 1}: {'measured' if measure else 'not measured'}, exit {r.returncode}, {wall:.1f} s wall, "
                  f"fleet {res['duration_s']:.1f} s, {len(res['pairs'])} pairs"
                  + (f", {flags} flag(s); fastest READ median {base.get('median', 0):.0f} µs (MAD "
                     f"{base.get('mad', 0):.1f}), slowest link's {worst:.0f} µs" if measure else ""), flush=True)
            if flags and measure:
                print("  flagged:", json.dumps({k: slow.get(k) for k in ("slow_hosts", "slow_links", "undecided")}))
    on, off = statistics.median(walls[True]), statistics.median(walls[False])
    print(f"{n} hosts, {runs} runs each: median wall {on:.1f} s measured, {off:.1f} s not "
          f"({(on - off) / off * 100:+.1f}%); {flagged} slow or flaky flag(s) over the measured clean runs")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=8)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--mem", default="3G")
    ap.add_argument("--slurm", action="store_true", help="under real Slurm: salloc, fleet run --launch slurm")
    ap.add_argument("--inside", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.inside:
        return inside(a.hosts, a.runs, a.inside, a.slurm)
    out = Path(tempfile.mkdtemp(prefix="fleet-links-"))
    t0 = time.monotonic()
    rc = rerun_inside(__file__, out, "--hosts", str(a.hosts), "--runs", str(a.runs), *(["--slurm"] if a.slurm else []),
                      mem=a.mem)
    print(f"{time.monotonic() - t0:.1f} s wall including the VM's boot (exit {rc}); results in {out}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
