"""Re-establishment on real verbs (rxe0): both restart sides x both strategies, and bad input."""
import json
import socket
import struct
import subprocess
import sys
import time

from tests.conftest import ROOT, rdmacheck, require_device


def run_local(tmp_path, restart, strategy, rounds=2, device="rxe0", extra=()):
    out = tmp_path / f"{restart}-{strategy}.json"
    r = rdmacheck("reestablish", "--local", "-d", device, "--restart", restart, "--strategy", strategy,
                  "--rounds", str(rounds), "--length", "64KiB", "--json", str(out), "--log-dir", str(tmp_path / "logs"),
                  *extra, timeout=300)
    return r, json.loads(out.read_text())


# Both restart sides x both strategies on rxe0 (oob and cm) are cells of the default matrix:
# tests/lab/test_matrix.py asserts every round's verdict, QP numbers and detection times.


def test_unknown_device_is_one_line_listing_devices():
    require_device("rxe0")
    r = rdmacheck("reestablish", "--role", "target", "-d", "nosuch0", "--listen", "127.0.0.1:0")
    assert r.returncode == 2
    assert "no RDMA device named 'nosuch0'; devices here: " in r.stderr and "rxe0" in r.stderr
    assert "Traceback" not in r.stderr
    assert json.loads(r.stdout.splitlines()[-1])["event"] == "error"


def test_bad_gid_index_names_the_index_and_valid_ones():
    require_device("rxe0")
    r = rdmacheck("reestablish", "--role", "target", "-d", "rxe0", "--gid-index", "99", "--listen", "127.0.0.1:0")
    assert r.returncode == 2
    assert "GID index 99 on rxe0 port 1 is empty or missing; valid indexes: " in r.stderr
    assert "Traceback" not in r.stderr


def test_peer_where_nothing_listens_fails_within_reconnect_timeout():
    require_device("rxe0")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    t0 = time.monotonic()
    r = rdmacheck("reestablish", "--role", "initiator", "-d", "rxe0", "--peer", f"127.0.0.1:{port}",
                  "--reconnect-timeout", "2")
    assert r.returncode != 0
    assert f"127.0.0.1:{port}" in r.stderr and "deadline of 2 s passed" in r.stderr
    assert time.monotonic() - t0 < 30


def _start_target(port):
    p = subprocess.Popen([sys.executable, "-m", "rdmacheck", "reestablish", "--role", "target", "-d", "rxe0",
                          "--listen", f"127.0.0.1:{port}", "--buffer-size", "1MiB"], cwd=ROOT,
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    assert json.loads(line)["event"] == "ready", line
    return p


def test_garbage_and_oversized_frames_are_rejected_and_target_keeps_serving():
    require_device("rxe0")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    target = _start_target(port)
    try:
        for junk in (b"GET / HTTP/1.0\r\n\r\n", struct.pack(">I", 1 << 30), struct.pack(">I", 7) + b"\x00" * 7):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
                c.sendall(junk)
                c.settimeout(5)
                assert c.recv(65536), "the target answers a bad frame with a reject"
        r = rdmacheck("reestablish", "--role", "initiator", "-d", "rxe0", "--peer", f"127.0.0.1:{port}",
                      "--rounds", "1", "--length", "64KiB")
        assert r.returncode == 0, r.stderr
        events = [json.loads(x) for x in r.stdout.splitlines()]
        assert [e["event"] for e in events][-2:] == ["verified", "done"]
    finally:
        target.terminate()
        out, _ = target.communicate(timeout=30)
    rejected = [json.loads(x) for x in out.splitlines() if '"handshake_rejected"' in x]
    assert len(rejected) == 3
    assert any("exceeds the cap" in e["reason"] for e in rejected)
