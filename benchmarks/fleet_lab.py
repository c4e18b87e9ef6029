"""A real fleet in the lab: N hosts (network namespaces with a soft-iWARP device each), an agent in
each, the coordinator and etcd in the initial namespace, `--pairing all`: every pair connects
siw-to-siw across two namespaces, is verified, has its initiator SIGKILLed and restarted, and is
verified again. Prints the wall time including the VM's boot, and the coordinator's own table.

  .venv/bin/python benchmarks/fleet_lab.py [--hosts 8] [--slurm] [--mem 3G]      (on the host: boots the lab)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def inside(n: int, out: Path, slurm: bool) -> int:
    from rdmacheck.lab.hosts import create
    from rdmacheck.lab.slurm import LabSlurm
    from rdmacheck.metadata.local_etcd import EtcdServer

    t0 = time.monotonic()
    hosts = create(n)
    t_hosts = time.monotonic() - t0
    d = Path(tempfile.mkdtemp(prefix="fleet-etcd-"))
    server = EtcdServer(d / "data", listen="0.0.0.0").start()
    t_etcd = time.monotonic() - t0
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "COLUMNS": "120"}
    agents: list[subprocess.Popen] = []
    lab_slurm = None
    etcd = f"etcd://{hosts[0].gateway}:{server.port}"  # reachable from every host's namespace
    run = [sys.executable, "-m", "rdmacheck", "fleet", "run", "--metadata", etcd, "--cluster", "bench",
           "--json", str(out / "fleet.json")]
    try:
        if slurm:
            lab_slurm = LabSlurm(hosts)
            lab_slurm.start()
            env.update(lab_slurm.env())
            run = ["salloc", "-N", str(n), *run, "--launch", "slurm", "--agent-device", "auto"]
        else:
            agents = [subprocess.Popen(h.ns(sys.executable, "-m", "rdmacheck", "fleet", "agent", "-d", h.device,
                                            "--name", h.name, "--metadata", etcd, "--cluster", "bench", "--log-dir",
                                            str(logs)),
                                       cwd=ROOT, stdout=subprocess.DEVNULL, stderr=(logs / f"{h.name}.log").open("w"))
                      for h in hosts]
            run += ["--hosts", ",".join(h.name for h in hosts)]
        t_start = time.monotonic() - t0
        wall_start = time.time()
        coord = subprocess.run(run, cwd=ROOT, capture_output=True, text=True, timeout=1800, env=env)
        t_coord_done = time.monotonic() - t0
    finally:
        for a in agents:
            try:
                a.wait(timeout=30)
            except subprocess.TimeoutExpired:
                a.kill()
        if lab_slurm:
            lab_slurm.stop()
        server.remove()
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
    rc = subprocess.run([str(ROOT / ".venv/bin/rdmacheck"), "lab", "run", "--mem", a.mem, "--timeout", "1800", "--rw",
                         str(out), "--", str(ROOT / ".venv/bin/python"), str(Path(__file__).resolve()), "--hosts",
                         str(a.hosts), "--inside", str(out), *(["--slurm"] if a.slurm else [])], cwd=ROOT).returncode
    print(f"{a.hosts}-host all-pairs in the lab: {time.monotonic() - t0:.1f} s wall including the VM's boot "
          f"(exit {rc}); results in {out}/fleet.json")
    return rc


if __name__ == "__main__":
    sys.exit(main())
