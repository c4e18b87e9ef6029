"""Benchmark (not a test): the data check's order under load, on soft-iWARP across two network
namespaces (siw1 <-> siw2), where a WRITE completion does not mean the data is placed. A target in
namespace hostb, an initiator here restarted ROUNDS times, each round LENGTH written, READ back on the
same QP, then checked by the target in its memory, with both vCPUs kept busy. Counts the findings
and checks, from the roles' events, that every target check came after the READ of its round.

    rdmacheck lab run -- .venv/bin/python benchmarks/data_order_stress.py [--rounds 200] [--length 1MiB]
    (inside the lab; prints one JSON line last). Every round is a restart of the initiator and a
    reconnect with a new QP, then a verified round; the restart is what the tool exists for.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path


def events(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if isinstance(ev, dict) and "event" in ev:
                out.append(ev)
    return out


def checks_before_read(initiator: list[dict], target: list[dict]) -> list[str]:
    """Target checks that did not come after the READ back of the write they check: on the merged
    timeline, the last initiator step before each target check must be a completed READ."""
    steps = [(e["ts"], e["event"]) for e in initiator if e["event"] in ("write_done", "read_done")]
    bad = []
    for c in (e for e in target if e["event"] in ("verified", "verify_failed") and "length" in e):
        before = [name for ts, name in steps if ts <= c["ts"]]
        if not before or before[-1] != "read_done":
            bad.append(f"target check at {c['ts']:.6f} after {before[-1] if before else 'nothing'}")
    return bad


def role_events(log_dir: Path, role: str) -> list[dict]:
    path = log_dir / f"{role}.log"
    return events(path.read_text(errors="replace")) if path.exists() else []


def run(rounds: int, length: str, load: int, out: Path) -> dict:
    """One restart cell on siw1 -> siw2 (target in namespace hostb), both vCPUs kept busy."""
    out.mkdir(parents=True, exist_ok=True)
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(load)]
    t0 = time.monotonic()
    try:
        r = subprocess.run([sys.executable, "-m", "rdmacheck", "reestablish", "--local", "-d", "siw1",
                            "--target-device", "siw2", "--target-netns", "hostb", "--mode", "cm",
                            "--strategy", "recreate", "--restart", "initiator", "--rounds", str(rounds),
                            "--length", length, "--buffer-size", length, "--json", str(out / "cell.json"),
                            "--log-dir", str(out / "logs")], capture_output=True, text=True,
                           timeout=120 + rounds * 30)
    finally:
        for p in busy:
            p.kill()
    cell = json.loads((out / "cell.json").read_text())["cells"][0]
    findings = Counter(x.get("finding") for x in cell["rounds"] if x["verdict"] != "PASS")
    order = checks_before_read(role_events(out / "logs", "initiator"), role_events(out / "logs", "target"))
    return {"rounds": len(cell["rounds"]), "length": length, "load": load, "verdict": cell["verdict"],
            "verified": sum(x["verdict"] == "PASS" for x in cell["rounds"]), "findings": dict(findings),
            "false_data_never_arrived": findings.get("data-never-arrived", 0), "checks_before_read": len(order),
            "target_checks": sum(e["event"] in ("verified", "verify_failed") and "length" in e
                                 for e in role_events(out / "logs", "target")),
            "exit": r.returncode, "seconds": round(time.monotonic() - t0, 1)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=200, help="restart rounds (each verified after its reconnect)")
    ap.add_argument("--length", default="1MiB")
    ap.add_argument("--load", type=int, default=os.cpu_count() or 2, help="busy processes beside the roles")
    ap.add_argument("--cells", type=int, default=1, help="cells of ROUNDS rounds each, one after another "
                    "(a cell stops at its first failed round)")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    out = a.out or Path(tempfile.mkdtemp(prefix="rdmacheck-order-"))
    cells = [run(a.rounds, a.length, a.load, out / f"cell{i}") for i in range(a.cells)]
    total = {k: sum(c[k] for c in cells) for k in ("rounds", "verified", "false_data_never_arrived",
                                                  "checks_before_read", "target_checks", "seconds")}
    findings = Counter()
    for c in cells:
        findings.update(c["findings"])
    res = {**total, "length": a.length, "load": a.load, "findings": dict(findings), "cells": cells}
    print(f"siw1 -> siw2 (namespaces), {total['rounds']} rounds of {a.length} in {a.cells} cell(s), {a.load} busy "
          f"processes: {total['verified']} verified, findings {dict(findings) or 'none'}, target checks "
          f"{total['target_checks']}, of them before their READ: {total['checks_before_read']}, "
          f"{total['seconds']:.0f} s", file=sys.stderr)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
