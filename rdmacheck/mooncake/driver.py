"""The line protocol between `rdmacheck mooncake reestablish` and one side of the test.

A side is a process: rdmacheck's peer (side.py) or the real engine (engine_side.py). It prints
one JSON line {"event": "ready", "name", "addr", "length", ...} and then answers each JSON command
line on stdin with one JSON line {"event": "reply", "ok": bool, "ms": float, "detail": str}. Commands:
  {"op": "write",  "peer": NAME, "remote_addr": A, "seed": S, "length": L}  pattern -> peer
  {"op": "read",   "peer": NAME, "remote_addr": A, "seed": S, "length": L}  peer -> local, checked
  {"op": "verify", "seed": S, "offset": O, "length": L}                     check the local buffer
Both sides share this loop, so the orchestrator cannot tell them apart.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from typing import Protocol

from rdmacheck.pattern import check_pattern, pattern


class Side(Protocol):
    def local_write(self, offset: int, data: bytes) -> None: ...
    def local_read(self, offset: int, length: int) -> bytes: ...
    def transfer(self, op: str, peer: str, remote_addr: int, length: int) -> None: ...


def emit(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def check(side: Side, seed: int, offset: int, length: int) -> tuple[bool, str]:
    mm = check_pattern(seed, side.local_read(offset, length))
    if mm is None:
        return True, f"{length} bytes match seed {seed:#x}"
    return False, f"first mismatch at byte {mm.offset}: expected {mm.expected:#04x}, found {mm.found:#04x}"


def handle(side: Side, cmd: dict) -> dict:
    op = cmd.get("op")
    t0 = time.perf_counter()
    ok, detail = True, ""
    if op == "write":
        side.local_write(0, pattern(cmd["seed"], cmd["length"]))
        side.transfer("write", cmd["peer"], cmd["remote_addr"], cmd["length"])
    elif op == "read":
        side.local_write(0, bytes(cmd["length"]))  # so a READ that does nothing cannot pass
        side.transfer("read", cmd["peer"], cmd["remote_addr"], cmd["length"])
        ok, detail = check(side, cmd["seed"], 0, cmd["length"])
    elif op == "verify":
        ok, detail = check(side, cmd["seed"], cmd["offset"], cmd["length"])
    else:
        return {"ok": False, "detail": f"unknown op {op!r}"}
    return {"ok": ok, "ms": round((time.perf_counter() - t0) * 1000, 3), "detail": detail}


def serve(side: Side) -> int:
    """Answer commands until stdin closes; an exception answers ok=false and the loop goes on."""
    for line in sys.stdin:
        if not line.strip():
            continue
        t0 = time.perf_counter()
        try:
            reply = handle(side, json.loads(line))
        except Exception as e:  # noqa: BLE001 - reported to the orchestrator, which decides
            reply = {"ok": False, "ms": round((time.perf_counter() - t0) * 1000, 3),
                     "detail": f"{type(e).__name__}: {e}", "trace": traceback.format_exc(limit=3)}
        emit({"event": "reply", **reply})
    return 0
