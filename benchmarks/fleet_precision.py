"""Precision and recall of the fleet's judgement (isolation + slowness, the code `fleet run` and `report` use)
over seeded simulated fleets: each fleet is all-pairs over 16-64 hosts with noisy links (lognormal latency,
bandwidth within +-15%), and at random slow hosts (latency x2.5-6, bandwidth /2.5-6 on every link), slow links
between hosts fast elsewhere, flapping links (a data-plane FAIL, then a PASS on the retest of the same pair,
as `fleet run` retests a bad link) and dead hosts (never joined). Every named item (a slow host, a slow link, a
flaky link, a down host) is scored against what was injected; a bad link named is always false (none is
injected). Pure: no etcd, no RDMA (the lab tests run the real faults).

  .venv/bin/python benchmarks/fleet_precision.py [--fleets 300] [--seed 0]
"""

from __future__ import annotations

import argparse
import itertools
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rdmacheck.fleet.isolation import PairResult, isolate  # noqa: E402
from rdmacheck.fleet.schedule import Pair  # noqa: E402
from rdmacheck.fleet.simulate import sim_link  # noqa: E402
from rdmacheck.words import Verdict  # noqa: E402


def fleet(rng: random.Random) -> tuple[list[str], dict[str, set], list[PairResult], list[PairResult], list[str]]:
    n = rng.randint(16, 64)
    hosts = [f"h{i:02d}" for i in range(n)]
    dead = set(rng.sample(hosts, rng.randint(0, 1)))
    live = [h for h in hosts if h not in dead]
    slow_hosts = set(rng.sample(live, rng.randint(0, 2)))
    fast = [h for h in live if h not in slow_hosts]
    links = [frozenset(p) for p in itertools.combinations(fast, 2)]
    slow_links = set(rng.sample(links, rng.randint(0, 3)))
    flaky = set(rng.sample([p for p in links if p not in slow_links], rng.randint(0, 2)))
    truth = {"slow_host": slow_hosts, "slow_link": slow_links, "flaky_link": flaky, "down": dead}
    history, finals = [], {}
    for k, (a, b) in enumerate(itertools.combinations(hosts, 2)):
        pair, key = Pair(a, b), frozenset((a, b))
        if key & dead:
            r = PairResult(pair, Verdict.FAIL, "host-down", "control", round=k % n)
            history.append(r)
            finals[key] = r
            continue
        f = rng.uniform(2.5, 6.0) if key & slow_hosts or key in slow_links else 1.0
        link = sim_link(rng, f)
        if key in flaky:
            history.append(PairResult(pair, Verdict.FAIL, "write-stalled", round=k % n, at_s=float(k)))
        r = PairResult(pair, Verdict.PASS, link=link, round=k % n + (n if key in flaky else 0), at_s=float(k + n))
        history.append(r)
        finals[key] = r
    return hosts, truth, list(finals.values()), history, sorted(dead)


def named(d) -> dict[str, set]:
    return {"slow_host": set(d.slowness.slow_hosts), "slow_link": {frozenset(p) for p in d.slowness.slow_links},
            "flaky_link": {frozenset(p) for p in d.flaky_links},
            "down": {h for h, why in d.bad_hosts.items() if why.startswith("host-down")}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fleets", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    tp = fp = fn = false_bad_links = 0
    by_kind = {k: [0, 0, 0] for k in ("slow_host", "slow_link", "flaky_link", "down")}
    t0 = time.monotonic()
    for i in range(a.fleets):
        hosts, truth, finals, history, dead = fleet(random.Random(a.seed * 100_000 + i))
        d = isolate(finals, dead, {}, hosts, history=history)
        got = named(d)
        false_bad_links += len(d.bad_links)
        for kind in by_kind:
            t, g = truth[kind], got[kind]
            counts = (len(t & g), len(g - t), len(t - g))
            by_kind[kind] = [x + y for x, y in zip(by_kind[kind], counts)]
            tp, fp, fn = tp + counts[0], fp + counts[1], fn + counts[2]
    took = time.monotonic() - t0
    for kind, (t, f, m) in by_kind.items():
        print(f"{kind:>10}: {t} named right, {f} named wrongly, {m} missed")
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    print(f"{a.fleets} fleets (seed {a.seed}): precision {precision:.4f}, recall {recall:.4f}, "
          f"{false_bad_links} false bad link(s); {took:.1f} s")
    return 0 if precision >= 0.99 and recall >= 0.99 and not false_bad_links else 1


if __name__ == "__main__":
    sys.exit(main())
