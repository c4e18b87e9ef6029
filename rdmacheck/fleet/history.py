"""`fleet run --every`: one line per run appended to a history file (JSON Lines), and what changed across the
last runs. A host whose line went between Healthy and not, or a link whose state (PASS, SLOW, FLAKY, FAIL)
changed, within the last WINDOW runs is flapping across runs: said after each run and kept in its line."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from rdmacheck.fleet.result import FleetResult
from rdmacheck.words import Verdict

SCHEMA = "rdmacheck.fleet-history/1"
WINDOW = 5


def _link_states(res: FleetResult) -> dict[str, str]:
    d = res.diagnosis
    slow = {frozenset(p) for p in d.slowness.slow_pairs}
    flaky = {frozenset(p) for p in d.flaky_links}
    out = {}
    for o in res.final_pairs():
        key = frozenset(o.pair)
        state = "FLAKY" if key in flaky else "SLOW" if key in slow and o.verdict == Verdict.PASS else str(o.verdict)
        out["~".join(sorted(key))] = state
    return out


@dataclass
class History:
    path: Path | None
    window: int = WINDOW
    entries: list[dict] = field(default_factory=list)

    def add(self, res: FleetResult) -> list[str]:
        """Append the run's line (one write of one line, appended: a line is never half there) and return what
        flaps across the last `window` runs, as lines to print."""
        hosts = {line.split(" | ", 1)[0]: line.split(" | ", 1)[1] for line in res.host_lines()}
        entry = {"schema": SCHEMA, "run": res.run, "index": len(self.entries), "started": res.started,
                 "duration_s": res.duration_s, "healthy": res.healthy, "hosts": hosts, "links": _link_states(res)}
        recent = [*self.entries[-(self.window - 1):], entry] if self.window > 1 else [entry]
        entry["flapping"] = flapping(recent)
        self.entries.append(entry)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            try:
                os.write(fd, (json.dumps(entry, separators=(",", ":")) + "\n").encode())
            finally:
                os.close(fd)
        f = entry["flapping"]
        return [f"fleet: flapping across the last {len(recent)} runs: {kind} {name} ({seen})"
                for kind in ("host", "link") for name, seen in sorted(f[f"{kind}s"].items())]

    @property
    def steady(self) -> bool:
        """Nothing flapped across the last runs."""
        return not self.entries or not any(self.entries[-1]["flapping"].values())


def flapping(entries: list[dict]) -> dict[str, dict[str, str]]:
    """Hosts (Healthy or not) and links whose state changed across these runs, with each run's state."""
    out: dict[str, dict[str, str]] = {"hosts": {}, "links": {}}
    for kind, of in (("hosts", lambda e, k: "Healthy" if e["hosts"].get(k, "").startswith("Healthy") else
                      e["hosts"].get(k, "absent").split(" (", 1)[0]),
                     ("links", lambda e, k: e["links"].get(k, "absent"))):
        names = sorted({k for e in entries for k in e[kind]})
        for name in names:
            seen = [of(e, name) for e in entries]
            if len(set(seen)) > 1:
                out[kind][name] = ", ".join(seen)
    return out
