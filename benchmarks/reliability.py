"""Benchmark (not a test): the reliability table of docs/reliability.md. Runs the lab tests that inject a
fault or send hostile input, each N times, inside one lab boot, and prints per fault: how often
it was tried, how often it ended as the test demands, and the worst time to a verdict (the
test's own duration, from pytest --durations).

    .venv/bin/python benchmarks/reliability.py [--repeat 3]
"""
import argparse
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.inlab import in_lab  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# (the fault or hostile input, the lab test that tries it and asserts its outcome)
FAULTS = [
    ("kill-at:STEP, every step once (7 cells)", "tests/lab/test_no_hang.py"),
    ("etcd killed and restarted mid-run (4 target restarts)",
     "tests/lab/test_etcd_reestablish.py::test_etcd_killed_and_restarted_mid_run_ends_in_verified_data_or_a_finding_within_the_deadline"),
    ("etcd lease revoked under a live target",
     "tests/lab/test_etcd_reestablish.py::test_a_live_target_whose_lease_lapsed_is_not_taken_for_dead"),
    ("the target's rdma_cm event loop fails (cm-event-error)",
     "tests/lab/test_faults_security.py::test_a_target_whose_rdma_cm_loop_dies_stops_with_a_finding_instead_of_living_on"),
    ("Verify without a connected session",
     "tests/lab/test_faults_security.py::test_verify_needs_a_connected_session_and_a_mismatch_reports_no_data"),
    ("unsigned, wrong-token, replayed and cross-process replayed handshakes",
     "tests/lab/test_faults_security.py::test_without_the_token_a_peer_is_refused_and_changes_no_qp"),
    ("garbled, dropped and delayed handshakes",
     "tests/lab/test_faults_security.py::test_garbled_and_dropped_handshakes_are_handled_and_the_target_keeps_serving"),
    ("link down 3 s under a live connection", "tests/lab/test_link_down.py"),
]


def inside(repeat: int) -> int:
    durations: dict[str, list[float]] = defaultdict(list)
    outcomes: dict[str, list[bool]] = defaultdict(list)
    for name, test in FAULTS:
        for _ in range(repeat):
            r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--durations=0",
                                "--durations-min=0", test], cwd=ROOT, capture_output=True, text=True)
            times = [float(m.group(1)) for m in re.finditer(r"^([\d.]+)s call ", r.stdout, re.M)]
            passed = sum(int(x) for x in re.findall(r"(\d+) passed", r.stdout.splitlines()[-1]))
            failed = sum(int(x) for x in re.findall(r"(\d+) failed", r.stdout.splitlines()[-1]))
            durations[name] += times
            outcomes[name] += [True] * passed + [False] * failed
    print("| fault or hostile input | tried | ended as required | worst time to a verdict |")
    print("|---|---|---|---|")
    for name, _ in FAULTS:
        ok = outcomes[name]
        worst = max(durations[name], default=0.0)
        print(f"| {name} | {len(ok)} | {sum(ok)} | {worst:.1f} s |")
    return 0 if all(all(v) for v in outcomes.values()) else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.inside:
        sys.exit(inside(a.repeat))
    sys.exit(in_lab([sys.executable, __file__, "--inside", "--repeat", str(a.repeat)], timeout=3000).returncode)
