"""Benchmark (not a test): dead-peer detection on rxe0 with the default QP settings (goal <= 0.5 s).

The target is SIGKILLed under a live connection; the initiator's RDMA WRITE to it must end with
RETRY_EXC_ERR. Reference (same run, from the QP attributes): the InfiniBand transport's own
bound, (retry_cnt + 1) x 4.096 us x 2^timeout. Also shown: when the control connection told.

    .venv/bin/python benchmarks/dead_peer.py [ROUNDS]      (runs in the lab)
"""
import json
import statistics
import sys
import tempfile
from pathlib import Path

from rdmacheck.verbs.rc import QPTuning

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.inlab import in_lab  # noqa: E402

GOAL_S, DEFAULTS = 0.5, QPTuning()  # the harness defaults
TIMEOUT, RETRY = DEFAULTS.timeout, DEFAULTS.retry_cnt
ROOT = Path(__file__).resolve().parents[1]
rounds = sys.argv[1] if len(sys.argv) > 1 else "5"
out = Path(tempfile.mkdtemp(prefix="rdmacheck-dead-", dir=ROOT / "results" if (ROOT / "results").is_dir() else None))
out.chmod(0o777)
cell = out / "cell.json"
r = in_lab([sys.executable, "-m", "rdmacheck", "reestablish", "--local", "-d", "rxe0", "--restart", "target",
           "--strategy", "recreate", "--rounds", rounds, "--length", "64KiB", "--qp-timeout", str(TIMEOUT), "--retry-cnt",
           str(RETRY), "--json", str(cell)], timeout=900, rw=out, capture=True)
if not cell.exists():
    sys.exit(f"no results: {r.stdout[-800:]} {r.stderr[-800:]}")
rows = json.loads(cell.read_text())["cells"][0]["rounds"][1:]
probes = [x["probe_ms"] for x in rows if x.get("probe_status") == "RETRY_EXC_ERR"]
control = [x["detect_ms"] for x in rows if x.get("detect_ms") is not None]
bound_ms = DEFAULTS.retry_bound_s() * 1000
if not probes:
    sys.exit(f"no RETRY_EXC_ERR probe in {len(rows)} rounds: {[x.get('probe_status') for x in rows]}")
med = statistics.median(probes)
print(f"dead-peer detection on rxe0 (timeout {TIMEOUT}, retry_cnt {RETRY}), {len(probes)} kills: RDMA WRITE -> "
      f"RETRY_EXC_ERR median {med:.0f} ms (min {min(probes):.0f}, max {max(probes):.0f}); transport bound "
      f"(retry_cnt+1) x 4.096 us x 2^timeout = {bound_ms:.0f} ms -> ratio {med / bound_ms:.2f}; goal <= "
      f"{GOAL_S * 1000:.0f} ms: {'met' if max(probes) <= GOAL_S * 1000 else 'MISSED'}")
print(f"control connection noticed the kill after median {statistics.median(control):.0f} ms "
      f"(min {min(control):.0f}, max {max(control):.0f})")
