"""Benchmark (not a test): the harness overhead and the reconnect latency, against a minimal raw
pyverbs baseline doing the same work in the same VM (goals: overhead <= 1.25x, reconnect <= 20 ms).

The baseline (this file, nothing from rdmacheck): a target process and an initiator process on
rxe0; the initiator exchanges QP number/PSN/GID over one TCP connection, brings an RC QP up, WRITEs
a pattern, has the target compare it, READs it back and compares it; then it is SIGKILLed and
started again, and the target recreates its QP for the new one. rdmacheck does the same cell with
`reestablish --local --restart initiator --strategy recreate --rounds 1`. Both are timed from the
first process start to the verified round after the restart; reconnect = restarted initiator
ready -> verified write.

    rdmacheck lab run -- .venv/bin/python benchmarks/raw_restart.py [--cells 5] [--length 65536]
"""
import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DEV, PORT = "rxe0", 18777
ROOT = Path(__file__).resolve().parents[1]


def pattern(seed: int, n: int) -> bytes:
    import hashlib
    return (hashlib.shake_256(seed.to_bytes(8, "little")).digest(4096) * (n // 4096 + 1))[:n]


def verbs(length: int):
    from pyverbs.addr import GID, AHAttr, GlobalRoute
    from pyverbs.cq import CQ
    from pyverbs.device import Context
    from pyverbs.enums import (IBV_ACCESS_LOCAL_WRITE, IBV_ACCESS_REMOTE_READ, IBV_ACCESS_REMOTE_WRITE,
                               IBV_QPS_INIT, IBV_QPS_RTR, IBV_QPS_RTS, IBV_QPT_RC)
    from pyverbs.mr import MR
    from pyverbs.pd import PD
    from pyverbs.qp import QP, QPAttr, QPCap, QPInitAttr
    ctx = Context(name=DEV)
    pd = PD(ctx)
    access = IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE | IBV_ACCESS_REMOTE_READ
    mr = MR(pd, length, access)
    gid = str(ctx.query_gid(1, 1))

    def new_qp():
        cq = CQ(ctx, 16)
        qp = QP(pd, QPInitAttr(qp_type=IBV_QPT_RC, scq=cq, rcq=cq, cap=QPCap(max_send_wr=4, max_recv_wr=1)))
        return qp, cq

    def connect(qp, peer):
        a = QPAttr(qp_state=IBV_QPS_INIT)
        a.pkey_index, a.port_num, a.qp_access_flags = 0, 1, access
        qp.to_init(a)
        a = QPAttr(qp_state=IBV_QPS_RTR)
        a.path_mtu, a.dest_qp_num, a.rq_psn, a.max_dest_rd_atomic, a.min_rnr_timer = 3, peer["qpn"], 0, 1, 12
        a.ah_attr = AHAttr(gr=GlobalRoute(dgid=GID(peer["gid"]), sgid_index=1), is_global=1, port_num=1)
        qp.to_rtr(a)
        a = QPAttr(qp_state=IBV_QPS_RTS)
        a.timeout, a.retry_cnt, a.rnr_retry, a.sq_psn, a.max_rd_atomic = 14, 6, 6, 0, 1
        qp.to_rts(a)
    return mr, gid, new_qp, connect


def target(length: int) -> None:
    mr, gid, new_qp, connect = verbs(length)
    srv = socket.create_server(("127.0.0.1", PORT), reuse_port=False)
    print(json.dumps({"event": "ready", "ts": time.time()}), flush=True)
    qp = None
    while True:
        conn, _ = srv.accept()
        f = conn.makefile("rw")
        peer = json.loads(f.readline())
        if qp:  # recreate for the new peer
            qp[0].close()
            qp[1].close()
        qp = new_qp()
        connect(qp[0], peer)
        f.write(json.dumps({"qpn": qp[0].qp_num, "gid": gid, "addr": mr.buf, "rkey": mr.rkey}) + "\n")
        f.flush()
        for line in f:  # verify requests
            seed = json.loads(line)["seed"]
            f.write(json.dumps({"ok": mr.read(length, 0) == pattern(seed, length)}) + "\n")
            f.flush()


def initiator(length: int) -> None:
    from pyverbs.enums import IBV_SEND_SIGNALED, IBV_WR_RDMA_READ, IBV_WR_RDMA_WRITE
    from pyverbs.wr import SGE, SendWR
    mr, gid, new_qp, connect = verbs(length)
    qp, cq = new_qp()
    socket.getaddrinfo("127.0.0.1", PORT)  # a process's first lookup costs ~23 ms under TCG: not in the timing
    print(json.dumps({"event": "ready", "ts": time.time()}), flush=True)
    s = socket.create_connection(("127.0.0.1", PORT))
    f = s.makefile("rw")
    f.write(json.dumps({"qpn": qp.qp_num, "gid": gid}) + "\n")
    f.flush()
    peer = json.loads(f.readline())
    connect(qp, peer)

    def op(opcode):
        wr = SendWR(opcode=opcode, num_sge=1, sg=[SGE(mr.buf, length, mr.lkey)], send_flags=IBV_SEND_SIGNALED)
        wr.set_wr_rdma(peer["rkey"], peer["addr"])
        qp.post_send(wr)
        deadline = time.monotonic() + 10
        while True:
            n, wcs = cq.poll()
            if n > 0:
                assert wcs[0].status == 0, wcs[0].status
                return
            assert time.monotonic() < deadline, "no completion"
    seed = int.from_bytes(os.urandom(7), "little")
    data = pattern(seed, length)
    mr.write(data, length, 0)
    op(IBV_WR_RDMA_WRITE)
    f.write(json.dumps({"seed": seed}) + "\n")
    f.flush()
    ok = json.loads(f.readline())["ok"]
    mr.write(bytes(length), length, 0)
    op(IBV_WR_RDMA_READ)
    ok = ok and mr.read(length, 0) == data
    print(json.dumps({"event": "verified" if ok else "verify_failed", "ts": time.time()}), flush=True)
    time.sleep(3600)  # hold until killed


def spawn(role: str, length: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, __file__, "--role", role, "--length", str(length)],
                            stdout=subprocess.PIPE, text=True)


def event(p: subprocess.Popen, name: str) -> dict:
    while True:
        line = p.stdout.readline()
        if not line:
            raise SystemExit(f"raw {name}: the process exited")
        ev = json.loads(line)
        if ev["event"] in (name, "verify_failed"):
            assert ev["event"] == name, ev
            return ev


def raw_cell(length: int) -> tuple[float, float]:
    t0 = time.time()
    tgt = spawn("target", length)
    event(tgt, "ready")
    first = spawn("initiator", length)
    event(first, "verified")
    first.kill()
    first.wait()
    again = spawn("initiator", length)
    ready = event(again, "ready")
    done = event(again, "verified")
    wall = time.time() - t0
    for p in (again, tgt):
        p.kill()
        p.wait()
    return wall, (done["ts"] - ready["ts"]) * 1000


def rdmacheck_cell(length: int, spawn: str = "fork") -> tuple[float, float]:
    """spawn: fork (the default: role processes forked from the runner) or exec (fresh interpreters)."""
    out = Path(tempfile.mkdtemp(prefix="rdmacheck-raw-")) / "cell.json"
    t0 = time.time()
    r = subprocess.run([sys.executable, "-m", "rdmacheck", "reestablish", "--local", "-d", DEV, "--restart", "initiator",
                        "--strategy", "recreate", "--rounds", "1", "--length", str(length), "--json", str(out)],
                       cwd=ROOT, capture_output=True, text=True, env={**os.environ, "RDMACHECK_SPAWN": spawn})
    wall = time.time() - t0
    if r.returncode != 0:
        raise SystemExit(f"rdmacheck cell failed: {r.stdout[-500:]} {r.stderr[-500:]}")
    return wall, json.loads(out.read_text())["cells"][0]["rounds"][1]["reconnect_ms"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--role")
    ap.add_argument("--cells", type=int, default=5)
    ap.add_argument("--length", type=int, default=65536)
    a = ap.parse_args()
    if a.role:
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
        (target if a.role == "target" else initiator)(a.length)
        return
    raw = [raw_cell(a.length) for _ in range(a.cells)]
    rc = [rdmacheck_cell(a.length) for _ in range(a.cells)]
    rc_exec = [rdmacheck_cell(a.length, "exec") for _ in range(a.cells)]

    def med(xs, i):
        return statistics.median(x[i] for x in xs)

    def p90(xs, i):
        v = sorted(x[i] for x in xs)
        return v[min(len(v) - 1, int(0.9 * len(v)))]
    over = med(rc, 0) / med(raw, 0)
    print(f"one restart cell ({a.cells} each, {a.length} B, {DEV}): rdmacheck median {med(rc, 0):.2f} s, raw pyverbs "
          f"baseline median {med(raw, 0):.2f} s -> overhead {over:.2f}x (goal <= 1.25x: "
          f"{'met' if over <= 1.25 else 'MISSED'})")
    print(f"  the same cell with RDMACHECK_SPAWN=exec (a fresh interpreter per role): median {med(rc_exec, 0):.2f} s "
          f"-> {med(rc_exec, 0) / med(raw, 0):.2f}x; reconnect median {med(rc_exec, 1):.1f} ms")
    print(f"reconnect (restarted initiator ready -> verified write): rdmacheck median {med(rc, 1):.1f} ms, p90 "
          f"{p90(rc, 1):.1f} ms; raw baseline median {med(raw, 1):.1f} ms, p90 {p90(raw, 1):.1f} ms -> ratio "
          f"{med(rc, 1) / med(raw, 1):.2f}x (goal median <= 20 ms: {'met' if med(rc, 1) <= 20 else 'MISSED'})")
    print(json.dumps({"raw": raw, "rdmacheck": rc}))


if __name__ == "__main__":
    main()
