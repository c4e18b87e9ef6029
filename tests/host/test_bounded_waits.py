"""Every wait has an end: reaping a role that will not die, a fork server's late reply, draining a
process that never stops writing. And `lab hosts` never touches a machine that is not the lab guest."""
import os
import signal
import subprocess
import sys
import time

import pytest

from rdmacheck.errors import DeadlineExceeded
from rdmacheck.roles import forked
from rdmacheck.roles.forkserver import ForkServer
from rdmacheck.roles.process import RoleProcess


def test_a_child_that_will_not_die_is_left_after_the_kill_grace(monkeypatch):
    """As a role in uninterruptible sleep: SIGKILL does not take it (here: the kill is swallowed)."""
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    real_kill = os.kill
    monkeypatch.setattr(forked.os, "kill", lambda pid, sig: None)
    try:
        t0 = time.monotonic()
        assert forked.reap_within(p.pid, 0.2, kill_grace=0.5) is None
        assert time.monotonic() - t0 < 3
    finally:
        monkeypatch.setattr(forked.os, "kill", real_kill)
        real_kill(p.pid, signal.SIGKILL)
        p.wait()


def test_a_late_fork_server_reply_is_never_taken_for_the_next_request():
    """A reply that comes after its request's deadline (here: waiting on the socket first) is skipped
    by number; the old code read it as the answer to the next request (a KeyError nothing caught)."""
    import json
    import socket

    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    server = ForkServer(os.getpid(), mine)
    try:
        late = server._request({"op": "wait", "pid": 1, "timeout": 1.0})
        with pytest.raises(DeadlineExceeded):
            server._reply(late, 0.1, "a reply that comes late")
        spawn = server._request({"op": "spawn"})
        theirs.sendall(json.dumps({"status": 0, "id": late}).encode())  # the late one, then the real one
        theirs.sendall(json.dumps({"pid": 4242, "id": spawn}).encode())
        assert server._reply(spawn, 2.0, "the spawn") == {"pid": 4242, "id": spawn}
    finally:
        mine.close()
        theirs.close()


def test_draining_a_process_that_never_stops_writing_ends(tmp_path):
    (tmp_path / "chatty.py").write_text("while True:\n    print('x' * 100, flush=True)\n")
    p = RoleProcess("chatty", [], tmp_path / "log", env={**os.environ, "PYTHONPATH": str(tmp_path)}, module="chatty")
    try:
        t0 = time.monotonic()
        p.mark()
        assert time.monotonic() - t0 < 5
    finally:
        p.kill()
        p.stop(grace=1.0)


def test_lab_hosts_refuses_to_touch_a_machine_that_is_not_the_lab_guest(tmp_path, monkeypatch):
    from rdmacheck.errors import EnvironmentProblem
    from rdmacheck.lab import hosts

    forward = "/proc/sys/net/ipv4/ip_forward"
    before = open(forward).read()
    monkeypatch.setattr(hosts, "_sh", lambda cmd, stdin=None: pytest.fail(f"ran {cmd} outside the guest"))
    with pytest.raises(EnvironmentProblem, match="inside the lab guest only"):
        hosts.create(2)
    assert open(forward).read() == before
    (tmp_path / "cmdline").write_text("console=ttyS0 rdmacheck.lab=/var/tmp/rdmacheck-lab rdmacheck.mode=run\n")
    assert hosts.in_lab_guest(tmp_path / "cmdline") and not hosts.in_lab_guest(tmp_path / "missing")
