"""An rdmacheck peer that speaks Mooncake: serves Metadata/Connection/Probe on its handshake port
and connects to an engine as Mooncake's initiator does, over rdmacheck's verbs layer.

Rules it follows (../MOONCAKE.md): name '<ip>:<port>', NIC path 'name@device', 2 QPs per
endpoint, PSN 0, Mooncake's QP attributes, a ready-ACK after our QPs reach RTS; a repeated
Connection from a known NIC path retires the old endpoint (recreate), as the engine does.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from rdmacheck.errors import RdmacheckError
from rdmacheck.handshake.address import parse_hostport
from rdmacheck.handshake.messages import InvalidMessage
from rdmacheck.handshake.wire import FrameError
from rdmacheck.mooncake import wire
from rdmacheck.mooncake.messages import (
    BufferDesc,
    ConnectionDesc,
    DeviceDesc,
    SegmentDesc,
    now_stamp,
    split_nic_path,
)
from rdmacheck.verbs.gid import byte_gid
from rdmacheck.verbs.rc import Buffer, Device, QPTuning, QueuePair, RemoteQP

QPS_PER_ENDPOINT = 2  # the engine's default (MC_MAX_EP_PER_CTX): a peer must match it
# retry_cnt 7 is what Mooncake hard-codes; on rxe it means "retry forever" (our deadlines bound it).
MOONCAKE_TUNING = QPTuning(timeout=14, retry_cnt=7, rnr_retry=7, min_rnr_timer=12, max_rd_atomic=16,
                           remote_atomic=True)
REQUEST_TIMEOUT = 5.0
MAX_CONNECTION_THREADS = 64  # each connection carries one message: more at once is a flood
MAX_PEERS = 64  # endpoints (QPs), descriptors and dialects kept per peer: a flood of names cannot grow them


class Rejected(Exception):
    """The engine answered our Connection with a non-empty reply_msg."""


@dataclass
class Dialect:
    """What a peer's own messages show it speaks (never a version string: none is sent).
    local_gid/local_lid in a Connection: 0.3.11 on; the ready_ack key: 0.3.12 on (omitted: legacy,
    no ACK); Probe: answered from 0.3.10.post2 (older engines close the connection)."""
    gid_in_connection: bool | None = None
    ready_ack: bool | None = None
    probe: bool | None = None

    def saw_connection(self, obj: dict) -> None:
        self.gid_in_connection = "local_gid" in obj
        self.ready_ack = "ready_ack" in obj


@dataclass
class MooncakeEndpoint:
    peer_nic_path: str
    qps: list[QueuePair]
    peer_qpns: list[int]
    created: float = field(default_factory=time.monotonic)

    def destroy(self) -> None:
        for qp in self.qps:
            qp.destroy()


class MooncakePeer:
    def __init__(self, dev: Device, host: str, port: int, length: int,
                 on_event: Callable[..., None] = lambda kind, **f: None):
        self.dev = dev
        self.buf = Buffer(dev, length)
        self.emit = on_event
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # restart on the same name at once
        try:
            self.sock.bind((host, port))
        except OSError as e:
            # An engine's sockets (no SO_REUSEADDR) keep its port in TIME_WAIT for ~60 s after it exits.
            raise OSError(e.errno, f"cannot bind {host}:{port}: {e.strerror} (an exited engine's TIME_WAIT "
                                   f"holds a port ~60 s; choose another port)") from None
        self.name = f"{host}:{self.sock.getsockname()[1]}"
        self.nic_path = f"{self.name}@{dev.name}"
        self.gid = byte_gid(dev.gid.gid)
        self.endpoints: dict[str, MooncakeEndpoint] = {}  # by the peer's NIC path
        self.segments: dict[str, SegmentDesc] = {}  # peers' descriptors, by name
        self.lock = threading.Lock()
        self.threads = threading.BoundedSemaphore(MAX_CONNECTION_THREADS)  # one per connection being served
        self.dialects: dict[str, Dialect] = {}  # by the peer's server name
        # Called with a Connection request instead of the normal answer (forced simultaneous open).
        self.connection_hook: Callable[[ConnectionDesc], ConnectionDesc] | None = None

    @classmethod
    def open(cls, device: str, host: str, port: int, length: int, on_event: Callable[..., None],
             gid_index: int | None = None, ib_port: int | None = None) -> "MooncakePeer":
        """Open the device, register the buffer, bind HOST:PORT (its name) and start serving."""
        dev = Device.open(device, gid_index, ib_port)
        try:
            peer = cls(dev, host, port, length, on_event=on_event)
        except OSError as e:
            raise RdmacheckError(str(e)) from None
        peer.serve_in_background()
        return peer

    # --- what we publish ---------------------------------------------------------------------

    def descriptor(self) -> SegmentDesc:
        return SegmentDesc(
            name=self.name, devices=[DeviceDesc(self.dev.name, self.dev.lid, self.gid)],
            buffers=[BufferDesc("cpu:0", self.buf.addr, self.buf.length, [self.buf.rkey], [self.buf.lkey])],
            priority_matrix={"cpu:0": [[self.dev.name], []]}, timestamp=now_stamp())

    # --- passive side: the handshake port ----------------------------------------------------

    def serve_in_background(self) -> None:
        self.sock.listen(16)
        threading.Thread(target=self._accept_loop, name="mooncake-accept", daemon=True).start()

    def _accept_loop(self) -> None:
        while True:
            try:
                conn, addr = self.sock.accept()
            except OSError:
                return
            peer = f"{addr[0]}:{addr[1]}"
            if not self.threads.acquire(blocking=False):  # Mooncake's wire has no "busy": close it
                self.emit("handshake_rejected", peer=peer, reason=f"too many connections at once "
                          f"(cap {MAX_CONNECTION_THREADS}); closed")
                conn.close()
                continue
            threading.Thread(target=self._serve_one, args=(conn, peer), daemon=True).start()

    def _serve_one(self, conn: socket.socket, addr: str) -> None:
        try:
            self._serve_conn(conn, addr)
        finally:
            self.threads.release()

    def _serve_conn(self, conn: socket.socket, addr: str) -> None:
        with conn:
            try:
                kind, obj = wire.read_message(conn, time.monotonic() + REQUEST_TIMEOUT, f"a message from {addr}")
                reply = self.handle(kind, obj)
                conn.sendall(wire.encode(kind, reply))
                conn.shutdown(socket.SHUT_WR)
            except (FrameError, InvalidMessage, TimeoutError, OSError) as e:
                self.emit("handshake_rejected", peer=addr, reason=str(e))

    def handle(self, kind: int, obj: dict) -> dict:
        if kind == wire.METADATA:
            if obj:  # the asker sends its own descriptor: kept, the oldest dropped past MAX_PEERS
                desc = SegmentDesc.from_json(obj)
                with self.lock:
                    self.segments.pop(desc.name, None)
                    self.segments[desc.name] = desc
                    while len(self.segments) > MAX_PEERS:
                        self.segments.pop(next(iter(self.segments)))
            return self.descriptor().to_json()
        if kind == wire.CONNECTION:
            req = ConnectionDesc.from_json(obj)
            if req.local_nic_path and not req.ready_ack:
                self.dialect(split_nic_path(req.local_nic_path)[0]).saw_connection(obj)
            hook = self.connection_hook
            if hook is not None and not req.ready_ack:
                return hook(req).to_json()
            return self.answer_connection(req).to_json()
        if kind == wire.PROBE:
            return self.descriptor().to_json()
        self.emit("notify", message=obj)
        return {}

    # The passive side's steps, public for a connection hook (forced_open.py) that answers in its own time.

    def reply_to(self, req: ConnectionDesc, qpns: list[int], reply_msg: str = "") -> ConnectionDesc:
        """Our Connection answer to req: these QPs, or none with reply_msg (a rejection)."""
        return ConnectionDesc(local_nic_path=self.nic_path, peer_nic_path=req.local_nic_path, qp_num=qpns,
                              local_gid=self.gid, local_lid=self.dev.lid, reply_msg=reply_msg,
                              ready_ack=req.ready_ack)

    def answer_connection(self, req: ConnectionDesc) -> ConnectionDesc:
        """The default answer: an ACK, a rejection, or a new endpoint for req's NIC path (replacing the
        old one: the peer restarted)."""
        if req.ready_ack:
            self.emit("ready_ack", peer=req.local_nic_path)
            return ConnectionDesc("", "", [], "", ready_ack=True)
        if len(req.qp_num) != QPS_PER_ENDPOINT:
            why = (f"QP count mismatch in peer and local endpoints: peer {len(req.qp_num)}, local "
                   f"{QPS_PER_ENDPOINT}")
            self.emit("connection_rejected", peer=req.local_nic_path, reply_msg=why)
            return self.reply_to(req, [], why)
        t0 = time.perf_counter()
        with self.lock:
            if req.local_nic_path not in self.endpoints and len(self.endpoints) >= MAX_PEERS:
                why = f"too many peers: this segment keeps endpoints to at most {MAX_PEERS} NIC paths"
                self.emit("connection_rejected", peer=req.local_nic_path, reply_msg=why)
                return self.reply_to(req, [], why)
            old = self.endpoints.pop(req.local_nic_path, None)
            ep = self.new_endpoint(req.local_nic_path)
            self.bring_up(ep, req)
            self.endpoints[req.local_nic_path] = ep
        if old is not None:  # the same NIC path handshaking again: the peer restarted
            self.emit("reestablished", peer=req.local_nic_path, old_qpns=[q.qpn for q in old.qps],
                      new_qpns=[q.qpn for q in ep.qps], peer_qpns=req.qp_num,
                      ms=round((time.perf_counter() - t0) * 1000, 3))
            old.destroy()
        else:
            self.emit("connected", peer=req.local_nic_path, qpns=[q.qpn for q in ep.qps], peer_qpns=req.qp_num,
                      passive=True, ms=round((time.perf_counter() - t0) * 1000, 3))
        return self.reply_to(req, [q.qpn for q in ep.qps])

    def new_endpoint(self, peer_nic_path: str) -> MooncakeEndpoint:
        """Fresh QPs for an endpoint to that NIC path, not connected yet."""
        qps = [QueuePair.create(self.dev, MOONCAKE_TUNING) for _ in range(QPS_PER_ENDPOINT)]
        for qp in qps:
            qp.psn = 0
        return MooncakeEndpoint(peer_nic_path, qps, [])

    def dialect(self, server: str) -> Dialect:
        """What a peer's requests showed of its release; bounded like the descriptors (the oldest go)."""
        with self.lock:
            d = self.dialects.setdefault(server, Dialect())
            while len(self.dialects) > MAX_PEERS:
                self.dialects.pop(next(iter(self.dialects)))
            return d

    def _peer_address(self, peer: ConnectionDesc) -> tuple[str, int]:
        """The peer's GID and LID: from its Connection message (0.3.11 on), else from its descriptor
        (what engines before 0.3.11 use), asked for if we have none."""
        if peer.local_gid:
            return peer.local_gid, peer.local_lid
        server, device = split_nic_path(peer.local_nic_path)
        for refresh in (False, True):
            seg = self.segment(server, refresh=refresh)
            for d in seg.devices:
                if d.name == device:
                    return d.gid, d.lid
        raise InvalidMessage(f"{peer.local_nic_path}: no GID in its Connection message nor its descriptor")

    def bring_up(self, ep: MooncakeEndpoint, peer: ConnectionDesc) -> None:
        """Connect ep's QPs to the ones the peer's Connection message names."""
        gid, lid = self._peer_address(peer)
        for qp, qpn in zip(ep.qps, peer.qp_num):
            qp.connect(RemoteQP(qpn=qpn, psn=0, gid=gid, lid=lid, mtu=self.dev.active_mtu))
        ep.peer_qpns = list(peer.qp_num)

    # --- active side -------------------------------------------------------------------------

    def segment(self, name: str, refresh: bool = False) -> SegmentDesc:
        """The peer's descriptor, asked for with ours (as the engine does) and cached."""
        if refresh or name not in self.segments:
            host, port = parse_hostport(name, "segment name")
            self.segments[name] = SegmentDesc.from_json(
                wire.request(host, port, wire.METADATA, self.descriptor().to_json(), REQUEST_TIMEOUT))
        return self.segments[name]

    def connect(self, name: str) -> MooncakeEndpoint:
        seg = self.segment(name)
        device = seg.devices[0].name if seg.devices else self.dev.name
        peer_path = f"{name}@{device}"
        host, port = parse_hostport(name, "segment name")
        ep = self.new_endpoint(peer_path)
        req = ConnectionDesc(local_nic_path=self.nic_path, peer_nic_path=peer_path, qp_num=[q.qpn for q in ep.qps],
                             local_gid=self.gid, local_lid=self.dev.lid, ready_ack=False)
        t0 = time.perf_counter()
        try:
            reply = ConnectionDesc.from_json(wire.request(host, port, wire.CONNECTION, req.to_json(), REQUEST_TIMEOUT))
            if reply.reply_msg:
                raise Rejected(reply.reply_msg)
            if len(reply.qp_num) != QPS_PER_ENDPOINT:
                raise Rejected(f"the engine answered with {len(reply.qp_num)} QPs, not {QPS_PER_ENDPOINT}")
            self.bring_up(ep, reply)
            self.send_ready_ack(ep, reply)
        except BaseException:
            ep.destroy()
            raise
        with self.lock:
            old = self.endpoints.pop(peer_path, None)
            self.endpoints[peer_path] = ep
        if old is not None:
            old.destroy()
        self.emit("connected", peer=peer_path, qpns=[q.qpn for q in ep.qps], peer_qpns=reply.qp_num, passive=False,
                  ms=round((time.perf_counter() - t0) * 1000, 3))
        return ep

    def send_ready_ack(self, ep: MooncakeEndpoint, reply: ConnectionDesc) -> None:
        """The ACK after our QPs reached RTS, to a peer whose reply carried the ready_ack key (0.3.12 on);
        a legacy peer would take a second Connection for a new handshake."""
        if reply.ready_ack is None:
            return
        host, port = parse_hostport(split_nic_path(ep.peer_nic_path)[0], "segment name")
        ack = ConnectionDesc(self.nic_path, ep.peer_nic_path, [q.qpn for q in ep.qps], self.gid, self.dev.lid,
                             ready_ack=True)
        wire.request(host, port, wire.CONNECTION, ack.to_json(), REQUEST_TIMEOUT)

    def _segment_holding(self, name: str, addr: int, length: int) -> SegmentDesc:
        """The peer's descriptor with a buffer at addr; a cached one without it means the peer
        restarted (new buffers): ask again, and retire our endpoints to it (their QPs are dead)."""
        seg = self.segment(name)
        try:
            seg.buffer_at(addr, length)
            return seg
        except InvalidMessage:
            seg = self.segment(name, refresh=True)
            seg.buffer_at(addr, length)
        with self.lock:
            stale = [p for p in self.endpoints if p.startswith(name + "@")]
            retired = [self.endpoints.pop(p) for p in stale]
        for ep in retired:
            ep.destroy()
        self.emit("peer_restarted", peer=name, retired_endpoints=len(retired), timestamp=seg.timestamp)
        return seg

    def transfer(self, op: str, name: str, remote_addr: int, length: int, deadline_s: float = 30.0) -> None:
        """RDMA WRITE/READ between our buffer (offset 0) and the peer's; half of it on each QP."""
        seg = self._segment_holding(name, remote_addr, length)
        rbuf = seg.buffer_at(remote_addr, length)
        with self.lock:  # the handshake thread may be replacing endpoints
            ep = next((e for p, e in self.endpoints.items() if p.startswith(name + "@")), None)
        ep = ep or self.connect(name)
        rkey = rbuf.rkey[seg.device_index(split_nic_path(ep.peer_nic_path)[1])]
        half = (length + 1) // 2
        for i, (off, n) in enumerate(((0, half), (half, length - half))):
            if n:
                ep.qps[i].transfer(op, self.buf, off, remote_addr + off, rkey, n, deadline_s)

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            for ep in self.endpoints.values():
                ep.destroy()
            self.endpoints.clear()

