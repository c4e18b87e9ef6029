"""Benchmark (not a test): wall time of the default matrix in the lab, boot included (goal <= 30 s).

    .venv/bin/python benchmarks/matrix_wall.py [--rounds N]
Prints the wall time, the boot time, the cells and their mean time, against the goal."""
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_S = 30.0  # #30: the default matrix in the lab, boot included, median of 5 runs
ROOT = Path(__file__).resolve().parents[1]
out = Path(tempfile.mkdtemp(prefix="rdmacheck-bench-")) / "matrix.json"
t0 = time.monotonic()
r = subprocess.run([sys.executable, "-m", "rdmacheck", "matrix", "--lab", "--plain", "--json", str(out), *sys.argv[1:]],
                   cwd=ROOT, capture_output=True, text=True)
wall = time.monotonic() - t0
boot = next((line.split("boot ")[1].split(" s")[0] for line in r.stderr.splitlines() if "matrix done in" in line), "?")
cells = json.loads(out.read_text())["cells"] if out.exists() else []
ran = [c for c in cells if c["verdict"] != "SKIP"]
mean = sum(c["duration_s"] for c in ran) / len(ran) if ran else 0
print(f"default matrix in the lab: {wall:.1f} s wall (boot {boot} s), {len(cells)} cells ({len(ran)} run, "
      f"mean {mean:.1f} s each); goal <= {GOAL_S:.0f} s: ratio {wall / GOAL_S:.2f} -> "
      f"{'met' if wall <= GOAL_S else 'MISSED'}; exit {r.returncode}")
sys.exit(r.returncode)
