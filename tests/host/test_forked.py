"""The forked role child's plumbing on the host (no RDMA here, so the role fails at its device;
the lab tests run every local cell through forked roles for real)."""

from pathlib import Path

import pytest

from rdmacheck.roles.config import RoleConfig
from rdmacheck.scenario.process import RoleFailed, RoleProcess


def forked(tmp_path: Path, config_json: str) -> RoleProcess:
    return RoleProcess("target", [config_json], tmp_path / "role.log", module="rdmacheck.roles", fork=True)


def test_a_forked_role_reports_its_fatal_error_as_an_event_and_an_exit_status(tmp_path):
    cfg = RoleConfig(role="target", device="nosuch0", name="t", listen=("127.0.0.1", 0))
    p = forked(tmp_path, cfg.to_json())
    with pytest.raises(RoleFailed) as e:
        p.wait_for("ready", 20, "the target to be ready")
    assert e.value.event["event"] == "error" and e.value.event["pid"] == p.pid
    assert p.wait_exit(10) == 2
    p.stop()
    assert "starting target 't' on nosuch0" in (tmp_path / "role.log").read_text()  # stderr reaches the log


def test_a_forked_role_with_a_bad_configuration_exits_2_and_says_why(tmp_path):
    p = forked(tmp_path, "{not json")
    assert p.wait_exit(10) == 2
    assert any("bad role configuration" in line for line in p.tail)


def test_only_the_roles_module_outside_a_namespace_can_be_forked(tmp_path):
    with pytest.raises(ValueError):
        RoleProcess("x", ["{}"], tmp_path / "x.log", module="rdmacheck", fork=True)
    with pytest.raises(ValueError):
        RoleProcess("x", ["{}"], tmp_path / "x.log", module="rdmacheck.roles", netns="hostb", fork=True)
