"""A real engine as a child process (mooncake_side.py or nixl_side.py under its release's Python), and what its log says."""

from __future__ import annotations

from pathlib import Path

from rdmacheck.engines.catalog import adapter
from rdmacheck.engines.engine import Engine
from rdmacheck.engines.events import engine_event_problem
from rdmacheck.roles.process import RoleProcess

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


def fresh_log_dir(d: Path, pattern: str) -> None:
    """The directory, without the logs of an earlier run (they would be read as this run's evidence)."""
    d.mkdir(parents=True, exist_ok=True)
    for old in d.glob(pattern):
        old.unlink()
