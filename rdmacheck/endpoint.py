"""One RC connection to one peer, and how it comes back: reset | recreate | auto."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from rdmacheck.errors import EnvironmentProblem, RdmacheckError
from rdmacheck.handshake.messages import QPInfo
from rdmacheck.verbs.rc import Device, QPTuning, QueuePair, RemoteQP
from rdmacheck.words import Mode, Strategy, oob_on_iwarp_reason, resolve_mode


def usable_mode(mode: str, dev: Device) -> Mode:
    """The concrete mode for this device (auto resolved), refusing oob on iWARP with the reason."""
    m = resolve_mode(mode, dev.info)
    if m is Mode.OOB and dev.is_iwarp:
        raise EnvironmentProblem(oob_on_iwarp_reason(dev.name))
    return m


# Finding identifiers (rdmacheck.findings) of a reset QP's reuse going wrong.
REUSE_REFUSED = "reuse-refused"
REUSE_STALLED = "write-stalled"


class ReuseRefused(RdmacheckError):
    """Connecting a QP that was reset (not recreated) failed: the provider will not reuse it."""

    finding = REUSE_REFUSED


class SilentReset(RdmacheckError):
    """The provider accepted the modify to RESET but the QP is not in RESET (eRDMA's iWARP mode)."""

    finding = "silent-reset"

    def __init__(self, qpn: int, state: str):
        super().__init__(f"silent reset: modify of QP {qpn:#x} to RESET returned success but a query "
                         f"shows {state}")
        self.state = state


def qp_info(dev: Device, qp: QueuePair, name: str, generation: int) -> QPInfo:
    """What the peer needs to know about this QP (sent in a handshake)."""
    return QPInfo(name=name, generation=generation, device=dev.name, port=dev.port, gid=dev.gid.gid, lid=dev.lid,
                  mtu=dev.active_mtu, qpn=qp.qpn, psn=qp.psn)


def remote_qp(peer: QPInfo) -> RemoteQP:
    """What RTR needs from the peer's handshake."""
    return RemoteQP(qpn=peer.qpn, psn=peer.psn, gid=peer.gid, lid=peer.lid, mtu=peer.mtu)


@dataclass
class RenewReport:
    """What a re-establishment did to the surviving side's QP."""
    strategy: str
    qpn_before: int
    qpn_after: int
    state_after_reset: str | None
    ms: float
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"strategy": self.strategy, "qpn_before": self.qpn_before, "qpn_after": self.qpn_after,
                "state_after_reset": self.state_after_reset, "renew_ms": round(self.ms, 3),
                "timings_ms": {k: round(v, 3) for k, v in self.timings_ms.items()}}


@dataclass
class Endpoint:
    dev: Device
    tuning: QPTuning
    name: str
    generation: int
    qp: QueuePair | None = None
    peer: QPInfo | None = None
    cm: object | None = None  # cm mode: the connection's CM id (closed before the QP is renewed)
    last_renew: str | None = None  # the strategy of the latest renew, for findings about the next connect
    pending_renew: RenewReport | None = None  # renewed ahead of the new peer (an etcd watch saw the restart)
    faults: set[str] = field(default_factory=set)  # injected verbs faults, shared by this endpoint's QPs
    checkpoint: Callable[[str], None] = lambda step: None  # kill-at:STEP (after-rtr, after-rts)

    def create(self) -> None:
        self.qp = QueuePair.create(self.dev, self.tuning, faults=self.faults)

    def local_info(self) -> QPInfo:
        assert self.qp is not None
        return qp_info(self.dev, self.qp, self.name, self.generation)

    def establish(self, peer: QPInfo) -> dict[str, float]:
        """INIT -> RTR -> RTS towards peer; returns the transition timings."""
        assert self.qp is not None
        self.qp.timings_ms.clear()
        self.qp.connect(remote_qp(peer), self.checkpoint)
        self.peer = peer
        return dict(self.qp.timings_ms)

    def renew(self, strategy: str) -> RenewReport:
        """Make the QP ready for a new peer: reset it (same QPN) or destroy and recreate it."""
        assert self.qp is not None
        self.drop_cm()
        before = self.qp.qpn
        t0 = time.perf_counter()
        state = None
        if strategy == Strategy.RESET:
            self.qp.timings_ms.clear()
            state = self.qp.reset()
            timings = dict(self.qp.timings_ms)
            if state != "RESET":
                raise SilentReset(before, state)
        elif strategy == Strategy.RECREATE:
            # Make before break: the new QP exists before the old one goes, so it never gets the old
            # QP number back (siw hands out the lowest free number) and stale peers cannot hit it.
            old = self.qp
            self.create()
            old.destroy()
            timings = {"create": self.qp.timings_ms.get("create", 0.0), "destroy": old.timings_ms.get("destroy", 0.0)}
        else:
            raise RdmacheckError(f"renew needs a concrete strategy, not {strategy!r}")
        self.peer = None
        self.last_renew = strategy
        return RenewReport(strategy, before, self.qp.qpn, state, (time.perf_counter() - t0) * 1000, timings)

    def drop_cm(self) -> None:
        """Disconnect and destroy the CM id of the previous connection, if any."""
        if self.cm is not None:
            try:
                self.cm.close()
            except Exception:  # noqa: BLE001 - the connection is already gone
                pass
            self.cm = None

    def close(self) -> None:
        self.drop_cm()
        if self.qp is not None:
            self.qp.destroy()
            self.qp = None
