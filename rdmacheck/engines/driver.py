"""The line protocol between `rdmacheck mooncake reestablish` and one side of the test.

A side is a process: rdmacheck's peer (side.py) or the real engine (mooncake_side.py, nixl_side.py). It prints
one JSON line {"event": "ready", "name", "addr", "length", ...} and then answers each JSON command
line on stdin with one JSON line {"event": "reply", "ok": bool, "ms": float, "detail": str}. Commands:
  {"op": "write",  "peer": NAME, "remote_addr": A, "seed": S, "length": L}  pattern -> peer
  {"op": "read",   "peer": NAME, "remote_addr": A, "seed": S, "length": L}  peer -> local, checked
  {"op": "verify", "seed": S, "offset": O, "length": L}                     check the local buffer
  {"op": "write_many", "at": T, "targets": [{"peer", "remote_addr", "seed", "length", "threads": K}, ...]}
      at wall-clock time T, every target's pattern written by K threads at once (slice j of target i
      from local offset i*L); each slice prints {"event": "wrote", "target": i, "slice": j, "ok", "ms",
      "detail"} when its call returns, so a caller sees which calls never return; then the reply.
  {"op": "add_peer", "metadata": M} / {"op": "remove_peer", "peer": NAME} / {"op": "post", ...write's fields}
      / {"op": "settle"} / {"op": "prep", peer, remote_addr, length} / {"op": "write_prepped", peer, seed, length}:
      for an engine that has them (PEER_OPS); others answer ok=false naming the op. A remove_peer that opened
      a new endpoint (DLSlime) says its new metadata in its reply (`metadata`): a peer connects to that next.
Both sides share this loop, so the orchestrator cannot tell them apart.
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import threading
import time
import traceback
from typing import Protocol

from rdmacheck.pattern import check_pattern, pattern

# Engine-specific steps a side offers if it has them (NIXL: a peer is known only once its metadata is added;
# `post` starts a WRITE without waiting, `settle` waits for what was posted).
# `prep` keeps descriptor lists of a peer's range, `write_prepped` writes through them (stale after a restart).
PEER_OPS = ("add_peer", "remove_peer", "post", "settle", "prep", "write_prepped")


class Side(Protocol):
    def local_write(self, offset: int, data: bytes) -> None: ...
    def local_read(self, offset: int, length: int) -> bytes: ...
    def transfer(self, op: str, peer: str, remote_addr: int, length: int, local_offset: int = 0) -> None: ...


_emit_lock = threading.Lock()


def isolate_library_output():
    """Keep what a library writes to fds 1 and 2 — in whatever pieces it writes them (DLSlime's logger: `[INFO`,
    then the rest) — from splitting this side's JSON lines, which share one stream with it: it goes through a
    pipe whose lines are written out whole, under the lock the events take. Returns the events' own stream (for
    sys.stdout)."""
    events = os.fdopen(os.dup(1), "w", buffering=1)
    err = os.dup(2)
    r, w = os.pipe()
    os.dup2(w, 1)
    os.dup2(w, 2)
    os.close(w)
    sys.stderr = os.fdopen(os.dup(2), "w", buffering=1)

    def pump() -> None:
        with os.fdopen(r, "rb") as f:
            for line in f:
                with _emit_lock:
                    os.write(err, line)

    t = threading.Thread(target=pump, name="library-output", daemon=True)
    t.start()

    def drain() -> None:  # at exit: what is still in the pipe is written out, not lost with the process
        sys.stderr.close()
        os.close(1)
        os.close(2)
        t.join(5.0)

    atexit.register(drain)
    return events


def emit(obj: dict) -> None:
    with _emit_lock:  # write_many's threads print too
        sys.stdout.write(json.dumps(obj) + "\n")
        sys.stdout.flush()


def _slices(length: int, k: int) -> list[tuple[int, int]]:
    step = -(-length // k)
    return [(o, min(step, length - o)) for o in range(0, length, step)]


def write_many(side: Side, at: float, targets: list[dict]) -> dict:
    """Start every slice's write at `at` (threads parked on a barrier first, then the clock)."""
    jobs = []
    for i, t in enumerate(targets):
        base = i * t["length"]
        side.local_write(base, pattern(t["seed"], t["length"]))
        jobs += [(i, j, base + off, t["peer"], t["remote_addr"] + off, n)
                 for j, (off, n) in enumerate(_slices(t["length"], max(1, int(t.get("threads", 1)))))]
    results: list[bool] = []
    barrier = threading.Barrier(len(jobs))

    def run(i: int, j: int, local: int, peer: str, remote: int, n: int) -> None:
        barrier.wait()
        time.sleep(max(0.0, at - time.time()))
        t0 = time.perf_counter()
        ok, detail = True, ""
        try:
            side.transfer("write", peer, remote, n, local_offset=local)
        except Exception as e:  # noqa: BLE001 - reported per call
            ok, detail = False, f"{type(e).__name__}: {e}"
        results.append(ok)
        emit({"event": "wrote", "target": i, "slice": j, "ok": ok, "t": time.time(),
              "ms": round((time.perf_counter() - t0) * 1000, 3), "detail": detail})

    threads = [threading.Thread(target=run, args=job, daemon=True) for job in jobs]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return {"ok": all(results), "detail": f"{sum(results)} of {len(jobs)} writes returned 0"}


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
    elif op == "write_many":
        return {**write_many(side, float(cmd["at"]), cmd["targets"]), "ms": round((time.perf_counter() - t0) * 1000, 3)}
    elif op == "verify":
        ok, detail = check(side, cmd["seed"], cmd["offset"], cmd["length"])
    elif op in PEER_OPS:
        act = getattr(side, op, None)
        if act is None:
            return {"ok": False, "detail": f"this engine has no {op!r}"}
        said = act(cmd)  # its detail, or a dict with its detail and more (DLSlime's new endpoint: `metadata`)
        if isinstance(said, dict):
            return {"ok": ok, "ms": round((time.perf_counter() - t0) * 1000, 3), **said}
        detail = said
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
