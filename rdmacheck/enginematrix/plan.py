"""What an engines matrix runs: the engines, the scenarios, their settings, and where logs go.

Scenarios:
  restart-initiator  the engine is the target; the initiator is SIGKILLed and comes back under its name
                     every round (Mooncake: rdmacheck's Mooncake-dialect initiator, P2P handshake; NIXL: a
                     second engine, the survivor removing the dead agent and adding the new one)
  restart-target     the engine is the initiator; the target is killed and comes back
  simopen            a simultaneous open forced on the engine (Mooncake: mooncake/forced_open.py)
  race               two engines writing to each other at one instant (engines/race.py)
  etcd-restart       the seed test: engine against engine in Mooncake's etcd metadata mode, the initiator
                     engine killed and restarted under its name (local_hostname)
  remove-readd       (NIXL) remove the peer's agent and add it again at once
  remove-readd-inflight  (NIXL) the same with a WRITE in flight
  dead-peer          (NIXL) the target is SIGKILLed and the initiator, not told, writes to it (must fail, not
                     hang); a third agent's transfers still verified; then the target restarts and is re-added
  dead-peer-errmode-none  (NIXL) the same with UCX's error handling mode `none`
  next-peer          (NIXL) the initiator is SIGKILLed unannounced; a new agent's transfers with the target
  stale-descriptor   (NIXL) the target restarts; the initiator writes through the descriptors it kept
Which scenario applies to which engine is cells.CELLS: a third engine adds rows there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from rdmacheck.engines.engine import Engine

if TYPE_CHECKING:
    from rdmacheck.enginematrix.result import EngineCell

SCENARIOS = ("restart-initiator", "restart-target", "simopen", "race", "etcd-restart", "remove-readd",
             "remove-readd-inflight", "dead-peer", "dead-peer-errmode-none", "next-peer", "stale-descriptor")


@dataclass
class EngineMatrixPlan:
    engines: list[Engine]
    host: str
    device: str = "rxe0"
    scenarios: tuple[str, ...] = SCENARIOS
    rounds: int = 2  # restart cells: restarts; simopen: fresh engines
    inflight_rounds: int = 2  # remove-readd-inflight: rounds that must show a WRITE in flight (at most `rounds`)
    endpoints: int = 2  # simopen: rdmacheck segments forced at once
    race_trials: int = 6
    race_threads: int = 1
    length: int = 1 << 20
    answer_timeout: float = 5.0
    hang_after: float = 5.0
    engine_transfer_timeout: int = 5
    dead_peer_timeout: float = 120.0  # dead-peer: how long the survivor's write to the killed peer may take to fail
    etcd: str | None = None  # an etcd URL for etcd-restart; None: a throwaway local etcd
    log_dir: Path = Path("rdmacheck-logs/engines-matrix")
    command: str = "engines matrix"
    on_cell: Callable[[EngineCell], None] = field(default=lambda cell: None)
