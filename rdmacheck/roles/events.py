"""JSON-lines events on stdout (one object per line, one write per line) and human logs on stderr."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import IO


def new_generation() -> int:
    """New on every process start, and increasing across restarts of the same name."""
    return time.time_ns()


@dataclass
class EventLog:
    role: str
    name: str
    generation: int
    out: IO[str] = field(default_factory=lambda: sys.stdout)
    err: IO[str] = field(default_factory=lambda: sys.stderr)

    def emit(self, event: str, **fields) -> dict:
        rec = {"ts": round(time.time(), 6), "role": self.role, "name": self.name, "pid": os.getpid(),
               "generation": self.generation, "event": event, **fields}
        self.out.write(json.dumps(rec, separators=(",", ":"), default=str) + "\n")
        self.out.flush()
        return rec

    def log(self, text: str) -> None:
        self.err.write(f"[{self.role} {self.name} {time.strftime('%H:%M:%S')}] {text}\n")
        self.err.flush()
