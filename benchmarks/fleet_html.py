"""Benchmark (not a test): the fleet's HTML page for a large fleet — a result built from the real schedule
and isolation (random:K pairing; a few bad hosts, one bad link, one host down, one pair never tested),
rendered, and its size and render time printed. `--write FILE` keeps the result's JSON (the 1,024-host
file the browser test renders is made this way: `--hosts 1024 --write tests/data/fleet-1024.json`).

    .venv/bin/python benchmarks/fleet_html.py [--hosts 1024 4096] [--pairing random:4] [--html DIR]"""
import argparse
import json
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from rdmacheck.fleet.page import render_html
from rdmacheck.fleet.protocol import CONTROL_PLANE, PairOutcome
from rdmacheck.fleet.result import FleetResult, RoundStats
from rdmacheck.fleet.schedule import Schedule
from rdmacheck.words import Verdict


def build(n: int, pairing: str, seed: int = 7) -> FleetResult:
    rng = random.Random(seed)
    hosts = [f"node{i:05d}" for i in range(n)]
    bad = set(rng.sample(hosts, 3))
    down = rng.choice([h for h in hosts if h not in bad])
    res = FleetResult(run=f"sample-{n}", pairing=pairing, hosts=hosts, finished=True, duration_s=0.0)
    res.host_down = {down: 12.5}
    rounds = list(Schedule(pairing, tuple(hosts), seed=seed).rounds())
    link = rounds[0][1]  # a pair of healthy hosts whose link is bad
    untested = rounds[-1][-1]
    for k, pairs in enumerate(rounds):
        for p in pairs:
            o = PairOutcome(k, p.target, p.initiator, Verdict.PASS, reconnect_ms=[rng.uniform(30, 90)],
                            duration_s=rng.uniform(1.5, 3.0))
            if down in p:
                o.verdict, o.finding, o.plane = Verdict.FAIL, "host-down", CONTROL_PLANE
            elif bad & set(p) or p == link:
                o.verdict, o.finding, o.step, o.reconnect_ms = Verdict.FAIL, "data-never-arrived", "write", []
            elif p == untested:
                o.verdict, o.finding, o.plane = Verdict.FAIL, "target-not-ready", CONTROL_PLANE
            res.pairs.append(o)
        res.rounds.append(RoundStats(k, [list(p) for p in pairs], False, 3.2, 0.4, 0))
    return res


def _in_browser(page: str) -> str:
    """Median of 3 headless Chromium runs: load the page, run its script, dump the DOM (start-up included)."""
    with tempfile.TemporaryDirectory() as d:
        f = Path(d) / "page.html"
        f.write_text(page)
        took = []
        for k in range(3):
            t0 = time.perf_counter()
            out = subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                                  f"--user-data-dir={d}/p{k}", "--dump-dom", f.as_uri()],
                                 capture_output=True, text=True, timeout=120)
            took.append(time.perf_counter() - t0)
            if "data-rendered=" not in out.stdout:
                return "the page's script did not finish"
        return f"{sorted(took)[1]:.2f} s"


ap = argparse.ArgumentParser()
ap.add_argument("--hosts", type=int, nargs="+", default=[1024, 4096])
ap.add_argument("--pairing", default="random:4")
ap.add_argument("--write", type=Path, help="keep the result's JSON here (first size only)")
ap.add_argument("--html", type=Path, help="write each page into this directory")
a = ap.parse_args()
for i, n in enumerate(a.hosts):
    data = build(n, a.pairing).to_dict()
    if a.write and i == 0:
        a.write.write_text(json.dumps(data, separators=(",", ":")))
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        page = render_html(data)
        times.append(time.perf_counter() - t0)
    if a.html:
        a.html.mkdir(parents=True, exist_ok=True)
        (a.html / f"fleet-{n}.html").write_text(page)
    browser = _in_browser(page) if shutil.which("chromium") else "no chromium here"
    print(f"{n} hosts, {a.pairing}: {len(data['pairs'])} pairs, bad hosts {len(data['bad_hosts'])}, bad links "
          f"{len(data['bad_links'])}; page {len(page) / 1e6:.2f} MB; render median {sorted(times)[1] * 1000:.0f} ms; "
          f"headless Chromium, start to DOM with the heatmap drawn: {browser}")
