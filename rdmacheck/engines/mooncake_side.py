"""The real Mooncake Transfer Engine as a side of the test, run by the engine's own Python (a venv
per release, engines.py; or pip install 'rdmacheck[mooncake]'). Pin its handshake port with MC_MIN_RPC_PORT=MC_MAX_RPC_PORT
in the environment to restart it under the same name.

  python -m rdmacheck.engines.mooncake_side --device rxe0 --host 169.254.30.1 --length 1048576
"""

from __future__ import annotations

import argparse
import ctypes
import mmap
import sys
import time

from rdmacheck.engines.driver import emit, serve


class EngineSide:
    def __init__(self, host: str, metadata: str, device: str, length: int, name: str | None = None):
        from mooncake.engine import TransferEngine  # noqa: PLC0415 - the optional wheel

        t0 = time.perf_counter()
        self.engine = TransferEngine()
        local = name or host  # P2P: the IP (the engine adds its port); etcd: any name
        rc = self.engine.initialize(local, metadata, "rdma", device)
        if rc != 0:
            raise SystemExit(f"engine: initialize({local!r}, {metadata!r}, 'rdma', {device!r}) returned {rc}")
        self.init_ms = (time.perf_counter() - t0) * 1000
        self.mem = mmap.mmap(-1, length)
        self.addr = ctypes.addressof(ctypes.c_char.from_buffer(self.mem))
        self.length = length
        rc = self.engine.register_memory(self.addr, length)
        if rc != 0:
            raise SystemExit(f"engine: register_memory of {length} bytes returned {rc}")
        self.rpc_port = self.engine.get_rpc_port()
        # P2P handshake names a segment '<ip>:<rpc port>'; with etcd its name is local_hostname.
        self.name = f"{host}:{self.rpc_port}" if metadata == "P2PHANDSHAKE" else local

    def add_peer(self, cmd: dict) -> str:
        """Nothing to add: Mooncake finds a peer's segment by name (P2P: its handshake) at the first transfer."""
        return "Mooncake learns a peer by name at the first transfer"

    def local_write(self, offset: int, data: bytes) -> None:
        self.mem[offset:offset + len(data)] = data

    def local_read(self, offset: int, length: int) -> bytes:
        return self.mem[offset:offset + length]

    def transfer(self, op: str, peer: str, remote_addr: int, length: int, local_offset: int = 0) -> None:
        call = self.engine.transfer_sync_write if op == "write" else self.engine.transfer_sync_read
        rc = call(peer, self.addr + local_offset, remote_addr, length)
        if rc != 0:
            raise RuntimeError(f"engine transfer_sync_{op} to {peer} returned {rc}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rdmacheck.engines.mooncake_side")
    p.add_argument("--host", required=True, help="IP the engine names itself by (P2P: <ip>:<rpc port>)")
    p.add_argument("--device", default="rxe0")
    p.add_argument("--metadata", default="P2PHANDSHAKE", help="P2PHANDSHAKE or an etcd address")
    p.add_argument("--name", help="etcd mode: the engine's name (local_hostname); default --host")
    p.add_argument("--length", type=int, default=1 << 20)
    a = p.parse_args(argv)
    if a.name and a.metadata == "P2PHANDSHAKE":
        p.error("--name applies to the etcd metadata mode only (P2P names are <ip>:<rpc port>)")
    side = EngineSide(a.host, a.metadata, a.device, a.length, a.name)
    emit({"event": "ready", "side": "engine", "name": side.name, "addr": side.addr, "length": side.length,
          "rpc_port": side.rpc_port, "init_ms": round(side.init_ms, 1)})
    return serve(side)


if __name__ == "__main__":
    sys.exit(main())
