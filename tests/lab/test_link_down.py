"""link-down:SECONDS on real verbs: the device's netdev goes down under a live connection whose
initiator keeps writing; the report says what the initiator saw, and the pair must carry verified
data again after the link comes back."""
import pytest

from tests.conftest import require_device
from tests.lab.test_reestablish import run_local

DOWN = 3


@pytest.mark.parametrize("strategy", ["reset"])
def test_link_down_is_seen_and_the_pair_recovers(tmp_path, strategy):
    require_device("rxe0")
    r, res = run_local(tmp_path, "initiator", strategy, rounds=1, extra=("--inject", f"link-down:{DOWN}"))
    cell = res["cells"][0]
    assert r.returncode == 0 and cell["verdict"] == "PASS", r.stdout + r.stderr
    outage = cell["rounds"][1]
    assert outage["step"] == f"link-down:{DOWN}"
    # the initiator's 64 B heartbeat WRITE failed while the link was down, well within the outage
    assert outage["detect_via"].startswith("RDMA heartbeat"), outage
    assert 0 < outage["detect_ms"] < DOWN * 1000, outage
    assert outage["reconnect_ms"] is not None and outage["reconnect_ms"] < 30_000, outage
    assert "verified again" in outage["detail"] and "rx0 down" in outage["detail"], outage
