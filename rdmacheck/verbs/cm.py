"""rdma_cm connections for QPs that rdmacheck owns ("external QPs").

librdmacm only brokers the connection: our QP (from rc.QueuePair) is moved through its states
with the attributes rdma_cm computes (init_qp_attr). On IB/RoCE the active side gets
CONNECT_RESPONSE and moves the QP to RTR/RTS itself; on iWARP the provider moves the QP to RTS
during the MPA exchange, so the QP only has to be in INIT.

pyverbs' CMEvent() blocks in C; it is only called after select() on the channel's fd says an
event is waiting, so every wait here has a deadline.
"""

from __future__ import annotations

import ipaddress
import os
import select
import time
from dataclasses import dataclass

from rdmacheck.errors import DeadlineExceeded
from rdmacheck.verbs import compat
from rdmacheck.verbs.compat import cm as cme
from rdmacheck.verbs.compat import ibv
from rdmacheck.verbs.errors import VerbsError, errno_of
from rdmacheck.verbs.rc import QueuePair

RDMA_CM_DEV = "/dev/infiniband/rdma_cm"


def event_name(event_type: int) -> str:
    try:
        return cme.rdma_cm_event_type(event_type).name.removeprefix("RDMA_CM_EVENT_")
    except (ValueError, AttributeError):
        return str(event_type)


def _rdma_cm_fds() -> set[int]:
    fds = set()
    for name in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{name}") == RDMA_CM_DEV:
                fds.add(int(name))
        except OSError:
            continue
    return fds


class CmError(VerbsError):
    """An rdma_cm step failed or a wrong event arrived (REJECTED, UNREACHABLE, ...)."""


class CmChannel:
    """An event channel whose events are waited for with deadlines."""

    def __init__(self) -> None:
        from pyverbs.cmid import CMEventChannel  # noqa: PLC0415
        before = _rdma_cm_fds()
        self.channel = CMEventChannel()
        new = _rdma_cm_fds() - before
        if len(new) != 1:
            raise CmError("open rdma_cm event channel", None, detail=f"cannot identify its fd ({sorted(new)})")
        self.fd = new.pop()

    def next_event(self, timeout: float):
        """The next event (not yet acked), or None if none arrived within timeout."""
        from pyverbs.cmid import CMEvent  # noqa: PLC0415
        r, _, _ = select.select([self.fd], [], [], max(0.0, timeout))
        if not r:
            return None
        return CMEvent(self.channel)

    def wait(self, expected: set[int], deadline: float, what: str, attrs: dict | None = None):
        """Wait for one of `expected`; any other event is an error naming it (after acking it)."""
        t0 = time.monotonic()
        ev = self.next_event(deadline - time.monotonic())
        if ev is None:
            raise DeadlineExceeded(what, round(deadline - t0, 3))
        if ev.event_type not in expected:
            name = event_name(ev.event_type)
            ev.ack_cm_event()
            raise CmError(what, None, attrs, detail=f"got {name} instead")
        return ev

    def close(self) -> None:
        try:
            self.channel.close()
        except Exception:  # noqa: BLE001
            pass


def _step(what: str, fn, attrs: dict | None = None):
    try:
        return fn()
    except (CmError, DeadlineExceeded):
        raise
    except Exception as e:  # noqa: BLE001 - pyverbs raises its own error types
        raise CmError(what, errno_of(e), attrs, detail=str(e)) from None


def modify_from_cm(qp: QueuePair, cmid, state: str) -> None:
    """Move our QP to `state` with the attributes rdma_cm computes for this connection."""
    target = {"INIT": ibv.IBV_QPS_INIT, "RTR": ibv.IBV_QPS_RTR, "RTS": ibv.IBV_QPS_RTS}[state]
    attr, mask = _step(f"rdma_init_qp_attr({state})", lambda: cmid.init_qp_attr(target), {"qpn": qp.qpn})
    if state == "RTR" and qp.tuning.mtu:  # --mtu caps the path MTU rdma_cm chose (IB/RoCE; refused on iWARP)
        attr.path_mtu = min(attr.path_mtu, compat.mtu_enum(qp.tuning.mtu))
    if state == "RTS":
        attr.retry_cnt = qp.tuning.retry_cnt
        attr.timeout = qp.tuning.timeout
    qp._modify(state, attr, mask, {"via": "rdma_cm", "qpn": qp.qpn})


def conn_param(qp: QueuePair, private: bytes = b""):
    from pyverbs.cmid import ConnParam  # noqa: PLC0415
    # data_len must be given up front: set_private_data() copies at most that many bytes.
    p = ConnParam(qp_num=qp.qpn, retry=qp.tuning.retry_cnt, rnr_retry=qp.tuning.rnr_retry,
                  resources=min(16, qp.dev.info.max_qp_rd_atom or 1), depth=min(16, qp.dev.info.max_qp_rd_atom or 1),
                  data_len=len(private))
    if private:
        p.set_private_data(private)
    return p


@dataclass
class CmConnection:
    """The active side's CM id and channel for one connection (closing it disconnects)."""
    channel: CmChannel
    cmid: object

    def close(self) -> None:
        for fn in (getattr(self.cmid, "disconnect", None), getattr(self.cmid, "close", None)):
            try:
                if fn:
                    fn()
            except Exception:  # noqa: BLE001 - the peer may already be gone
                pass
        self.channel.close()


