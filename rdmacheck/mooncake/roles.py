"""`reestablish --role target|initiator --dialect mooncake`: the roles, speaking Mooncake's handshake.

target: a Mooncake segment named by --listen that an engine's initiator can handshake and write to.
initiator: handshakes with the segment at --peer (an engine's '<ip>:<port>' name) from its own name
(--listen, pinned: restart it and the engine sees the same NIC path come back), then per round
writes a new pattern into the engine's first buffer, reads it back and verifies it. A failed
round re-reads the engine's descriptor and handshakes again (a restarted engine has new buffers).
A Mooncake target cannot be asked to verify, so the check is the read-back.
"""

from __future__ import annotations

import time

from rdmacheck.errors import DeadlineExceeded, RdmacheckError
from rdmacheck.handshake.messages import InvalidMessage
from rdmacheck.handshake.wire import FrameError
from rdmacheck.pattern import check_pattern, new_seed, pattern
from rdmacheck.roles.config import RoleConfig
from rdmacheck.roles.events import EventLog, new_generation
from rdmacheck.roles.run import exit_on_sigterm, run_guarded
from rdmacheck.verbs.errors import CompletionError, VerbsError


def _peer(cfg: RoleConfig, ev: EventLog, length: int):
    from rdmacheck.mooncake.peer import MooncakePeer  # noqa: PLC0415 - pyverbs

    assert cfg.listen is not None
    peer = MooncakePeer.open(cfg.device, cfg.listen[0], cfg.listen[1], length,
                             on_event=lambda kind, **f: ev.emit(kind, **f), gid_index=cfg.gid_index, ib_port=cfg.ib_port)
    ev.emit("ready", dialect="mooncake", segment=peer.name, device=peer.dev.name, gid=peer.gid, addr=peer.buf.addr,
            length=peer.buf.length)
    return peer


def _target(cfg: RoleConfig, ev: EventLog) -> int:
    peer = _peer(cfg, ev, cfg.buffer_size)
    try:
        while True:
            time.sleep(1.0)  # serving in the background until SIGTERM / Ctrl-C
    finally:
        peer.close()


def _initiator(cfg: RoleConfig, ev: EventLog) -> int:
    assert cfg.peer is not None
    peer = _peer(cfg, ev, cfg.length)
    target = f"{cfg.peer[0]}:{cfg.peer[1]}"
    done = failures = 0
    try:
        while not cfg.rounds or done < cfg.rounds:
            deadline = time.monotonic() + cfg.reconnect_timeout
            while True:
                try:
                    seg = peer.segment(target, refresh=True)
                    if not seg.buffers:
                        raise RdmacheckError(f"segment {target} has no registered buffer")
                    buf = seg.buffers[0]
                    if cfg.offset + cfg.length > buf.length:
                        raise RdmacheckError(f"--offset {cfg.offset} + --length {cfg.length} exceeds {target}'s "
                                             f"first buffer of {buf.length} bytes")
                    ok = _round(peer, ev, cfg, target, buf.addr + cfg.offset, done)
                    break
                except (OSError, TimeoutError, FrameError, InvalidMessage, CompletionError, VerbsError,
                        DeadlineExceeded) as e:
                    ev.emit("round_error", round=done, message=str(e)[:300])
                    if time.monotonic() >= deadline:
                        raise DeadlineExceeded(f"a verified round with segment {target}", cfg.reconnect_timeout)
                    time.sleep(cfg.heartbeat)
            failures += not ok
            done += 1
            if not cfg.rounds or done < cfg.rounds:
                time.sleep(cfg.heartbeat)
        ev.emit("done", rounds=done, failures=failures)
        return 1 if failures else 0
    finally:
        peer.close()


def _round(peer, ev: EventLog, cfg: RoleConfig, target: str, raddr: int, index: int) -> bool:
    seed = new_seed()
    peer.buf.write(0, pattern(seed, cfg.length))
    t0 = time.perf_counter()
    peer.transfer("write", target, raddr, cfg.length, cfg.io_timeout)
    write_ms = (time.perf_counter() - t0) * 1000
    peer.buf.write(0, bytes(cfg.length))  # so a READ that does nothing cannot pass
    t1 = time.perf_counter()
    peer.transfer("read", target, raddr, cfg.length, cfg.io_timeout)
    read_ms = (time.perf_counter() - t1) * 1000
    mm = check_pattern(seed, peer.buf.read(0, cfg.length))
    fields = dict(round=index, bytes=cfg.length, peer=target, write_ms=round(write_ms, 3), read_ms=round(read_ms, 3),
                  target_ok=None, readback_ok=mm is None)
    if mm is None:
        ev.emit("verified", **fields)
        return True
    ev.emit("verify_failed", **fields, step="read back", finding="readback-mismatch",
            detail=f"first mismatch at byte {mm.offset}: expected {mm.expected:#04x}, found {mm.found:#04x}")
    return False


def run_mooncake_role(cfg: RoleConfig) -> int:
    ev = EventLog(role=cfg.role, name=cfg.name, generation=new_generation())
    ev.log(f"starting {cfg.role} {cfg.name!r} on {cfg.device} (mooncake dialect)")
    exit_on_sigterm()
    return run_guarded(ev, lambda: (_target if cfg.role == "target" else _initiator)(cfg, ev))
