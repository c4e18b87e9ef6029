"""The endpoint manager's Fabric on real verbs: one RC QP (with its own CQ) per endpoint."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from rdmacheck.handshake.messages import QPInfo
from rdmacheck.endpoint import qp_info, remote_qp
from rdmacheck.verbs.rc import Device, QPTuning, QueuePair

SEND_DEPTH = 4  # one WRITE per endpoint and round; small queues keep 512 QPs cheap


@dataclass
class VerbsFabric:
    dev: Device
    tuning: QPTuning
    name: str
    generation: int
    created: int = 0
    destroyed: int = 0
    _live: dict[int, QueuePair] = field(default_factory=dict)

    # Every QP is made by one long-lived thread: the kernel files a QP under the thread that
    # created it and hides it from `rdma resource show` once that thread has exited, so QPs made
    # by short-lived handshake threads could not be counted (nor their leaks seen).
    _maker: ThreadPoolExecutor = field(default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="qp-maker"))

    def create(self) -> QueuePair:
        qp = self._maker.submit(QueuePair.create, self.dev, self.tuning, SEND_DEPTH).result()
        self.created += 1
        self._live[id(qp)] = qp
        return qp

    def info(self, qp: QueuePair) -> QPInfo:
        return qp_info(self.dev, qp, self.name, self.generation)

    def connect(self, qp: QueuePair, peer: QPInfo) -> None:
        qp.connect(remote_qp(peer))

    def destroy(self, qp: QueuePair) -> None:
        if id(qp) in self._live:
            del self._live[id(qp)]
            self.destroyed += 1
            qp.destroy()

    def live_qpns(self) -> set[int]:
        """QP numbers of every QP made here and not destroyed, whether an endpoint holds it or not."""
        return {qp.qpn for qp in self._live.values()}
