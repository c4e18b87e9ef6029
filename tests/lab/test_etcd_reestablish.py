"""Re-establishment with etcd metadata on real verbs (rxe0) and a real etcd inside the lab:
descriptors under leases, and the survivor re-establishing because its watch saw the restart;
etcd restarted mid-run; a lapsed lease under a live target."""
import json
import subprocess
import sys
import threading
import time

import pytest

from tests.conftest import ROOT, require_device
from tests.lab.test_reestablish import run_local

TTL = 2


# Both restart sides: a restarted target listens on its predecessor's port, so it must not answer
# before it has claimed its name (the initiator would otherwise reach it through the stale key).
# Five restarts of the target per cell: one was too few to catch a survivor waiting out its
# reconnect timeout for a generation that never changed.
@pytest.mark.parametrize("restart,rounds", [("initiator", 1), ("target", 5)])
@pytest.mark.parametrize("strategy", ["reset", "recreate"])
def test_restart_detected_by_the_watch_and_every_round_verified(tmp_path, etcd_server, restart, rounds, strategy):
    require_device("rxe0")
    r, res = run_local(tmp_path, restart, strategy, rounds=rounds,
                       extra=("--metadata", etcd_server.url, "--lease-ttl", str(TTL)))
    assert r.returncode == 0, r.stdout + r.stderr
    cell = res["cells"][0]
    assert cell["verdict"] == "PASS" and len(cell["rounds"]) == rounds + 1
    for x in cell["rounds"][1:]:
        assert x["detect_via"].startswith("etcd"), x
        # the survivor hears of the death when the lease expires (about the TTL after the kill),
        # or earlier if the restarted process had already published a new generation
        assert 0 < x["detect_ms"] < (TTL + 3) * 1000, x
        if strategy == "reset":
            assert x["survivor_qpn_after"] == x["survivor_qpn_before"]


def _record(errors: list, fn) -> None:
    try:
        fn()
    except AssertionError as e:
        errors.append(str(e))


def test_etcd_killed_and_restarted_mid_run_ends_in_verified_data_or_a_finding_within_the_deadline(
        tmp_path, etcd_server):
    """The watch thread used to end with etcd, and the initiator then waited forever."""
    require_device("rxe0")
    out = tmp_path / "r.json"
    cmd = [sys.executable, "-m", "rdmacheck", "reestablish", "--local", "-d", "rxe0", "--restart", "target",
           "--strategy", "recreate", "--rounds", "4", "--length", "64KiB", "--metadata", etcd_server.url,
           "--lease-ttl", str(TTL), "--json", str(out), "--log-dir", str(tmp_path / "logs")]
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    logs = tmp_path / "logs"

    def seen(event: str, count: int = 1) -> bool:
        return sum(f.read_text().count(f'"event":"{event}"') for f in logs.glob("*.log")) >= count

    def wait_for(what: str, cond, timeout: float) -> None:  # an event of the roles', never a guess of time
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline or p.poll() is not None:
                raise AssertionError(f"{what} not seen within {timeout:g} s")
            time.sleep(0.1)

    def outage():
        # The pair is up and its target was restarted once (a verified write after it), then etcd goes away
        # until a role has said so, and comes back.
        wait_for("a verified write after a target restart", lambda: seen("peer_restarted") and seen("verified", 2), 200)
        etcd_server.stop()
        try:
            wait_for("a role seeing etcd unreachable", lambda: seen("metadata_unreachable"), 60)
        finally:
            etcd_server.start()
    errors = []
    t = threading.Thread(target=lambda: _record(errors, outage))
    t.start()
    stdout, stderr = p.communicate(timeout=400)
    t.join()
    assert not errors, errors
    elapsed = time.monotonic() - t0
    cell = json.loads(out.read_text())["cells"][0]
    print(f"etcd outage mid-run: {cell['verdict']} {cell['finding']} after {elapsed:.0f} s")
    assert elapsed < 300, f"no verdict for {elapsed:.0f} s"
    if cell["verdict"] != "PASS":
        from rdmacheck.findings import is_known
        assert cell["finding"] and is_known(cell["finding"]), cell
    assert cell["verdict"] == "PASS", (cell, stderr[-2000:])  # measured: it recovers
    events = [json.loads(x) for f in (tmp_path / "logs").glob("*.log")
              for x in f.read_text().splitlines() if x.startswith("{")]
    kinds = {e["event"] for e in events}
    assert "metadata_unreachable" in kinds, kinds  # the outage was seen (and outlived) by the roles


def test_a_live_target_whose_lease_lapsed_is_not_taken_for_dead(tmp_path, etcd_server):
    """Its key deleted under it (a missed keep-alive): the initiator pings it, finds the same
    generation, says so, and re-checks the connection with data; no restart is staged."""
    import etcd3

    require_device("rxe0")
    common = ["-d", "rxe0", "--metadata", etcd_server.url, "--lease-ttl", "5"]
    tgt = subprocess.Popen([sys.executable, "-m", "rdmacheck", "reestablish", "--role", "target", *common,
                            "--listen", "127.0.0.1:0", "--buffer-size", "1MiB"], cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    ini = subprocess.Popen([sys.executable, "-m", "rdmacheck", "reestablish", "--role", "initiator", *common,
                            "--length", "64KiB", "--rounds", "0"], cwd=ROOT, stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, text=True)
    events = []
    reader = threading.Thread(target=lambda: events.extend(json.loads(x) for x in ini.stdout if x.startswith("{")),
                              daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while not any(e["event"] == "verified" for e in list(events)) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert any(e["event"] == "verified" for e in list(events)), events
        client = etcd3.client(host="127.0.0.1", port=etcd_server.port, timeout=2)
        _, meta = client.get("rdmacheck/default/target")
        client.revoke_lease(meta.lease_id)  # the target lives; its key goes
        deadline = time.monotonic() + 30
        while not any(e["event"] == "peer_key_lapsed" for e in list(events)) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)
        seen = [e["event"] for e in list(events)]
        assert "peer_key_lapsed" in seen, seen
        assert "peer_lost" not in seen, seen
        assert seen[seen.index("peer_key_lapsed"):].count("verified") >= 1, seen  # re-checked with data
        client.close()
    finally:
        ini.terminate()
        tgt.terminate()
        ini.wait(timeout=30)
        tgt.wait(timeout=30)
