"""A real engine as a child process (mooncake_side.py or nixl_side.py under its release's Python), and what its log says."""

from __future__ import annotations

import re
from pathlib import Path

from rdmacheck.engines.catalog import adapter
from rdmacheck.engines.engine import Engine
from rdmacheck.engines.events import engine_event_problem
from rdmacheck.roles.process import RoleProcess

# glog lines worth quoting as evidence of what the engine did with a handshake.
EVIDENCE = re.compile(r"(same peer QP|re-establish|retiring endpoint|ready ack|reject|another thread is already|"
                      r"mismatch|handshake|failed to modify qp|socket (write|read) failed|process failed|"
                      r"failed to complete transfers)", re.I)
GLOG = re.compile(r"^[IWEF]\d{4} ")


def spawn_engine(engine: Engine, label: str, host: str, device: str, length: int, log_path: Path,
                 metadata: str = "P2PHANDSHAKE", env: dict[str, str] | None = None,
                 name: str | None = None, transfer_timeout: float | None = None) -> RoleProcess:
    """One engine side under the engine's own Python (its kind's arguments; `name`: an etcd-mode Mooncake
    engine's or a NIXL agent's name; `transfer_timeout`: the engine's own limit on one transfer)."""
    a = adapter(engine)
    args = a.side_args(host, device, length, name, metadata)
    own = a.side_env(transfer_timeout) if transfer_timeout is not None else {}
    return RoleProcess(label, args, log_path, env={**engine.env(), **own, **(env or {})}, module=engine.module,
                       python=str(engine.python), check=engine_event_problem)


def log_size(proc: RoleProcess, path: Path) -> int:
    """How much of the engine's log there is now (everything it printed read first): evidence is taken
    up to this point, before the engine is killed, not what its peer logged about the kill."""
    proc.mark()
    return path.stat().st_size if path.exists() else 0


def log_lines(path: Path, start: int = 0, end: int | None = None) -> list[str]:
    """The engine's glog lines in its log between two byte offsets, without their timestamp/thread prefix."""
    if not path.exists():
        return []
    with open(path, "rb") as f:
        f.seek(start)
        text = f.read(-1 if end is None else max(0, end - start)).decode(errors="replace")
    return [_message(line) for line in text.splitlines() if GLOG.match(line)]


def _message(line: str) -> str:
    head, sep, rest = line.partition("] ")
    return f"{line[0]} {rest.strip()}" if sep else line.strip()


def evidence(lines: list[str], limit: int = 12) -> list[str]:
    """The handshake-related lines, each distinct line once with a count, in first-seen order."""
    counts: dict[str, int] = {}
    for line in lines:
        if EVIDENCE.search(line):
            counts[line[:220]] = counts.get(line[:220], 0) + 1
    return [f"{line} (x{n})" if n > 1 else line for line, n in list(counts.items())[:limit]]


def fresh_log_dir(d: Path, pattern: str) -> None:
    """The directory, without the logs of an earlier run (they would be read as this run's evidence)."""
    d.mkdir(parents=True, exist_ok=True)
    for old in d.glob(pattern):
        old.unlink()
