"""DLSlime (RC READ/WRITE over an explicitly connected endpoint) as a side of an engine test, run by the release's
own Python (a venv per release: catalog.py). The same JSON-line protocol as the other sides (engines/driver.py)
with `add_peer` / `remove_peer`: a DLSlime endpoint is one connection, made by giving each side the other's
`endpoint_info()` (its QPs and its registered memory); the orchestrator carries that from one side's `ready`
line to the other. Removing a peer shuts the endpoint down and opens a new one, whose info the reply carries
(`metadata`): the next peer connects to that.

  python -m rdmacheck.engines.dlslime_side --name a --device rxe0 --length 1048576
"""

from __future__ import annotations

import argparse
import base64
import ctypes
import json
import mmap
import os
import sys
import threading
import time

from rdmacheck.engines.driver import emit, isolate_library_output, serve

REGION = "rdmacheck"  # the name of this side's registered buffer in its endpoint's mr_info


class SlimeSide:
    def __init__(self, slime, name: str, device: str, length: int, transfer_timeout: float):
        t0 = time.perf_counter()
        self.slime = slime
        self.device = device
        self.mem = mmap.mmap(-1, length)
        self.addr = ctypes.addressof(ctypes.c_char.from_buffer(self.mem))
        self.length = length
        self.name = name
        self.transfer_timeout = transfer_timeout
        self.peers: dict[str, tuple[int, int]] = {}  # peer -> (its region's handle here, its buffer's address)
        self._open()
        self.init_ms = (time.perf_counter() - t0) * 1000

    def _open(self) -> None:
        """A new endpoint (new QPs) with this side's buffer registered on it."""
        self.ep = self.slime.RDMAEndpoint(device_name=self.device, ib_port=1, link_type="auto", num_qp=1)
        self.handle = self.ep.register_memory_region(REGION, self.addr, 0, self.length)

    def metadata(self) -> str:
        info = {"name": self.name, "addr": self.addr, "endpoint": self.ep.endpoint_info()}
        return base64.b64encode(json.dumps(info, default=str).encode()).decode()

    def add_peer(self, cmd: dict) -> str:
        info = json.loads(base64.b64decode(cmd["metadata"]))
        self.ep.connect(info["endpoint"])
        remote = self.ep.register_remote_memory_region(info["name"], info["endpoint"]["mr_info"][REGION])
        self.peers[info["name"]] = (remote, int(info["addr"]))
        return f"connected to {info['name']}"

    def remove_peer(self, cmd: dict) -> dict:
        self.ep.shutdown()
        self.peers.pop(cmd["peer"], None)
        self._open()
        return {"detail": f"shut the endpoint to {cmd['peer']} down; a new one is open", "metadata": self.metadata()}

    def local_write(self, offset: int, data: bytes) -> None:
        self.mem[offset:offset + len(data)] = data

    def local_read(self, offset: int, length: int) -> bytes:
        return self.mem[offset:offset + length]

    def transfer(self, op: str, peer: str, remote_addr: int, length: int, local_offset: int = 0) -> None:
        """One READ or WRITE; its future's wait blocks without a limit, so it is waited for on a thread: still
        blocked at the deadline is a hang, reported."""
        if peer not in self.peers:
            raise RuntimeError(f"dlslime {op} to {peer}: no endpoint connected to it")
        remote, base = self.peers[peer]
        assign = [(self.handle, remote, remote_addr - base, local_offset, length)]  # target: remote, source: local
        future = (self.ep.write if op == "write" else self.ep.read)(assign, None)
        done: list[BaseException | None] = []

        def wait() -> None:
            try:
                future.wait()
                done.append(None)
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                done.append(e)

        t = threading.Thread(target=wait, daemon=True)
        t.start()
        t.join(self.transfer_timeout)
        if not done:
            raise TimeoutError(f"dlslime {op} to {peer}: still in progress after {self.transfer_timeout:g} s")
        if done[0] is not None:
            raise RuntimeError(f"dlslime {op} to {peer}: {done[0]}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rdmacheck.engines.dlslime_side")
    p.add_argument("--name", required=True, help="the side's name (a restarted side comes back under it)")
    p.add_argument("--device", default="rxe0")
    p.add_argument("--length", type=int, default=1 << 20)
    p.add_argument("--transfer-timeout", type=float,
                   default=float(os.environ.get("RDMACHECK_DLSLIME_TRANSFER_TIMEOUT", "30")),
                   help="a transfer still in progress this long is reported as hung")
    a = p.parse_args(argv)
    os.environ.setdefault("SLIME_LOG_LEVEL", "1")  # INFO: its RDMA context then logs the device it opens (evidence)
    sys.stdout.flush()
    sys.stdout = isolate_library_output()  # its logger writes lines in pieces, which would split ours
    import dlslime  # noqa: PLC0415 - the release's own wheel
    side = SlimeSide(dlslime, a.name, a.device, a.length, a.transfer_timeout)
    emit({"event": "ready", "side": "dlslime", "name": side.name, "addr": side.addr, "length": side.length,
          "metadata": side.metadata(), "init_ms": round(side.init_ms, 1)})
    return serve(side)


if __name__ == "__main__":
    sys.exit(main())
