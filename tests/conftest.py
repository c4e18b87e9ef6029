import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Every property test's profile, loaded before any test module is imported: no per-example time limit (a test that
# can fail on 2 busy cores is a defect); HYPOTHESIS_PROFILE=bench for the long fuzz runs.
settings.register_profile("ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("bench", max_examples=25_000, deadline=None, suppress_health_check=list(HealthCheck))
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

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
