"""Benchmark (not a test): the hostile-input properties with 25k examples each (125k cases).

    .venv/bin/python benchmarks/fuzz_handshake.py
Prints the cases run, the time, and exits non-zero if any property failed."""
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
t0 = time.monotonic()
r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/host/test_hostile_input.py",
                    "--hypothesis-show-statistics"], cwd=ROOT, env={**os.environ, "HYPOTHESIS_PROFILE": "bench"},
                   capture_output=True, text=True)
# statistics lines look like "    - 25000 passing, 0 failing, and 12 invalid test cases"
cases = sum(int(m.group(1)) for m in re.finditer(r"- (\d+) passing", r.stdout))
print(f"hostile-input fuzz: {cases} cases in {time.monotonic() - t0:.1f} s; {r.stdout.splitlines()[-1]}")
sys.exit(r.returncode)
