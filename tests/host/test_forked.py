"""The forked role child's plumbing on the host (no RDMA here, so the role fails at its device;
the lab tests run every local cell through forked roles for real). Each check runs in a fresh
interpreter: this test process may have loaded grpc (etcd tests), and a runner with grpc loaded
never forks (forked.fork_blocker)."""

import subprocess
import sys
import textwrap

import pytest

from tests.host.test_forkserver import RUNNERS as SERVED

PRELUDE = """
from pathlib import Path
from rdmacheck.roles.config import RoleConfig
from rdmacheck.roles.process import RoleFailed, RoleProcess
def forked(config_json):
    return RoleProcess("target", [config_json], Path(LOG), module="rdmacheck.roles", fork=True)
"""

# A role (started by `start`) that cannot open its device: a fatal error event, then exit status 2.
FATAL_ERROR_CHECK = """
cfg = RoleConfig(role="target", device="nosuch0", name="t", listen=("127.0.0.1", 0))
p = start(cfg.to_json())
try:
    p.wait_for("ready", 20, "the target to be ready")
    raise SystemExit("the role cannot be ready without RDMA")
except RoleFailed as e:
    assert e.event.get("event") == "error" and e.event["pid"] == p.pid, (str(e), list(p.tail))
assert p.wait_exit(10) == 2
p.stop()
"""


def run_checks(tmp_path, body: str, prelude: str = PRELUDE) -> None:
    """prelude + body in a fresh interpreter (LOG: the role log's path); it must print 'checked'."""
    code = (prelude + textwrap.dedent(body)).replace("LOG", repr(str(tmp_path / "role.log"))) + "\nprint('checked')\n"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=90)
    assert r.returncode == 0 and r.stdout.strip().endswith("checked"), r.stdout + r.stderr

# `start` forks a role from this process, or has the role fork server fork it (the runner holding
# grpc and a channel, as an agent does: tests/host/test_forkserver.py)
STARTS = {"forked": lambda: PRELUDE + "start = forked\n",
          "served-by-a-fork": lambda: SERVED["fork"] + "start = served\n",
          "served-by-a-fresh-interpreter": lambda: SERVED["exec"] + "start = served\n"}


@pytest.mark.parametrize("how", sorted(STARTS))
def test_a_forked_role_reports_its_fatal_error_as_an_event_and_an_exit_status(tmp_path, how):
    run_checks(tmp_path, FATAL_ERROR_CHECK, prelude=STARTS[how]())
    assert "starting target 't' on nosuch0" in (tmp_path / "role.log").read_text()  # stderr reaches the log


@pytest.mark.parametrize("how", sorted(STARTS))
def test_a_forked_role_with_a_bad_configuration_exits_2_and_says_why(tmp_path, how):
    run_checks(tmp_path, """
        p = start("{not json")
        assert p.wait_exit(10) == 2
        assert any("bad role configuration" in line for line in p.tail), list(p.tail)
    """, prelude=STARTS[how]())

def test_only_the_roles_module_and_only_without_grpc_is_forked(tmp_path):
    run_checks(tmp_path, """
        from rdmacheck.roles.forked import fork_blocker
        assert fork_blocker() is None
        try:
            RoleProcess("x", ["{}"], Path(LOG), fork=True, module="rdmacheck")
            raise SystemExit("forked another module")
        except ValueError:
            pass
        import grpc  # noqa: F401
        assert fork_blocker() == "this process has loaded grpc (an etcd client)"
        try:
            RoleProcess("x", ["{}"], Path(LOG), fork=True, module="rdmacheck.roles")
            raise SystemExit("forked with grpc loaded")
        except ValueError as e:
            assert "grpc" in str(e), e
    """)


def test_a_forked_role_in_a_missing_network_namespace_exits_2_and_names_it(tmp_path):
    run_checks(tmp_path, """
        p = RoleProcess("target", ["{}"], Path(LOG), module="rdmacheck.roles", netns="nosuch-ns", fork=True)
        assert p.wait_exit(10) == 2
        assert any("no network namespace 'nosuch-ns'" in line for line in p.tail), list(p.tail)
    """)


def test_a_deadline_names_the_last_events_of_the_process_it_waited_on():
    from rdmacheck.roles.process import RoleProcess

    p = object.__new__(RoleProcess)
    p.events = [{"event": e} for e in ("ready", "connected", "verified", "peer_lost", "dead_peer_probe",
                                       "connect_retry", "connect_retry", "connect_retry", "reestablished")]
    assert p.recent_events(4) == "peer_lost, dead_peer_probe, connect_retry x3, reestablished"
    p.events = []
    assert p.recent_events() == "none"


def test_a_process_holding_a_verbs_device_does_not_fork(monkeypatch):
    import os

    from rdmacheck.roles import forked

    monkeypatch.delitem(forked.sys.modules, "grpc", raising=False)
    real = os.readlink
    monkeypatch.setattr(os, "readlink", lambda p: "/dev/infiniband/uverbs0" if p.endswith("/fd/3") else real(p))
    monkeypatch.setattr(os, "listdir", lambda p: ["0", "1", "2", "3"])
    assert forked.fork_blocker() == "this process has a verbs device open"
