"""Endpoints created on demand from both sides at once (simultaneous open), without a hang.

The rules (Mooncake's fix of its simultaneous-open bug):
- an endpoint is CONNECTING while one caller handshakes for it; other callers wait on it,
  bounded by their deadline;
- the handshake is sent without holding the lock, so the passive side of this process can
  answer the peer's handshake for the same endpoint meanwhile;
- the passive side reuses a CONNECTING or CONNECTED endpoint and applies the peer's parameters
  to it (so both handshakes of a simultaneous open describe the same pair of QPs);
- a repeated handshake with the same peer QP is idempotent; another peer QP or generation
  means the peer restarted: the QP is recreated for it.

`policy="delete"` restores the old behaviour (the passive side deletes a CONNECTING endpoint
and answers from a new one; the active caller still connects the QP it sent): the connections
cross and the deleted endpoints' QPs are destroyed under traffic. It exists so the harness can
show the bug it catches.

Pure logic: QPs are made through a `Fabric` and handshakes sent through a `Dialer`, so every
interleaving can be driven deterministically in a host test; the lab runs it on real verbs.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Protocol

from rdmacheck.errors import DeadlineExceeded, RdmacheckError
from rdmacheck.handshake.messages import QPInfo

IDLE, CONNECTING, CONNECTED = "IDLE", "CONNECTING", "CONNECTED"
POLICIES = ("reuse", "delete")


@dataclass(frozen=True)
class EndpointKey:
    device: str  # local device
    peer: str  # peer process name
    peer_device: str
    channel: int = 0  # several endpoints between the same two devices

    def __str__(self) -> str:
        return f"{self.device}->{self.peer}@{self.peer_device}#{self.channel}"


class Fabric(Protocol):
    """The verbs calls the manager needs."""
    def create(self) -> object: ...
    def info(self, qp: object) -> QPInfo: ...
    def connect(self, qp: object, peer: QPInfo) -> None: ...
    def destroy(self, qp: object) -> None: ...


class HandshakeFailed(RdmacheckError):
    """The active handshake did not get an answer (peer not up, connection lost, rejected)."""


# dial(key, our QP) -> the peer's QP for that endpoint; raises HandshakeFailed.
Dialer = Callable[[EndpointKey, QPInfo, float], QPInfo]


@dataclass
class ManagedEndpoint:
    key: EndpointKey
    qp: object
    state: str = IDLE
    peer: QPInfo | None = None
    epoch: int = 0  # bumped whenever the QP is replaced; a reply for an older epoch is stale
    peer_qpns: list[int] = field(default_factory=list)  # every peer QP this endpoint was paired with
    crossed: str | None = None  # set when the two sides disagree about the pair (delete policy)


@dataclass
class Stats:
    sent: int = 0  # active handshakes sent
    answered: int = 0  # passive handshakes answered
    merged: int = 0  # a passive handshake applied to an endpoint that was CONNECTING here
    repeated: int = 0  # idempotent repeats (same peer QP)
    retried: int = 0  # active handshakes that failed and were sent again
    waited: int = 0  # times a caller found a handshake in flight and waited for it
    stale: int = 0  # replies for a QP that had been replaced meanwhile
    peer_restarts: int = 0  # another peer QP or generation for a connected endpoint
    deleted: int = 0  # delete policy: CONNECTING endpoints deleted by the passive side
    crossed: int = 0  # a reply that names another peer QP than the one this endpoint is paired with

    def to_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class Backoff:
    first: float = 0.01
    cap: float = 0.2

    def delay(self, attempt: int) -> float:
        return min(self.cap, self.first * (2 ** attempt))


class EndpointManager:
    def __init__(self, fabric: Fabric, dial: Dialer, policy: str = "reuse", backoff: Backoff | None = None):
        if policy not in POLICIES:
            raise RdmacheckError(f"passive policy must be one of {POLICIES}, not {policy!r}")
        self.fabric = fabric
        self.dial = dial
        self.policy = policy
        self.backoff = backoff or Backoff()
        self.stats = Stats()
        self.endpoints: dict[EndpointKey, ManagedEndpoint] = {}
        self.reclaimed: list[object] = []  # delete policy: QPs of deleted endpoints, destroyed later
        self.cond = threading.Condition()

    # --- active side ---------------------------------------------------------------------------

    def get(self, key: EndpointKey, timeout: float) -> ManagedEndpoint:
        """The connected endpoint for key: handshake for it, or wait for the caller that does."""
        deadline = time.monotonic() + timeout
        attempt = 0
        last = "no answer yet"
        while True:
            with self.cond:
                ep = self._ensure(key)
                if ep.state == CONNECTING:
                    self.stats.waited += 1
                while ep.state == CONNECTING:
                    left = deadline - time.monotonic()
                    if left <= 0 or not self.cond.wait(left):
                        raise DeadlineExceeded(f"endpoint {key} to connect (another caller's handshake)", timeout)
                    ep = self._ensure(key)
                if ep.state == CONNECTED:
                    return ep
                ep.state, epoch, local = CONNECTING, ep.epoch, self.fabric.info(ep.qp)
                self.stats.sent += 1
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise HandshakeFailed(last)
                peer = self.dial(key, local, left)  # not under the lock: the passive side may run meanwhile
            except HandshakeFailed as e:
                last = str(e)
                with self.cond:
                    if ep.state == CONNECTING and ep.epoch == epoch:
                        ep.state = IDLE
                    self.cond.notify_all()  # a waiter may take over
                    if time.monotonic() + self.backoff.delay(attempt) >= deadline:
                        raise DeadlineExceeded(f"a handshake for endpoint {key} (last: {last})", timeout) from None
                    self.stats.retried += 1
                time.sleep(self.backoff.delay(attempt))
                attempt += 1
                continue
            with self.cond:
                done = self._on_reply(key, ep, epoch, peer)
                self.cond.notify_all()
                if done is not None:
                    return done

    def _on_reply(self, key: EndpointKey, ep: ManagedEndpoint, epoch: int, peer: QPInfo) -> ManagedEndpoint | None:
        current = self.endpoints.get(key)
        if self.policy == "delete" and (current is not ep or ep.epoch != epoch):
            # The old behaviour: the caller connects the QP it sent, deleted or not. Now two QPs here
            # are paired with the peer for one endpoint: the connections cross.
            self.fabric.connect(ep.qp, peer)
            ep.peer, ep.state = peer, CONNECTED
            ep.peer_qpns.append(peer.qpn)
            if current is not None:
                current.peer_qpns.append(peer.qpn)
                current.crossed = (f"this side's QP {self.fabric.info(ep.qp).qpn} was deleted by the passive "
                                   f"side but connected to peer QP {peer.qpn} anyway")
                self.stats.crossed += 1
            return ep
        if current is not ep or ep.epoch != epoch:
            self.stats.stale += 1  # our QP was replaced while the handshake was in flight: send again
            if current is not None and current.state == CONNECTING and current.epoch == ep.epoch:
                current.state = IDLE
            return None
        if ep.state == CONNECTED:
            assert ep.peer is not None
            if peer.qpn == ep.peer.qpn and peer.generation == ep.peer.generation:
                return ep  # the passive side already applied these parameters: merged
            if peer.generation < ep.peer.generation:
                self.stats.stale += 1  # a reply from the peer's previous life: keep the newer pairing
                return ep
            ep.crossed = f"paired with peer QP {ep.peer.qpn}, but the peer's reply names QP {peer.qpn}"
            ep.peer_qpns.append(peer.qpn)
            self.stats.crossed += 1
            return ep
        self.fabric.connect(ep.qp, peer)
        ep.peer, ep.state = peer, CONNECTED
        ep.peer_qpns.append(peer.qpn)
        return ep

    # --- passive side --------------------------------------------------------------------------

    def on_handshake(self, key: EndpointKey, peer: QPInfo) -> QPInfo:
        """The peer's handshake for key: pair one of our QPs with its QP and answer with ours."""
        with self.cond:
            self.stats.answered += 1
            ep = self.endpoints.get(key)
            if self.policy == "delete" and ep is not None and ep.state == CONNECTING:
                self.reclaimed.append(ep.qp)  # the old bug: the half-open endpoint is thrown away
                del self.endpoints[key]
                self.stats.deleted += 1
                ep = None
            ep = ep or self._ensure(key)
            if ep.state == CONNECTED:
                assert ep.peer is not None
                if ep.peer.qpn == peer.qpn and ep.peer.generation == peer.generation:
                    self.stats.repeated += 1
                    return self.fabric.info(ep.qp)
                if peer.generation < ep.peer.generation:
                    raise HandshakeFailed(f"a handshake from the peer's previous generation {peer.generation} "
                                          f"(now {ep.peer.generation})")
                self.stats.peer_restarts += 1  # another QP or generation: the peer restarted
                self._replace_qp(ep)
            elif ep.state == CONNECTING:
                self.stats.merged += 1
            self.fabric.connect(ep.qp, peer)
            ep.peer, ep.state = peer, CONNECTED
            ep.peer_qpns.append(peer.qpn)
            self.cond.notify_all()
            return self.fabric.info(ep.qp)

    # --- bookkeeping ---------------------------------------------------------------------------

    def _ensure(self, key: EndpointKey) -> ManagedEndpoint:
        ep = self.endpoints.get(key)
        if ep is None:
            ep = self.endpoints[key] = ManagedEndpoint(key, self.fabric.create())
        return ep

    def _replace_qp(self, ep: ManagedEndpoint) -> None:
        new = self.fabric.create()  # make before break: the new QP never gets the old number
        self.fabric.destroy(ep.qp)
        ep.qp, ep.epoch, ep.state, ep.peer = new, ep.epoch + 1, IDLE, None

    def reclaim(self) -> int:
        """Destroy the QPs of deleted endpoints (the old bug did this under live traffic)."""
        with self.cond:
            qps, self.reclaimed = self.reclaimed, []
        for qp in qps:
            self.fabric.destroy(qp)
        return len(qps)

    def close_all(self) -> int:
        """Destroy every endpoint's QP (and reclaimed ones); returns how many QPs were destroyed."""
        with self.cond:
            eps, self.endpoints = list(self.endpoints.values()), {}
        n = self.reclaim()
        for ep in eps:
            self.fabric.destroy(ep.qp)
        return n + len(eps)