def cm_connect(qp: QueuePair, src_ip: str, dst_ip: str, dst_port: int, private: bytes, timeout: float,
               iwarp: bool) -> CmConnection:
    """Active side: resolve, connect with our QP number, bring our QP up. Bounded by `timeout`."""
    from pyverbs.cmid import CMID, AddrInfo  # noqa: PLC0415
    deadline = time.monotonic() + timeout
    attrs = {"src": src_ip, "dst": f"{dst_ip}:{dst_port}", "qpn": qp.qpn}
    ch = CmChannel()
    cmid = None
    try:
        cmid = _step("rdma_create_id", lambda: CMID(creator=ch.channel, port_space=cme.RDMA_PS_TCP), attrs)
        ai = _step("rdma_getaddrinfo", lambda: AddrInfo(src=src_ip, dst=dst_ip, dst_service=str(dst_port),
                                                      port_space=cme.RDMA_PS_TCP), attrs)
        ms = int(max(100, min(5000, (deadline - time.monotonic()) * 1000)))
        _step("rdma_resolve_addr", lambda: cmid.resolve_addr(ai, ms), attrs)
        ch.wait({cme.RDMA_CM_EVENT_ADDR_RESOLVED}, deadline, "rdma_cm address resolution", attrs).ack_cm_event()
        _step("rdma_resolve_route", lambda: cmid.resolve_route(ms), attrs)
        ch.wait({cme.RDMA_CM_EVENT_ROUTE_RESOLVED}, deadline, "rdma_cm route resolution", attrs).ack_cm_event()
        qp.timings_ms.clear()
        modify_from_cm(qp, cmid, "INIT")
        _step("rdma_connect", lambda: cmid.connect(conn_param(qp, private)), attrs)
        ev = ch.wait({cme.RDMA_CM_EVENT_CONNECT_RESPONSE, cme.RDMA_CM_EVENT_ESTABLISHED}, deadline,
                     "the rdma_cm connect response", attrs)
        kind = ev.event_type
        ev.ack_cm_event()
        if kind == cme.RDMA_CM_EVENT_CONNECT_RESPONSE:  # IB/RoCE: we bring the QP up, then RTU
            modify_from_cm(qp, cmid, "RTR")
            modify_from_cm(qp, cmid, "RTS")
            _step("rdma_establish", cmid.establish, attrs)
        return CmConnection(ch, cmid)
    except BaseException:
        CmConnection(ch, cmid).close()
        raise


@dataclass
class CmListener:
    """Passive side: a listening CM id on the device's address, and its event channel."""
    channel: CmChannel
    listen_id: object
    ip: str
    port: int

    @classmethod
    def open(cls, ip: str, port: int) -> "CmListener":
        from pyverbs.cmid import CMID, AddrInfo  # noqa: PLC0415
        attrs = {"addr": f"{ip}:{port}"}
        if ipaddress.ip_address(ip).is_loopback or ipaddress.ip_address(ip).is_unspecified:
            # rdma_cm binds no device to these, and pyverbs then crashes in listen().
            raise CmError("rdma_listen", None, attrs, detail="rdma_cm needs the device's own (non-loopback) IP address")
        ch = CmChannel()
        lid = _step("rdma_create_id", lambda: CMID(creator=ch.channel, port_space=cme.RDMA_PS_TCP), attrs)
        ai = _step("rdma_getaddrinfo", lambda: AddrInfo(src=ip, src_service=str(port), port_space=cme.RDMA_PS_TCP,
                                                      flags=cme.RAI_PASSIVE), attrs)
        _step("rdma_bind_addr", lambda: lid.bind_addr(ai), attrs)
        _step("rdma_listen", lambda: lid.listen(), attrs)
        return cls(ch, lid, ip, port)

    def accept(self, ev, qp: QueuePair, iwarp: bool):
        """Accept a CONNECT_REQUEST event onto our QP; returns the child CM id (keep it alive)."""
        from pyverbs.cmid import CMID  # noqa: PLC0415
        child = _step("create child CM id", lambda: CMID(creator=ev, listen_id=self.listen_id))
        ev.ack_cm_event()
        qp.timings_ms.clear()
        modify_from_cm(qp, child, "INIT")
        if not iwarp:
            modify_from_cm(qp, child, "RTR")
            modify_from_cm(qp, child, "RTS")
        _step("rdma_accept", lambda: child.accept(conn_param(qp)), {"qpn": qp.qpn})
        return child

    def reject(self, ev, reason: bytes) -> None:
        """Refuse a CONNECT_REQUEST (the active side gets REJECTED at once, not a timeout)."""
        from pyverbs.cmid import CMID  # noqa: PLC0415
        try:
            child = CMID(creator=ev, listen_id=self.listen_id)
            ev.ack_cm_event()
            child.reject(reason)
            child.close()
        except Exception:  # noqa: BLE001 - best effort: the requester times out otherwise
            pass

    def close(self) -> None:
        try:
            self.listen_id.close()
        except Exception:  # noqa: BLE001
            pass
        self.channel.close()
