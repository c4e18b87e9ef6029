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
    assert cell["verdict"] == "FAIL" and cell["finding"] == "silent reset", cell
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


def _target(*extra):
    p = subprocess.Popen([sys.executable, "-m", "rdmacheck", "reestablish", "--role", "target", "-d", "rxe0",
                          "--listen", "127.0.0.1:0", "--buffer-size", "1MiB", *extra], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return p, json.loads(p.stdout.readline())["listen"]


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
    target, addr = _target("--token", TOKEN)
    try:
        assert "requires a token" in _initiator(addr).stderr
        assert "wrong token" in _initiator(addr, "--token", "some-other-token-xyz").stderr
        # a replayed (captured) signed handshake is refused too
        host, port = addr.rsplit(":", 1)
        qp = QPInfo("mallory", 1, "rxe0", 1, "::ffff:169.254.30.1", 0, 1024, 99, 1)
        signed = wire.encode(sign(TOKEN.encode(), Connect(qp=qp).envelope()))
        replies = []
        for _ in range(2):
            with socket.create_connection((host, int(port)), timeout=5) as c:
                c.sendall(signed)
                import time
                replies.append(wire.read_frame(c, time.monotonic() + 5))
        assert "replayed" in replies[1]["reason"]
        ok = _initiator(addr, "--token", TOKEN)
        assert ok.returncode == 0, ok.stderr
    finally:
        target.terminate()
        out, _ = target.communicate(timeout=30)
    events = [json.loads(x) for x in out.splitlines()]
    refused = [e for e in events if e["event"] == "handshake_rejected"]
    assert len(refused) == 3
    # only the real initiator and the first (validly signed) copy got QPs; the refused ones none
    connected = [e["peer"] for e in events if e["event"] == "connected"]
    assert sorted(connected) == ["initiator", "mallory"]
