"""Benchmark (not a test): the full no-hang matrix in the lab - the restart side killed at every
protocol step, both restart sides x both strategies on rxe0 (26 cells) - and the worst-case time
to a verdict.

    .venv/bin/python benchmarks/no_hang.py
"""
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.inlab import in_lab  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
work = Path(tempfile.mkdtemp(prefix="rdmacheck-bench-", dir="/tmp"))
times = work / "times.jsonl"
env = {**os.environ, "RDMACHECK_NO_HANG_FULL": "1", "RDMACHECK_NO_HANG_TIMES": str(times)}
r = in_lab([sys.executable, "-m", "pytest", "-q", "tests/lab/test_no_hang.py"], timeout=1800, rw=work, capture=True,
          env=env)
print(r.stdout.strip().splitlines()[-1] if r.stdout.strip() else r.stderr[-1000:])
rows = [json.loads(line) for line in times.read_text().splitlines()] if times.exists() else []
for x in sorted(rows, key=lambda x: -x["s"]):
    print(f"{x['victim']:9} killed at {x['step']:20} {x['strategy']:8} verdict after {x['s']:5.1f} s")
if rows:
    worst = max(rows, key=lambda x: x["s"])
    print(f"{len(rows)} cells; worst case {worst['s']:.1f} s ({worst['victim']} at {worst['step']}, {worst['strategy']});"
          f" bound 90 s")
sys.exit(r.returncode)
