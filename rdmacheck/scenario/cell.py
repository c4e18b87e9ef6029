"""One cell, fully specified: which devices, mode, strategy and restart side, and every setting its
role processes get. A scenario yields cells; `reestablish --local` is a one-cell scenario. The
runner derives each role's config from the spec (`for_role`) and the secrets each child is given
in its own environment (`child_env`): nothing is copied by hand between containers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rdmacheck.faults import Faults
from rdmacheck.metadata.etcd import EtcdConfig
from rdmacheck.roles.config import RoleConfig
from rdmacheck.roles.spawn import SPAWNS, secrets_env, spawn_policy
from rdmacheck.verbs.rc import QPTuning
from rdmacheck.words import Mode, Restart, Role, Strategy

SIGNALS = ("KILL", "TERM")


@dataclass(frozen=True)
class CellSpec:
    # the cell's coordinates in a grid
    device: str
    target_device: str | None = None  # default: device
    mode: Mode = Mode.AUTO
    strategy: Strategy = Strategy.AUTO
    restart: Restart = Restart.INITIATOR
    provider: str = "?"  # known when the cell was planned from a device listing
    scenario: str | None = None
    # what the roles do
    rounds: int = 3
    buffer_size: int = 64 << 20  # target: registered and exposed
    length: int = 4 << 20  # initiator: written, verified and read back per round
    offset: int = 0  # initiator: into the target's buffer
    gid_index: int | None = None
    ib_port: int | None = None
    tuning: QPTuning = field(default_factory=QPTuning)
    heartbeat: float = 0.5  # initiator: seconds between liveness checks while holding
    hold_probe: bool = False  # initiator: also a 64 B RDMA WRITE every heartbeat
    inject: Faults = Faults()  # faults handed to both roles (kill-at / link-down: to the runner)
    # deadlines
    start_timeout: float = 60.0  # python + pyverbs start-up under TCG is seconds
    round_timeout: float = 60.0
    reconnect_timeout: float = 30.0
    io_timeout: float = 30.0
    # the restart
    restart_signal: str = "KILL"  # KILL = kill -9; TERM = a clean exit
    restart_delay: float = 0.0  # seconds between the death and the new process
    # where the roles meet
    host: str = "127.0.0.1"  # the target's handshake host (a --target-netns target: its namespace's IPv4)
    port: int = 0  # 0 = a free port
    cm_port: int | None = None  # target, cm mode (default: the handshake port + 1)
    cm_addr: str | None = None  # both roles, cm mode: the device's IP (default: its netdev's IPv4)
    target_netns: str | None = None
    metadata: EtcdConfig | None = None  # None = p2p
    token: bytes | None = field(default=None, repr=False)
    initiator_name: str = "initiator"
    target_name: str = "target"
    # the run's own
    log_dir: Path | None = None
    # fork: role processes are forks of the runner (pyverbs imported once); exec: each a fresh
    # interpreter. Every role is exec'd while the runner must not fork (roles.forked.fork_blocker).
    spawn: str = field(default_factory=spawn_policy)

    def __post_init__(self) -> None:
        # Accept spellings (scenario files, JSON) and keep members, so every comparison is the enum's.
        for name, kind in (("mode", Mode), ("strategy", Strategy), ("restart", Restart)):
            object.__setattr__(self, name, kind(getattr(self, name)))
        object.__setattr__(self, "inject", Faults.of(self.inject))
        if self.restart_signal not in SIGNALS:
            raise ValueError(f"restart_signal must be one of {', '.join(SIGNALS)}, not {self.restart_signal!r}")
        if self.spawn not in SPAWNS:
            raise ValueError(f"RDMACHECK_SPAWN must be fork or exec, not {self.spawn!r}")

    @property
    def label(self) -> str:
        return f"{self.device} {self.mode} {self.strategy} restart={self.restart}"

    def device_of(self, role: Role | str) -> str:
        return self.target_device or self.device if role == Role.TARGET else self.device

    def for_role(self, role: Role | str, addr: tuple[str, int], faults: Faults = Faults()) -> RoleConfig:
        """What a role process of this cell is told: the target listens on addr, the initiator
        connects to it. `faults` go to this process only (self.inject: to every process)."""
        common = dict(device=self.device_of(role), strategy=self.strategy, mode=self.mode, gid_index=self.gid_index,
                      ib_port=self.ib_port, cm_addr=self.cm_addr, tuning=self.tuning,
                      inject=self.inject + faults, metadata=self.metadata, token=self.token,
                      io_timeout=self.io_timeout)
        if Role(role) is Role.TARGET:
            return RoleConfig(role=Role.TARGET, name=self.target_name, listen=addr, buffer_size=self.buffer_size,
                              cm_port=self.cm_port, **common)
        return RoleConfig(role=Role.INITIATOR, name=self.initiator_name, target_name=self.target_name, peer=addr,
                          length=self.length, offset=self.offset, rounds=0, reconnect_timeout=self.reconnect_timeout,
                          heartbeat=self.heartbeat, hold_probe=self.hold_probe, **common)

    def child_env(self) -> dict[str, str]:
        """The secrets a role process of this cell gets in its own environment (never on its command line)."""
        return secrets_env(self.token, self.metadata)
