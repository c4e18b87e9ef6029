"""RC connections over pyverbs, built in layers: device -> PD/CQ/MR -> QP (as rdma-core's tests do).

Every QP transition is timed; a failure raises VerbsError naming step, errno and attributes.
After a modify to RESET the state is queried, because some providers return 0 and do nothing.
"""

from __future__ import annotations

import errno
import random
import time
from dataclasses import dataclass, field

from rdmacheck.errors import DeadlineExceeded, EnvironmentProblem
from rdmacheck.verbs import compat
from rdmacheck.verbs.compat import ibv
from rdmacheck.verbs.devices import DeviceInfo, list_devices
from rdmacheck.verbs.errors import CompletionError, VerbsError, errno_of
from rdmacheck.verbs.gid import GidEntry, default_gid, is_zero_gid, normalize_gid


@dataclass(frozen=True)
class QPTuning:
    """Attributes of INIT/RTR/RTS. retry_cnt 7 means 'retry forever' on rxe: default 6."""
    timeout: int = 14
    retry_cnt: int = 6
    rnr_retry: int = 6
    min_rnr_timer: int = 12
    max_rd_atomic: int = 16
    mtu: int | None = None  # bytes; default = min(local active MTU, peer MTU)
    remote_atomic: bool = False  # INIT also grants REMOTE_ATOMIC (Mooncake's QPs do)

    def retry_bound_s(self) -> float | None:
        """How long an RC QP retries an unanswered request before RETRY_EXC_ERR: (retry_cnt + 1) x
        4.096 us x 2^timeout (0.47 s with the defaults). None: timeout 0 waits forever, and retry_cnt 7
        retries forever on rxe."""
        if self.timeout == 0 or self.retry_cnt >= 7:
            return None
        return (self.retry_cnt + 1) * 4.096e-6 * 2 ** self.timeout


@dataclass(frozen=True)
class RemoteQP:
    """What RTR needs to know about the peer's QP."""
    qpn: int
    psn: int
    gid: str
    lid: int
    mtu: int  # bytes


@dataclass
class Device:
    """An opened device with its PD, the chosen port and GID."""
    info: DeviceInfo
    ctx: object
    pd: object
    port: int
    gid: GidEntry
    active_mtu: int
    lid: int

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def is_iwarp(self) -> bool:
        return self.info.is_iwarp

    @classmethod
    def open(cls, name: str, gid_index: int | None = None, port: int | None = None) -> "Device":
        from pyverbs.device import Context  # noqa: PLC0415
        from pyverbs.pd import PD  # noqa: PLC0415

        # Only this device is queried (GID table, netdev, addresses): all of them cost ~1 s under TCG.
        info = list_devices(only=name)[0]
        ports = [p for p in info.ports if port in (None, p.port)]
        if not ports:
            raise EnvironmentProblem(f"{name} has no port {port}; ports: {[p.port for p in info.ports]}")
        active = [p for p in ports if p.state == "ACTIVE"] or ports
        pinfo = active[0]
        if pinfo.state != "ACTIVE":
            raise EnvironmentProblem(f"{name} port {pinfo.port} is {pinfo.state}, not ACTIVE")
        if gid_index is None:
            gid = default_gid(pinfo.gids)
            if gid is None:
                raise EnvironmentProblem(f"{name} port {pinfo.port} has no usable (non-zero) GID")
        else:
            match = [g for g in pinfo.gids if g.index == gid_index]
            if not match or is_zero_gid(match[0].gid):
                have = ", ".join(f"{g.index} ({g.type} {g.ip or g.gid})" for g in pinfo.gids) or "none"
                raise EnvironmentProblem(f"GID index {gid_index} on {name} port {pinfo.port} is empty or missing; "
                                         f"valid indexes: {have}")
            gid = match[0]
        ctx = Context(name=name)
        return cls(info=info, ctx=ctx, pd=PD(ctx), port=pinfo.port, gid=gid,
                   active_mtu=pinfo.active_mtu, lid=pinfo.lid)

    def ipv4(self) -> str | None:
        """The IPv4 address rdma_cm binds this device by (its netdev's, or the GID's)."""
        return self.info.netdev_ipv4(self.port) or (self.gid.ip if self.gid.ip and "." in self.gid.ip else None)

    def cq(self, depth: int = 256):
        from pyverbs.cq import CQ  # noqa: PLC0415
        return CQ(self.ctx, depth, None, None, 0)

    def close(self) -> None:
        for obj in (self.pd, self.ctx):
            try:
                obj.close()
            except Exception:  # noqa: BLE001 - closing twice or after a failure is harmless
                pass




