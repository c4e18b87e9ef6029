"""Benchmark (not a test): the hostile-input properties with 25k examples each (125k cases).

    .venv/bin/python benchmarks/fuzz_handshake.py
Prints the cases run, the time, and exits non-zero if any property failed."""
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
t0 = time.monotonic()
r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/host/test_hostile_input.py",
                    "--hypothesis-show-statistics"], cwd=ROOT, env={**os.environ, "HYPOTHESIS_PROFILE": "bench"},
                   capture_output=True, text=True)
runs = [line for line in r.stdout.splitlines() if "passing examples" in line]
cases = sum(int(line.split("-")[1].split("passing")[0].strip()) for line in runs if "-" in line)
print(f"hostile-input fuzz: {cases} cases in {time.monotonic() - t0:.1f} s; {r.stdout.splitlines()[-1]}")
sys.exit(r.returncode)
