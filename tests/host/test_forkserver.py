"""The role fork server on the host (no RDMA here, so a role fails at its device; the lab's fleet
tests run every pair through it for real). The runner here has grpc loaded and a channel open,
as an agent has: the server is what lets such a process still fork roles."""

import os
import signal
import subprocess
import sys
import textwrap
import time

RUNNER = """
import grpc, sys, time
from pathlib import Path
channel = grpc.insecure_channel("127.0.0.1:1")  # grpc's threads are up, as in an agent
from rdmacheck.roles.config import RoleConfig
from rdmacheck.roles.forked import fork_blocker
from rdmacheck.roles.forkserver import ForkServer
from rdmacheck.roles.process import RoleFailed, RoleProcess
assert fork_blocker() is not None
server = ForkServer.start(timeout=30)
def served(config_json, netns=None):
    return RoleProcess("target", [config_json], Path(LOG), module="rdmacheck.roles", forkserver=server, netns=netns)
"""


def run_checks(tmp_path, body: str) -> str:
    code = (RUNNER + textwrap.dedent(body)).replace("LOG", repr(str(tmp_path / "role.log"))) + "\nprint('checked')\n"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=90)
    assert r.returncode == 0 and r.stdout.strip().endswith("checked"), r.stdout + r.stderr
    return r.stdout


def test_a_served_role_reports_its_fatal_error_as_an_event_and_its_exit_status_is_reaped(tmp_path):
    run_checks(tmp_path, """
        cfg = RoleConfig(role="target", device="nosuch0", name="t", listen=("127.0.0.1", 0))
        t0 = time.monotonic()
        p = served(cfg.to_json())
        try:
            p.wait_for("ready", 20, "the target to be ready")
            raise SystemExit("the role cannot be ready without RDMA")
        except RoleFailed as e:
            assert e.event.get("event") == "error" and e.event["pid"] == p.pid, (str(e), list(p.tail))
        assert p.wait_exit(10) == 2
        p.stop()
        print(f"forked role failed and reaped in {time.monotonic() - t0:.3f} s")
    """)
    assert "starting target 't' on nosuch0" in (tmp_path / "role.log").read_text()  # stderr reaches the log


def test_bad_configurations_and_missing_namespaces_exit_2_and_say_why(tmp_path):
    run_checks(tmp_path, """
        p = served("{not json")
        assert p.wait_exit(10) == 2
        assert any("bad role configuration" in line for line in p.tail), list(p.tail)
        p = served("{}", netns="nosuch-ns")
        assert p.wait_exit(10) == 2
        assert any("no network namespace 'nosuch-ns'" in line for line in p.tail), list(p.tail)
        try:
            RoleProcess("x", ["{}"], Path(LOG), module="rdmacheck", forkserver=server)
            raise SystemExit("served another module")
        except ValueError:
            pass
    """)


def test_the_server_goes_when_its_runner_is_sigkilled(tmp_path):
    code = (RUNNER + "print(server.proc.pid, flush=True)\ntime.sleep(60)\n").replace("LOG", repr(str(tmp_path / "l")))
    runner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(runner.stdout.readline())
        argv = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        assert b"rdmacheck.roles.forkserver" in argv, argv
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait(5)
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid), "the fork server outlived its runner"


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for whoever adopted it is not)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
