"""What a role process is told on its command line."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field

from rdmacheck.metadata.etcd import EtcdConfig
from rdmacheck.verbs.rc import QPTuning
from rdmacheck.words import Mode, Role, Strategy

# Secrets reach a role process in its environment, never on its command line (ps shows that).
TOKEN_ENV = "RDMACHECK_TOKEN"
PASSWORD_ENV = "RDMACHECK_ETCD_PASSWORD"


VERBS_FAULTS = ("reset-noop", "rtr-einval")
HANDSHAKE_FAULTS = ("handshake-drop", "handshake-delay", "handshake-garble")
CM_FAULTS = ("cm-event-error",)  # the target's next rdma_get_cm_event fails (its event loop must not die quietly)
# kill-at:STEP - the role SIGKILLs itself when it reaches STEP (mid-write: the initiator only).
KILL_STEPS = ("before-handshake", "after-handshake-sent", "after-rtr", "after-rts", "mid-write", "after-write",
              "during-reestablish")


def check_fault(spec: str) -> str:
    name, _, arg = spec.partition(":")
    if name not in VERBS_FAULTS + HANDSHAKE_FAULTS + CM_FAULTS + ("kill-at", "link-down"):
        raise ValueError(f"unknown fault {spec!r}; known: {', '.join(VERBS_FAULTS)}, handshake-drop, "
                         f"handshake-delay:MS, handshake-garble, cm-event-error, kill-at:STEP, link-down:SECONDS")
    if name == "link-down":
        try:
            ok = 0 < float(arg) <= 600
        except ValueError:
            ok = False
        if not ok:
            raise ValueError("link-down needs seconds in (0, 600]: link-down:SECONDS")
    if name == "handshake-delay" and not arg.isdigit():
        raise ValueError("handshake-delay needs milliseconds: handshake-delay:MS")
    if name == "kill-at" and arg not in KILL_STEPS:
        raise ValueError(f"kill-at needs a step: kill-at:{{{','.join(KILL_STEPS)}}}")
    return spec


def check_fault_for(spec: str, role: Role) -> None:
    """A fault this role never acts on is refused (else it would be accepted and ignored): the
    initiator sends the handshake and is the only one mid-write; the target runs the rdma_cm loop."""
    name, _, arg = spec.partition(":")
    if role is Role.TARGET and (name in HANDSHAKE_FAULTS or (name == "kill-at" and arg == "mid-write")):
        raise ValueError(f"{spec} is the initiator's fault (the initiator sends the handshake and writes): "
                         "give it to --role initiator")
    if role is Role.INITIATOR and name in CM_FAULTS:
        raise ValueError(f"{spec} is the target's fault (the target runs the rdma_cm event loop): give it to "
                         "--role target")


def kill_step(inject: list[str]) -> str | None:
    return next((f.partition(":")[2] for f in inject if f.startswith("kill-at:")), None)


def link_down_seconds(inject: list[str]) -> float | None:
    """link-down:SECONDS - the runner takes the device's netdev down that long (not a role fault)."""
    return next((float(f.partition(":")[2]) for f in inject if f.startswith("link-down:")), None)


def verbs_faults(inject: list[str]) -> set[str]:
    return {f for f in inject if f in VERBS_FAULTS}


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
    tuning: QPTuning = field(default_factory=QPTuning)
    metadata: EtcdConfig | None = None  # None = p2p (the handshake address is given directly)
    target_name: str = "target"  # initiator with etcd: whose descriptor to look up and watch
    token: bytes | None = None  # shared secret authenticating every handshake message
    inject: list[str] = field(default_factory=list)  # faults: reset-noop, rtr-einval, handshake-*

    def __post_init__(self) -> None:
        self.role, self.strategy, self.mode = Role(self.role), Strategy(self.strategy), Mode(self.mode)

    def to_json(self) -> str:
        """For a child process's command line; the secrets never go there (the child reads them
        from its environment: TOKEN_ENV, PASSWORD_ENV)."""
        d = {**asdict(self), "token": None}
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
