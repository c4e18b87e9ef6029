"""Benchmark (not a test): simopen with many endpoints in the lab (goal: 256 endpoints all
connected in <= 30 s).

    .venv/bin/python benchmarks/simopen.py [ENDPOINTS] [ROUNDS]
Boots the lab, runs `rdmacheck simopen -d rxe0`, prints the time to all-connected per round
(the slower side) against the goal, and the handshake counts."""
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.inlab import in_lab  # noqa: E402

GOAL_S = 30.0
ROOT = Path(__file__).resolve().parents[1]
n = sys.argv[1] if len(sys.argv) > 1 else "256"
rounds = sys.argv[2] if len(sys.argv) > 2 else "2"
work = Path(tempfile.mkdtemp(prefix="rdmacheck-bench-", dir="/tmp"))
out = work / "simopen.json"
r = in_lab([sys.executable, "-m", "rdmacheck", "simopen", "-d", "rxe0", "--endpoints", n, "--rounds", rounds,
           "--connect-timeout", "120", "--json", str(out)], timeout=1500, rw=work, capture=True)
if not out.exists():
    print(r.stdout[-2000:], r.stderr[-2000:])
    sys.exit(f"no results (exit {r.returncode})")
res = json.loads(out.read_text())
for k in range(int(rounds)):
    sides = [x for x in res["rounds"] if x["round"] == k]
    worst = max(x["all_connected_ms"] for x in sides) / 1000
    hs = {s["side"]: s["handshakes"] for s in sides}
    print(f"round {k}: {n} endpoints all connected in {worst:.1f} s (goal <= {GOAL_S:.0f} s: ratio "
          f"{worst / GOAL_S:.2f} -> {'met' if worst <= GOAL_S else 'MISSED'}); handshakes {hs}")
t = res["totals"]
print(f"verdict {res['verdict']}: hangs {t['hangs']}, duplicates {t['duplicates']}, crossed {t['crossed']}, "
      f"verified {t['verified']}, leaked {res['leaked_total']}; {res['duration_s']:.1f} s in all (lab boot excluded)")
sys.exit(r.returncode)
