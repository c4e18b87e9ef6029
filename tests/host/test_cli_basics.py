from pathlib import Path

import pytest

from tests.conftest import rdmacheck


def test_version():
    r = rdmacheck("--version")
    assert r.returncode == 0 and r.stdout.startswith("rdmacheck ")


@pytest.mark.skipif(Path("/sys/class/infiniband").exists(), reason="this host has RDMA support")
def test_devices_without_rdma_is_one_clear_line_and_exit_2():
    r = rdmacheck("devices")
    assert r.returncode == 2
    assert "no /sys/class/infiniband: this kernel has no RDMA support" in r.stderr
    assert "rdmacheck lab run -- rdmacheck devices" in r.stderr
    assert "Traceback" not in r.stderr


def test_unknown_command_is_usage_error():
    r = rdmacheck("frobnicate")
    assert r.returncode == 2 and "No such command" in r.stderr


def test_lab_run_without_command_is_usage_error():
    r = rdmacheck("lab", "run")
    assert r.returncode == 2 and "Traceback" not in r.stderr
