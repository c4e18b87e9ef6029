"""Fault injection and handshake security on real verbs (rxe0)."""
import json
import socket
import subprocess
import sys

from rdmacheck.handshake import wire
from rdmacheck.handshake.auth import sign
from rdmacheck.handshake.messages import Connect, QPInfo
from tests.conftest import ROOT, rdmacheck, require_device
from tests.lab.test_reestablish import run_local

TOKEN = "lab-token-0123456789"


def test_reset_noop_is_reported_as_silent_reset_and_recreate_passes(tmp_path):
    require_device("rxe0")
    r, res = run_local(tmp_path, "initiator", "reset", rounds=1, extra=("--inject", "reset-noop"))
    assert r.returncode == 1, r.stdout + r.stderr
    cell = res["cells"][0]
    assert cell["verdict"] == "FAIL" and cell["finding"] == "silent-reset", cell
    r, res = run_local(tmp_path, "initiator", "recreate", rounds=1, extra=("--inject", "reset-noop"))
    assert r.returncode == 0 and res["cells"][0]["verdict"] == "PASS", r.stdout + r.stderr


def test_rtr_einval_names_step_errno_and_attributes():
    require_device("rxe0")
    target = subprocess.Popen([sys.executable, "-m", "rdmacheck", "reestablish", "--role", "target", "-d", "rxe0",
                               "--listen", "127.0.0.1:0", "--buffer-size", "1MiB", "--inject", "rtr-einval"],
                              cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        addr = json.loads(target.stdout.readline())["listen"]
        r = rdmacheck("reestablish", "--role", "initiator", "-d", "rxe0", "--peer", addr, "--rounds", "1",
                      "--length", "4KiB")
        assert r.returncode != 0
        for part in ("to RTR failed: Invalid argument (errno 22 EINVAL)", "path_mtu=", "gid_index=", "dest_qpn=0x",
                     "rq_psn=", "port=1"):
            assert part in r.stderr, r.stderr
    finally:
        target.terminate()
        target.communicate(timeout=30)


def _target(*extra, ready=None):
    p = subprocess.Popen([sys.executable, "-m", "rdmacheck", "reestablish", "--role", "target", "-d", "rxe0",
                          "--listen", "127.0.0.1:0", "--buffer-size", "1MiB", *extra], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ev = json.loads(p.stdout.readline())
    if ready is not None:
        ready.update(ev)
    return p, ev["listen"]


def _initiator(addr, *extra):
    return rdmacheck("reestablish", "--role", "initiator", "-d", "rxe0", "--peer", addr, "--rounds", "1",
                     "--length", "64KiB", "--reconnect-timeout", "5", *extra)


def test_garbled_and_dropped_handshakes_are_handled_and_the_target_keeps_serving():
    require_device("rxe0")
    target, addr = _target()
    try:
        garbled = _initiator(addr, "--inject", "handshake-garble")
        assert garbled.returncode != 0 and "peer rejected the handshake: bad frame" in garbled.stderr
        dropped = _initiator(addr, "--inject", "handshake-drop")  # lost once, then retried
        assert dropped.returncode == 0, dropped.stderr
        delayed = _initiator(addr, "--inject", "handshake-delay:300")
        assert delayed.returncode == 0, delayed.stderr
    finally:
        target.terminate()
        out, _ = target.communicate(timeout=30)
    rejected = [json.loads(x) for x in out.splitlines() if '"handshake_rejected"' in x]
    assert len(rejected) == 1 and "bad frame" in rejected[0]["reason"]


def test_without_the_token_a_peer_is_refused_and_changes_no_qp():
    require_device("rxe0")
    ready = {}
    target, addr = _target("--token", TOKEN, ready=ready)
    try:
        assert "requires a token" in _initiator(addr).stderr
        assert "wrong token" in _initiator(addr, "--token", "some-other-token-xyz").stderr
        # a replayed (captured) signed handshake is refused too; it is bound to this target process
        host, port = addr.rsplit(":", 1)
        qp = QPInfo("mallory", 1, "rxe0", 1, "::ffff:169.254.30.1", 0, 1024, 99, 1)
        signed = wire.encode(sign(TOKEN.encode(), Connect(qp=qp).envelope(), f"gen:{ready['generation']}"))
        replies = []
        for _ in range(2):
            with socket.create_connection((host, int(port)), timeout=5) as c:
                c.sendall(signed)
                import time
                replies.append(wire.read_frame(c, time.monotonic() + 5))
        assert replies[0]["type"] == "accept" and "replayed" in replies[1]["reason"], replies
        ok = _initiator(addr, "--token", TOKEN)
        assert ok.returncode == 0, ok.stderr
    finally:
        target.terminate()
        out, _ = target.communicate(timeout=30)
    # the same captured message, sent to the target's successor (a new process: a new nonce cache)
    successor, addr2 = _target("--token", TOKEN)
    try:
        host2, port2 = addr2.rsplit(":", 1)
        with socket.create_connection((host2, int(port2)), timeout=5) as c:
            c.sendall(signed)
            import time
            late = wire.read_frame(c, time.monotonic() + 5)
        assert late["type"] == "reject" and "bound to another target process" in late["reason"], late
    finally:
        successor.terminate()
        successor.communicate(timeout=30)
    events = [json.loads(x) for x in out.splitlines()]
    refused = [e for e in events if e["event"] == "handshake_rejected"]
    assert len(refused) == 3
    # only the real initiator and the first (validly signed) copy got QPs; the refused ones none
    connected = [e["peer"] for e in events if e["event"] == "connected"]
    assert sorted(connected) == ["initiator", "mallory"]


def test_verify_needs_a_connected_session_and_a_mismatch_reports_no_data():
    """Any TCP client could otherwise read the exposed buffer through Verify's verdicts."""
    import time

    from rdmacheck.handshake.messages import Verify

    require_device("rxe0")
    target, addr = _target()
    host, port = addr.rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=5) as c:
            c.sendall(wire.encode(Verify(seed=1, offset=0, length=4096).envelope()))
            reply = wire.read_frame(c, time.monotonic() + 5)
        assert reply["type"] == "reject" and "needs a connected session" in reply["reason"], reply
        ok = _initiator(addr)  # a real initiator connects, writes, verifies
        assert ok.returncode == 0, ok.stderr
    finally:
        target.terminate()
        out, _ = target.communicate(timeout=30)
    events = [json.loads(x) for x in out.splitlines()]
    assert any(e["event"] == "handshake_rejected" and "connected session" in e["reason"] for e in events)


def test_a_target_whose_rdma_cm_loop_dies_stops_with_a_finding_instead_of_living_on():
    """It used to answer handshakes and never accept a CM request again."""
    require_device("siw0")
    p = subprocess.run([sys.executable, "-m", "rdmacheck", "reestablish", "--role", "target", "-d", "siw0",
                        "--mode", "cm", "--listen", "169.254.10.1:0", "--buffer-size", "1MiB",
                        "--inject", "cm-event-error"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    events = [json.loads(x) for x in p.stdout.splitlines() if x.startswith("{")]
    fatal = [e for e in events if e["event"] == "error" and e.get("fatal")]
    assert p.returncode != 0 and fatal and fatal[-1]["finding"] == "cm-loop-died", (p.returncode, events)
    assert "rdma_cm event loop stopped" in fatal[-1]["message"]
