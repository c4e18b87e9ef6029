"""Re-establishment with etcd metadata on real verbs (rxe0) and a real etcd inside the lab:
descriptors under leases, and the survivor re-establishing because its watch saw the restart."""
import pytest

from tests.conftest import require_device
from tests.lab.test_reestablish import run_local

TTL = 2


# Both restart sides: a restarted target listens on its predecessor's port, so it must not answer
# before it has claimed its name (the initiator would otherwise reach it through the stale key).
@pytest.mark.parametrize("restart", ["initiator", "target"])
@pytest.mark.parametrize("strategy", ["reset", "recreate"])
def test_restart_detected_by_the_watch_and_every_round_verified(tmp_path, etcd_server, restart, strategy):
    require_device("rxe0")
    r, res = run_local(tmp_path, restart, strategy, rounds=1,
                       extra=("--metadata", etcd_server.url, "--lease-ttl", str(TTL)))
    assert r.returncode == 0, r.stdout + r.stderr
    cell = res["cells"][0]
    assert cell["verdict"] == "PASS"
    for x in cell["rounds"][1:]:
        assert x["detect_via"].startswith("etcd watch"), x
        # the survivor hears of the death when the lease expires (about the TTL after the kill),
        # or earlier if the restarted process had already published a new generation
        assert 0 < x["detect_ms"] < (TTL + 3) * 1000, x
        if strategy == "reset":
            assert x["survivor_qpn_after"] == x["survivor_qpn_before"]
