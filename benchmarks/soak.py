"""Benchmark (not a test): a long soak in the lab (default 500 restart rounds on rxe0).

    .venv/bin/python benchmarks/soak.py [ROUNDS]
Prints the object counts and the survivor's RSS at the baseline and at the end, and the verdict."""
import subprocess
import sys

rounds = sys.argv[1] if len(sys.argv) > 1 else "500"
# The guest runs this venv's interpreter (same paths: the lab sees the host tree).
sys.exit(subprocess.call([sys.executable, "-m", "rdmacheck", "lab", "run", "--timeout", "7200", "--", sys.executable,
                          "-m", "rdmacheck", "soak", "-d", "rxe0", "--rounds", rounds, "--strategy", "reset"]))
