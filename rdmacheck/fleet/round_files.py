"""When `fleet run` writes its files as the run goes (the coordinator calls a RoundFiles after each round)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from rdmacheck.output.write import write_outputs


@dataclass
class RoundFiles:
    """What `fleet run` writes after each round: the results file every round; JUnit, T-one, Prometheus
    and HTML (each made of every pair so far) only while they stay cheap: again once the time since their
    last write is `spacing` times what that write took (their share of the run stays ~1/(spacing + 1));
    all of them at the end, on Ctrl-C and on an error (finish, write_outputs)."""
    json_path: Optional[Path]
    junit: Optional[Path] = None
    tone: Optional[Path] = None
    prom: Optional[Path] = None
    html: Optional[Path] = None
    spacing: float = 9.0
    clock: Callable[[], float] = time.monotonic
    others_due: float = float("-inf")

    def __call__(self, result) -> None:
        write_outputs(result, self.json_path)
        if any((self.junit, self.tone, self.prom, self.html)) and self.clock() >= self.others_due:
            t0 = self.clock()
            write_outputs(result, None, self.junit, self.tone, self.prom, self.html)
            t1 = self.clock()
            self.others_due = t1 + self.spacing * (t1 - t0)


