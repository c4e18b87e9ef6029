"""What a role process is told on its command line."""

from __future__ import annotations

from dataclasses import dataclass, field

from rdmacheck.metadata.etcd import EtcdConfig
from rdmacheck.verbs.rc import QPTuning


@dataclass
class RoleConfig:
    role: str  # "target" | "initiator"
    device: str
    name: str
    strategy: str = "auto"
    mode: str = "auto"  # oob | cm | auto (cm on iWARP)
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
    tuning: QPTuning = field(default_factory=QPTuning)
    metadata: EtcdConfig | None = None  # None = p2p (the handshake address is given directly)
    target_name: str = "target"  # initiator with etcd: whose descriptor to look up and watch
