"""The role fork server on the host (no RDMA here, so a role fails at its device; the lab's fleet
tests run every pair through it for real; its fatal-error and bad-configuration checks are
tests/host/test_forked.py's, run every way). Two runners, as an agent can be: one that started its
server before loading grpc (the server is a fork of it), and one with grpc loaded and a channel
open (the server is a fresh interpreter): either way the runner can still have roles forked."""

import signal
import subprocess
import sys
import time

import pytest

from tests.procs import alive

COMMON = """
import sys, time
from pathlib import Path
from rdmacheck.roles.config import RoleConfig
from rdmacheck.roles.forked import fork_blocker
from rdmacheck.roles.forkserver import ForkServer
from rdmacheck.roles.process import RoleFailed, RoleProcess
def served(config_json, netns=None):
    return RoleProcess("target", [config_json], Path(LOG), module="rdmacheck.roles", forkserver=server, netns=netns)
"""
RUNNERS = {
    "fork": COMMON + """
server = ForkServer.start(timeout=30)
assert server.how == "fork", server.how
import grpc
channel = grpc.insecure_channel("127.0.0.1:1")  # grpc's threads, after the server is up
""",
    "exec": COMMON + """
import grpc
channel = grpc.insecure_channel("127.0.0.1:1")  # grpc's threads are up: this process may not fork
assert fork_blocker() is not None
server = ForkServer.start(timeout=30)
assert server.how == "exec", server.how
""",
}


@pytest.mark.parametrize("how", sorted(RUNNERS))
def test_served_roles_in_missing_namespaces_exit_2_and_only_the_roles_module_is_served(tmp_path, how):
    from tests.host.test_forked import run_checks

    run_checks(tmp_path, """
        p = served("{}", netns="nosuch-ns")
        assert p.wait_exit(10) == 2
        assert any("no network namespace 'nosuch-ns'" in line for line in p.tail), list(p.tail)
        try:
            RoleProcess("x", ["{}"], Path(LOG), module="rdmacheck", forkserver=server)
            raise SystemExit("served another module")
        except ValueError:
            pass
    """, prelude=RUNNERS[how])


@pytest.mark.parametrize("how", sorted(RUNNERS))
def test_the_server_goes_when_its_runner_is_sigkilled(tmp_path, how):
    code = (RUNNERS[how] + "print(server.pid, flush=True)\ntime.sleep(60)\n").replace("LOG", repr(str(tmp_path / "l")))
    runner = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        pid = int(runner.stdout.readline())
        assert alive(pid)
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait(5)
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid), "the fork server outlived its runner"
