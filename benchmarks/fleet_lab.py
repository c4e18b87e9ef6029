"""A real fleet in the lab: N hosts (network namespaces with a soft-iWARP device each), an agent in
each, the coordinator and etcd in the initial namespace, `--pairing all`: every pair connects
siw-to-siw across two namespaces, is verified, has its initiator SIGKILLed and restarted, and is
verified again. Prints the wall time including the VM's boot, and the coordinator's own table.

  .venv/bin/python benchmarks/fleet_lab.py [--hosts 8] [--slurm] [--mem 3G]      (on the host: boots the lab)
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
from benchmarks.inlab import rerun_inside  # noqa: E402


def inside(n: int, out: Path, slurm: bool) -> int:
    from rdmacheck.fleet.labfleet import LabFleet

    t0 = time.monotonic()
    with LabFleet.up(n, out / "logs") as fleet:
        t_hosts, t_etcd = fleet.made_s["hosts"], fleet.made_s["hosts"] + fleet.made_s["etcd"]
        run = fleet.run("bench", "--json", str(out / "fleet.json"), slurm=slurm)
    coord, wall_start = run.proc, run.launched_wall
    t_start, t_coord_done = run.launched - t0, run.ended - t0
    t_all = time.monotonic() - t0
    print(coord.stdout)
    res = json.loads((out / "fleet.json").read_text())
    walls = [r["wall_s"] for r in res["rounds"]]
    t_coord_up = res["started"] - wall_start + t_start  # the coordinator's run began (same clock: the guest's)
    t_round0 = res["rounds"][0]["published_at"] - wall_start + t_start
    joined = sorted(res.get("joined", {}).values()) or [0.0]
    own = sorted(a.get("start_s", 0.0) for a in res["agents"].values()) or [0.0]
    if coord.returncode and not (out / "fleet.json").exists():
        print(coord.stderr[-3000:])
    print(f"inside the guest: hosts made in {t_hosts:.1f} s, etcd up at {t_etcd:.1f} s, "
          f"{'Slurm up' if slurm else 'agents started'} at {t_start:.1f} s, the coordinator's run began at "
          f"{t_coord_up:.1f} s, the agents joined at {t_coord_up + joined[0]:.1f}-{t_coord_up + joined[-1]:.1f} s "
          f"(each {own[0]:.1f}-{own[-1]:.1f} s from its process's start to its registration), round 0 published at "
          f"{t_round0:.1f} s, the coordinator exited at {t_coord_done:.1f} s; fleet run "
          f"{res['duration_s']:.1f} s ({len(res['rounds'])} rounds, {min(walls):.1f}-{max(walls):.1f} s each), "
          f"{t_all:.1f} s in all")
    return coord.returncode


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hosts", type=int, default=8)
    ap.add_argument("--mem", default="3G")
    ap.add_argument("--slurm", action="store_true", help="under real Slurm: salloc, fleet run --launch slurm")
    ap.add_argument("--inside", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.inside:
        return inside(a.hosts, a.inside, a.slurm)
    out = Path(tempfile.mkdtemp(prefix="fleet-lab-"))
    t0 = time.monotonic()
    rc = rerun_inside(__file__, out, "--hosts", str(a.hosts), *(["--slurm"] if a.slurm else []), mem=a.mem)
    print(f"{a.hosts}-host all-pairs in the lab: {time.monotonic() - t0:.1f} s wall including the VM's boot "
          f"(exit {rc}); results in {out}/fleet.json")
    return rc


if __name__ == "__main__":
    sys.exit(main())
