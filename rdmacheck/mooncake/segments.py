"""`rdmacheck mooncake segments`: the descriptors a Mooncake cluster keeps in etcd, and which are
stale (Mooncake puts them without a lease, so a crashed engine's keys stay)."""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass, replace

from rdmacheck.errors import RdmacheckError
from rdmacheck.handshake.address import parse_hostport
from rdmacheck.handshake.wire import FrameError
from rdmacheck.metadata.etcd import EtcdConfig, EtcdStore
from rdmacheck.mooncake import wire

PROBE_TIMEOUT = 1.0


@dataclass
class SegmentEntry:
    name: str
    devices: list[str]
    buffers: int
    buffer_bytes: int
    timestamp: str
    age_s: float | None
    rpc: str | None  # ip:port from mooncake/rpc_meta/<name>
    alive: str  # "alive (probe N ms)" | "stale: <why>" | "no rpc_meta"

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def _age(stamp: str) -> float | None:
    try:
        t = datetime.datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S.%f")
    except (TypeError, ValueError):
        return None
    return round((datetime.datetime.now() - t).total_seconds(), 1)


def _alive(rpc: str | None) -> str:
    if rpc is None:
        return "no rpc_meta"
    try:
        host, port = parse_hostport(rpc, "rpc_meta address")
        t0 = time.perf_counter()
        wire.request(host, port, wire.PROBE, {}, PROBE_TIMEOUT)
        return f"alive (probe {(time.perf_counter() - t0) * 1000:.1f} ms)"
    except ConnectionRefusedError:
        return "stale: connection refused"
    except (OSError, TimeoutError, FrameError, RdmacheckError) as e:
        return f"stale: {str(e)[:60]}"


def list_segments(etcd: EtcdConfig, cluster_id: str = "") -> list[SegmentEntry]:
    """Mooncake's keys under the client settings of `etcd` (its prefix and cluster are Mooncake's own)."""
    root = "mooncake/" + (f"{cluster_id}/" if cluster_id else "")
    ram = EtcdStore.connect(replace(etcd, prefix=root, cluster="ram"))
    try:
        segs = ram.list()
        rpc_store = EtcdStore(cfg=replace(etcd, prefix="mooncake/", cluster="rpc_meta"),
                              client=ram.client, endpoint=ram.endpoint)
        rpcs = {n: d for n, d, _, _ in rpc_store.list()}
    finally:
        ram.close()
    out = []
    for name, desc, _, _ in segs:
        meta = rpcs.get(name)
        rpc = f"{meta.get('ip_or_host_name')}:{meta.get('rpc_port')}" if isinstance(meta, dict) else None
        bufs = desc.get("buffers") or []
        out.append(SegmentEntry(
            name=name, devices=[d.get("name", "?") for d in desc.get("devices") or [] if isinstance(d, dict)],
            buffers=len(bufs), buffer_bytes=sum(b.get("length", 0) for b in bufs if isinstance(b, dict)),
            timestamp=str(desc.get("timestamp", "")), age_s=_age(desc.get("timestamp")), rpc=rpc, alive=_alive(rpc)))
    return out