def _access() -> int:
    return (ibv.IBV_ACCESS_LOCAL_WRITE | ibv.IBV_ACCESS_REMOTE_WRITE | ibv.IBV_ACCESS_REMOTE_READ)


class Buffer:
    """A registered memory region: addr/length/rkey to expose, bytes in and out."""

    def __init__(self, dev: Device, length: int):
        from pyverbs.mr import MR  # noqa: PLC0415
        if length <= 0:
            raise ValueError("buffer length must be positive")
        try:
            self.mr = MR(dev.pd, length, _access())
        except Exception as e:  # noqa: BLE001
            raise VerbsError("register MR", errno_of(e), {"device": dev.name, "length": length},
                             detail=str(e)) from None
        self.length = length

    @property
    def addr(self) -> int:
        return self.mr.buf

    @property
    def rkey(self) -> int:
        return self.mr.rkey

    @property
    def lkey(self) -> int:
        return self.mr.lkey

    def write(self, offset: int, data: bytes) -> None:
        self.mr.write(data, len(data), offset)

    def read(self, offset: int, length: int) -> bytes:
        return self.mr.read(length, offset)

    def close(self) -> None:
        self.mr.close()


def new_psn() -> int:
    return random.getrandbits(24)


@dataclass
class QueuePair:
    """One RC QP and its CQ, with timed transitions."""
    dev: Device
    tuning: QPTuning
    cq: object = None
    qp: object = None
    psn: int = 0
    timings_ms: dict[str, float] = field(default_factory=dict)
    remote: RemoteQP | None = None
    faults: set[str] = field(default_factory=set)  # injected: "reset-noop", "rtr-einval" (once)

    @classmethod
    def create(cls, dev: Device, tuning: QPTuning, depth: int = 128, faults: set[str] | None = None) -> "QueuePair":
        from pyverbs.qp import QP, QPCap, QPInitAttr  # noqa: PLC0415
        self = cls(dev=dev, tuning=tuning, faults=faults if faults is not None else set())
        t0 = time.perf_counter()
        self.cq = dev.cq(depth * 2)
        cap = QPCap(max_send_wr=depth, max_recv_wr=4, max_send_sge=1, max_recv_sge=1)
        try:
            self.qp = QP(dev.pd, QPInitAttr(qp_type=ibv.IBV_QPT_RC, scq=self.cq, rcq=self.cq, cap=cap))
        except Exception as e:  # noqa: BLE001
            self.cq.close()
            raise VerbsError("create QP", errno_of(e), {"device": dev.name, "max_send_wr": depth},
                             detail=str(e)) from None
        self.timings_ms["create"] = (time.perf_counter() - t0) * 1000
        self.psn = new_psn()
        return self

    @property
    def qpn(self) -> int:
        return self.qp.qp_num

    def _modify(self, step: str, attr, mask: int, attrs: dict) -> None:
        t0 = time.perf_counter()
        try:
            self.qp.modify(attr, mask)
        except Exception as e:  # noqa: BLE001
            raise VerbsError(f"modify QP {self.qpn:#x} to {step}", errno_of(e), attrs, detail=str(e)) from None
        self.timings_ms[step] = (time.perf_counter() - t0) * 1000

    def to_init(self) -> None:
        from pyverbs.qp import QPAttr  # noqa: PLC0415
        attr = QPAttr(qp_state=ibv.IBV_QPS_INIT)
        attr.pkey_index = 0
        attr.port_num = self.dev.port
        attr.qp_access_flags = _access() | (ibv.IBV_ACCESS_REMOTE_ATOMIC if self.tuning.remote_atomic else 0)
        mask = ibv.IBV_QP_STATE | ibv.IBV_QP_PKEY_INDEX | ibv.IBV_QP_PORT | ibv.IBV_QP_ACCESS_FLAGS
        self._modify("INIT", attr, mask, {"port": self.dev.port, "access": attr.qp_access_flags})

    def path_mtu(self, remote: RemoteQP) -> int:
        candidates = [m for m in (self.dev.active_mtu, remote.mtu, self.tuning.mtu) if m]
        return min(candidates)

    def to_rtr(self, remote: RemoteQP) -> None:
        from pyverbs.addr import AHAttr, GID, GlobalRoute  # noqa: PLC0415
        from pyverbs.qp import QPAttr  # noqa: PLC0415
        mtu = self.path_mtu(remote)
        attrs = {"path_mtu": mtu, "gid_index": self.dev.gid.index, "dest_qpn": remote.qpn,
                 "rq_psn": remote.psn, "dgid": remote.gid, "dlid": remote.lid, "port": self.dev.port}
        try:
            gr = GlobalRoute(dgid=GID(normalize_gid(remote.gid)), sgid_index=self.dev.gid.index, hop_limit=64)
            ah = AHAttr(gr=gr, is_global=1, port_num=self.dev.port, dlid=remote.lid)
            attr = QPAttr(qp_state=ibv.IBV_QPS_RTR)
            attr.path_mtu = compat.mtu_enum(mtu)
            attr.dest_qp_num = remote.qpn
            attr.rq_psn = remote.psn
            attr.max_dest_rd_atomic = min(self.tuning.max_rd_atomic, self.dev.info.max_qp_rd_atom or 1)
            attr.min_rnr_timer = self.tuning.min_rnr_timer
            attr.ah_attr = ah
        except ValueError as e:
            raise VerbsError(f"modify QP {self.qpn:#x} to RTR", None, attrs, detail=str(e)) from None
        mask = (ibv.IBV_QP_STATE | ibv.IBV_QP_AV | ibv.IBV_QP_PATH_MTU | ibv.IBV_QP_DEST_QPN |
                ibv.IBV_QP_RQ_PSN | ibv.IBV_QP_MAX_DEST_RD_ATOMIC | ibv.IBV_QP_MIN_RNR_TIMER)
        if "rtr-einval" in self.faults:  # like a wrapped ibv_modify_qp failing once
            self.faults.discard("rtr-einval")
            raise VerbsError(f"modify QP {self.qpn:#x} to RTR", errno.EINVAL, attrs)
        self._modify("RTR", attr, mask, attrs)
        self.remote = remote

    def to_rts(self) -> None:
        from pyverbs.qp import QPAttr  # noqa: PLC0415
        t = self.tuning
        attr = QPAttr(qp_state=ibv.IBV_QPS_RTS)
        attr.timeout = t.timeout
        attr.retry_cnt = t.retry_cnt
        attr.rnr_retry = t.rnr_retry
        attr.sq_psn = self.psn
        attr.max_rd_atomic = min(t.max_rd_atomic, self.dev.info.max_qp_rd_atom or 1)
        mask = (ibv.IBV_QP_STATE | ibv.IBV_QP_TIMEOUT | ibv.IBV_QP_RETRY_CNT | ibv.IBV_QP_RNR_RETRY |
                ibv.IBV_QP_SQ_PSN | ibv.IBV_QP_MAX_QP_RD_ATOMIC)
        self._modify("RTS", attr, mask, {"timeout": t.timeout, "retry_cnt": t.retry_cnt,
                                         "rnr_retry": t.rnr_retry, "sq_psn": self.psn,
                                         "dest_qpn": self.remote.qpn if self.remote else None})

    def connect(self, remote: RemoteQP, reached=lambda step: None) -> None:
        """INIT -> RTR -> RTS towards remote; reached(step) after RTR and RTS (kill-at faults)."""
        self.to_init()
        self.to_rtr(remote)
        reached("after-rtr")
        self.to_rts()
        reached("after-rts")

    def queried_path_mtu(self) -> int | None:
        """The path MTU the QP was brought up with (bytes), as the provider reports it; None if it will not say."""
        try:
            attr, _ = self.qp.query(ibv.IBV_QP_PATH_MTU)
            return 128 << int(attr.path_mtu)
        except Exception:  # noqa: BLE001 - evidence only, never a failure
            return None

    def state(self) -> str:
        attr, _ = self.qp.query(ibv.IBV_QP_STATE)
        return compat.qp_state_name(attr.qp_state)

    def reset(self) -> str:
        """Modify to RESET, drain the CQ, and return the state the query then reports."""
        from pyverbs.qp import QPAttr  # noqa: PLC0415
        if "reset-noop" in self.faults:  # eRDMA's iWARP mode: the modify returns 0 and does nothing
            self.timings_ms["RESET"] = 0.0
        else:
            self._modify("RESET", QPAttr(qp_state=ibv.IBV_QPS_RESET), ibv.IBV_QP_STATE, {})
        self.drain()
        self.psn = new_psn()
        self.remote = None
        return self.state()

    def drain(self) -> int:
        n = 0
        while True:
            got, _ = self.cq.poll(num_entries=16)
            if got <= 0:
                return n
            n += got

    def destroy(self) -> None:
        t0 = time.perf_counter()
        for obj in (self.qp, self.cq):
            try:
                if obj is not None:
                    obj.close()
            except Exception:  # noqa: BLE001
                pass
        self.timings_ms["destroy"] = (time.perf_counter() - t0) * 1000

    # --- data movement -------------------------------------------------------------------------

    def transfer(self, op: str, local: Buffer, local_off: int, remote_addr: int, rkey: int, length: int,
                 deadline_s: float, chunk: int = 1 << 20, depth: int = 16, on_posted=None,
                 spin: bool = False) -> float:
        """RDMA WRITE or READ `length` bytes in chunks, `depth` in flight; return seconds taken."""
        from pyverbs.wr import SGE, SendWR  # noqa: PLC0415
        opcode = ibv.IBV_WR_RDMA_WRITE if op == "write" else ibv.IBV_WR_RDMA_READ
        t0 = time.monotonic()
        deadline = t0 + deadline_s
        offsets = list(range(0, length, chunk))
        posted = done = 0
        while done < len(offsets):
            while posted < len(offsets) and posted - done < depth:
                off = offsets[posted]
                n = min(chunk, length - off)
                wr = SendWR(wr_id=posted, opcode=opcode, num_sge=1,
                            sg=[SGE(local.addr + local_off + off, n, local.lkey)],
                            send_flags=ibv.IBV_SEND_SIGNALED)
                wr.set_wr_rdma(rkey, remote_addr + off)
                try:
                    self.qp.post_send(wr)
                except Exception as e:  # noqa: BLE001
                    raise VerbsError(f"post RDMA {op.upper()}", errno_of(e),
                                     {"qpn": self.qpn, "length": n, "remote_addr": hex(remote_addr + off)},
                                     detail=str(e)) from None
                posted += 1
                if on_posted is not None and posted == 1:
                    on_posted()  # kill-at:mid-write: the WRITE is in flight
            done += len(self.poll(deadline, f"RDMA {op.upper()} completion", t0, op, spin))
        return time.monotonic() - t0

    def poll(self, deadline: float, what: str, t0: float, op: str, spin: bool = False) -> list:
        """Non-blocking poll until at least one completion or the deadline (named in the error).
        spin: never sleep (latency measurements; costs a CPU while waiting)."""
        sleep = 0.0
        while True:
            got, wcs = self.cq.poll(num_entries=16)
            if got > 0:
                for wc in wcs[:got]:
                    if wc.status != ibv.IBV_WC_SUCCESS:
                        raise CompletionError(f"RDMA {op.upper()}", compat.wc_status_name(wc.status),
                                              wc.wr_id, time.monotonic() - t0)
                return wcs[:got]
            now = time.monotonic()
            if now >= deadline:
                raise DeadlineExceeded(f"{what} on QP {self.qpn:#x}", round(deadline - t0, 3))
            # Spin briefly, then back off: busy polling in a 2-core TCG guest starves the peer.
            if not spin:
                sleep = min(0.002, sleep + 0.00005)
                time.sleep(sleep)
