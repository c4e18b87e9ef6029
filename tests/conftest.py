import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IN_LAB = os.environ.get("RDMACHECK_IN_LAB") == "1"


def rdmacheck(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    """Run the CLI as a user would, in a subprocess."""
    return subprocess.run([sys.executable, "-m", "rdmacheck", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=kw.pop("cwd", ROOT), **kw)


def require_device(name: str) -> None:
    """Inside the lab a missing device is a failure; elsewhere a skip that says why."""
    if Path(f"/sys/class/infiniband/{name}").exists():
        return
    if IN_LAB:
        pytest.fail(f"lab device {name} is missing: the lab did not come up as planned")
    pytest.skip(f"needs RDMA device {name}: run the lab tests with `rdmacheck lab run -- pytest tests/lab`")


@pytest.fixture
def etcd_server(tmp_path):
    from rdmacheck.metadata.local_etcd import EtcdServer

    (tmp_path / "etcd").mkdir()
    server = EtcdServer(tmp_path / "etcd").start()
    yield server
    server.remove()
