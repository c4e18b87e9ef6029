"""rdmacheck's Mooncake-dialect peer as a side of the test (the line protocol of driver.py).

  python -m rdmacheck.mooncake.side --device rxe0 --host 169.254.30.1 --port 17000
Events (connected, reestablished, ready_ack, rejections) go to stderr as JSON lines.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from rdmacheck.engines.driver import emit, serve


def _event(kind: str, **fields) -> None:
    sys.stderr.write(json.dumps({"t": round(time.time(), 6), "event": kind, **fields}) + "\n")
    sys.stderr.flush()


class RdmacheckSide:
    def __init__(self, device: str, host: str, port: int, length: int, io_timeout: float):
        from rdmacheck.mooncake.peer import MooncakePeer  # noqa: PLC0415 - pyverbs

        self.peer = MooncakePeer.open(device, host, port, length, on_event=_event)
        self.io_timeout = io_timeout

    def local_write(self, offset: int, data: bytes) -> None:
        self.peer.buf.write(offset, data)

    def local_read(self, offset: int, length: int) -> bytes:
        return self.peer.buf.read(offset, length)

    def transfer(self, op: str, peer: str, remote_addr: int, length: int, local_offset: int = 0) -> None:
        if local_offset:
            raise ValueError("rdmacheck's side writes from offset 0 only")
        self.peer.transfer(op, peer, remote_addr, length, self.io_timeout)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rdmacheck.mooncake.side")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--device", default="rxe0")
    p.add_argument("--length", type=int, default=1 << 20)
    p.add_argument("--io-timeout", type=float, default=30.0)
    a = p.parse_args(argv)
    side = RdmacheckSide(a.device, a.host, a.port, a.length, a.io_timeout)
    emit({"event": "ready", "side": "rdmacheck", "name": side.peer.name, "addr": side.peer.buf.addr,
          "length": side.peer.buf.length})
    return serve(side)


if __name__ == "__main__":
    sys.exit(main())
