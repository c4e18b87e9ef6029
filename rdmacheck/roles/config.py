"""What a role process is told on its command line."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

from rdmacheck.faults import Faults
from rdmacheck.metadata.etcd import EtcdConfig
from rdmacheck.verbs.rc import QPTuning
from rdmacheck.words import Mode, Role, Strategy

# Secrets reach a role process in its environment, never on its command line (ps shows that).
TOKEN_ENV = "RDMACHECK_TOKEN"
PASSWORD_ENV = "RDMACHECK_ETCD_PASSWORD"


@dataclass
class RoleConfig:
    role: Role
    device: str
    name: str
    strategy: Strategy = Strategy.AUTO
    mode: Mode = Mode.AUTO  # cm on iWARP
    cm_port: int | None = None  # target: rdma_cm listen port (default: --listen port + 1)
    cm_addr: str | None = None  # the device's IP for rdma_cm (default: its netdev's IPv4)
    gid_index: int | None = None
    ib_port: int | None = None
    listen: tuple[str, int] | None = None  # target
    peer: tuple[str, int] | None = None  # initiator
    buffer_size: int = 64 << 20  # target: registered and exposed
    length: int = 4 << 20  # initiator: bytes written + read back per round
    offset: int = 0
    rounds: int = 0  # initiator: verified rounds before exiting; 0 = until killed
    reconnect_timeout: float = 30.0
    io_timeout: float = 30.0
    heartbeat: float = 0.5
    hold_probe: bool = False  # initiator: a 64 B RDMA WRITE every heartbeat while holding (sees a dead path)
    measure_link: bool = False  # initiator: after its first verified round, the link's latency and bandwidth
    tuning: QPTuning = field(default_factory=QPTuning)
    metadata: EtcdConfig | None = None  # None = p2p (the handshake address is given directly)
    target_name: str = "target"  # initiator with etcd: whose descriptor to look up and watch
    token: bytes | None = None  # shared secret authenticating every handshake message
    inject: Faults = field(default_factory=Faults)  # faults: reset-noop, rtr-einval, handshake-*, kill-at, ...

    def __post_init__(self) -> None:
        self.role, self.strategy, self.mode = Role(self.role), Strategy(self.strategy), Mode(self.mode)
        self.inject = Faults.of(self.inject)

    def to_json(self) -> str:
        """For a child process's command line; the secrets never go there (the child reads them
        from its environment: TOKEN_ENV, PASSWORD_ENV)."""
        d = {**asdict(self), "token": None, "inject": self.inject.specs()}
        if d["metadata"]:
            d["metadata"]["password"] = None
        return json.dumps(d, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "RoleConfig":
        from rdmacheck.handshake.auth import load_token  # noqa: PLC0415

        d = json.loads(text)
        d["tuning"] = QPTuning(**d["tuning"])
        if d.get("metadata"):
            d["metadata"] = EtcdConfig(**{**d["metadata"], "endpoints": [tuple(e) for e in d["metadata"]["endpoints"]],
                                          "password": os.environ.get(PASSWORD_ENV)})
        for key in ("listen", "peer"):
            d[key] = tuple(d[key]) if d.get(key) else None
        d["token"] = load_token(None, None)
        return cls(**d)
