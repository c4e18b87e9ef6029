"""A fleet pair's reconnect against the same cell run locally, in one lab boot, with the breakdown of
each: the restarted initiator's `ready` -> rdma_cm connected -> 1 MiB WRITE done -> READ back done ->
the target's check of its own memory answered (= verified). The fleet pair: 2 lab hosts (network
namespaces, fsiw1 <-> fsiw2 over two veths), their agents, etcd and the coordinator, `--restarts N`.
The local cell: `rdmacheck matrix` on siw0, cm, recreate, restart initiator, the same length and
rounds. Prints both medians and their ratio (goal: the fleet within 2x).

  .venv/bin/python benchmarks/fleet_reconnect.py [--restarts 5] [--length 1MiB]      (boots the lab)
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.inlab import rerun_inside  # noqa: E402
STEPS = (("connect", "ready", "connected"), ("write", "connected", "write_done"), ("read back", "write_done", "read_done"),
         ("target check", "read_done", "verified"), ("reconnect", "ready", "verified"))


def breakdown(logs: list[Path]) -> dict[str, list[float]]:
    """Per step, its milliseconds in every restarted initiator's first verified write (from the
    roles' own events in their logs; the first start of each log is not a restart)."""
    out: dict[str, list[float]] = {name: [] for name, _, _ in STEPS}
    for log in logs:
        starts = 0
        seen: dict[str, float] = {}
        for line in log.read_text().splitlines():
            if line.startswith("--- initiator"):
                starts, seen = starts + 1, {}
            elif line.startswith("{"):
                ev = json.loads(line)
                seen.setdefault("connected" if ev["event"] == "reestablished" else ev["event"], ev["ts"])
                if ev["event"] == "verified" and starts > 1:
                    for name, a, b in STEPS:
                        if a in seen and b in seen:
                            out[name].append((seen[b] - seen[a]) * 1000)
    return out


def inside(out: Path, restarts: int, length: str) -> int:
    from rdmacheck.fleet.labfleet import LabFleet

    py = [sys.executable, "-m", "rdmacheck"]
    with LabFleet.up(2, out / "fleet") as fleet:
        fleet.start_agents("rc")
        fleet_run = subprocess.run(fleet.run_argv("rc", "--restarts", str(restarts), "--length", length, "--json",
                                                  str(out / "fleet.json")),
                                   cwd=ROOT, capture_output=True, text=True, timeout=600)
        fleet.stop_agents(grace=60)
    local = subprocess.run([*py, "matrix", "--devices", "siw0", "--modes", "cm", "--strategies", "recreate",
                            "--restart", "initiator", "--rounds", str(restarts), "--length", length, "--quiet",
                            "--json", str(out / "local.json"), "--log-dir", str(out / "local")],
                           cwd=ROOT, capture_output=True, text=True, timeout=600)
    if fleet_run.returncode or local.returncode:
        print(fleet_run.stdout[-2000:], fleet_run.stderr[-2000:], local.stdout[-2000:], local.stderr[-2000:])
        return 1
    fleet_steps = breakdown(sorted((out / "fleet").glob("*/round*/initiator.log")))
    local_steps = breakdown(sorted((out / "local").glob("*/initiator.log")))
    print(f"restarted initiator's first verified write, {length}, cm, recreate, {restarts} restarts each; "
          f"median (min-max) ms:")
    print(f"{'step':<14} {'fleet pair fsiw2 -> fsiw1':>28} {'local cell siw0':>22}")
    for name, _, _ in STEPS:
        f, loc = fleet_steps[name], local_steps[name]
        print(f"{name:<14} {_fmt(f):>28} {_fmt(loc):>22}")
    ratio = statistics.median(fleet_steps["reconnect"]) / statistics.median(local_steps["reconnect"])
    print(f"fleet / local reconnect: {ratio:.2f}x (goal <= 2x: {'met' if ratio <= 2 else 'missed'})")
    return 0


def _fmt(xs: list[float]) -> str:
    return f"{statistics.median(xs):.0f} ({min(xs):.0f}-{max(xs):.0f})" if xs else "-"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--restarts", type=int, default=5)
    ap.add_argument("--length", default="1MiB")
    ap.add_argument("--inside", type=Path, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.inside:
        return inside(a.inside, a.restarts, a.length)
    out = Path(tempfile.mkdtemp(prefix="fleet-reconnect-"))
    t0 = time.monotonic()
    rc = rerun_inside(__file__, out, "--restarts", str(a.restarts), "--length", a.length, timeout=900)
    print(f"({time.monotonic() - t0:.1f} s including the lab's boot; logs in {out})")
    return rc


if __name__ == "__main__":
    sys.exit(main())
