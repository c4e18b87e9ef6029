"""Benchmark (not a test): a long soak in the lab (default 500 restart rounds on rxe0).

    .venv/bin/python benchmarks/soak.py [ROUNDS]
Prints the object counts and the survivor's RSS at the baseline and at the end, and the verdict."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.inlab import in_lab  # noqa: E402

rounds = sys.argv[1] if len(sys.argv) > 1 else "500"
# The guest runs this venv's interpreter (same paths: the lab sees the host tree).
sys.exit(in_lab([sys.executable, "-m", "rdmacheck", "soak", "-d", "rxe0", "--rounds", rounds, "--strategy", "reset"],
                timeout=7200).returncode)
