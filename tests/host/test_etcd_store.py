"""The etcd metadata store against a real etcd-server: leases, claims, watches, failures."""
import threading
import time

import pytest

from rdmacheck.metadata.etcd import EtcdConfig, EtcdStore, MetadataError
from rdmacheck.metadata.local_etcd import free_port


def cfg(server, **kw):
    return EtcdConfig(endpoints=[("127.0.0.1", server.port)], **kw)


def test_unreachable_etcd_is_a_clear_error_within_the_timeout():
    port = free_port()
    t0 = time.monotonic()
    with pytest.raises(MetadataError, match=f"etcd not reachable within 1 s at 127.0.0.1:{port}"):
        EtcdStore.connect(EtcdConfig(endpoints=[("127.0.0.1", port)], timeout=1))
    assert time.monotonic() - t0 < 5


def test_publish_get_list_and_stale_key_expires_with_its_lease(etcd_server):
    a = EtcdStore.connect(cfg(etcd_server, ttl=1))
    a.publish("target", {"generation": 1, "pid": 11})
    desc, rev = a.get("target")
    assert desc["generation"] == 1 and rev > 0
    assert [n for n, *_ in a.list()] == ["target"]
    # no keep-alive: this is a crashed process; its key goes with the lease
    deadline = time.monotonic() + 6
    while a.get("target") is not None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert a.get("target") is None


def test_a_live_name_cannot_be_claimed_twice(etcd_server):
    a = EtcdStore.connect(cfg(etcd_server, ttl=2))
    a.publish("target", {"generation": 1, "pid": 11})
    a.keep_alive_in_background()
    b = EtcdStore.connect(cfg(etcd_server, ttl=2))
    with pytest.raises(MetadataError, match="the name 'target' is held by a live process .generation 1, pid 11."):
        b.publish("target", {"generation": 2, "pid": 12})
    time.sleep(3)  # still held: the keep-alive works
    assert a.get("target")[0]["pid"] == 11
    a.close()  # a clean exit revokes the lease: the name is free at once
    b.publish("target", {"generation": 2, "pid": 12})


def test_watch_sees_delete_and_the_new_generation(etcd_server):
    a = EtcdStore.connect(cfg(etcd_server, ttl=2))
    a.publish("initiator", {"generation": 1})
    watcher = EtcdStore.connect(cfg(etcd_server))
    _, rev = watcher.get("initiator")
    seen, got_two = [], threading.Event()

    def cb(kind, desc):
        seen.append((kind, desc and desc.get("generation")))
        if len(seen) >= 2:
            got_two.set()

    cancel = watcher.watch("initiator", rev + 1, cb)
    a.close()
    b = EtcdStore.connect(cfg(etcd_server, ttl=2))
    b.publish("initiator", {"generation": 2})
    assert got_two.wait(5), seen
    cancel()
    assert seen[:2] == [("delete", None), ("put", 2)]


def test_paused_etcd_gives_a_timeout_error_naming_the_operation(etcd_server):
    a = EtcdStore.connect(cfg(etcd_server, timeout=1))
    a.publish("x", {"generation": 1})
    etcd_server.pause()
    try:
        t0 = time.monotonic()
        with pytest.raises(MetadataError, match="etcd get rdmacheck/default/x at 127.0.0.1:.* failed"):
            a.get("x")
        assert time.monotonic() - t0 < 4
    finally:
        etcd_server.resume()


def test_killed_then_restarted_etcd_the_role_republishes(etcd_server):
    events = []
    a = EtcdStore.connect(cfg(etcd_server, ttl=1, timeout=1), on_event=lambda k, i: events.append(k))
    a.publish("target", {"generation": 7})
    a.keep_alive_in_background()
    etcd_server.stop()
    with pytest.raises(MetadataError):
        a.get("target")
    deadline = time.monotonic() + 8
    while "metadata_unreachable" not in events and time.monotonic() < deadline:
        time.sleep(0.1)
    assert "metadata_unreachable" in events
    etcd_server.start()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            if "metadata_resumed" in events and a.get("target"):
                break
        except MetadataError:
            pass
        time.sleep(0.2)
    assert a.get("target")[0]["generation"] == 7
    assert "metadata_resumed" in events
    a.close()


def test_metadata_cli_ls_get_watch(etcd_server):
    import json as _json
    import subprocess
    import sys

    from tests.conftest import ROOT, rdmacheck

    a = EtcdStore.connect(cfg(etcd_server, ttl=5))
    a.publish("target", {"role": "target", "generation": 123, "pid": 9, "device": "rxe0", "handshake": "h:1"})
    r = rdmacheck("metadata", "ls", "--metadata", etcd_server.url, "--json")
    assert r.returncode == 0, r.stderr
    rows = _json.loads(r.stdout)
    assert rows[0]["name"] == "target" and rows[0]["descriptor"]["generation"] == 123 and 0 < rows[0]["ttl_left"] <= 5
    assert "rxe0" in rdmacheck("metadata", "ls", "--metadata", etcd_server.url).stdout
    assert _json.loads(rdmacheck("metadata", "get", "target", "--metadata", etcd_server.url).stdout)["pid"] == 9
    assert rdmacheck("metadata", "get", "nobody", "--metadata", etcd_server.url).returncode == 1
    w = subprocess.Popen([sys.executable, "-m", "rdmacheck", "metadata", "watch", "target", "--metadata",
                          etcd_server.url, "--for", "4"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    time.sleep(2)
    a.close()
    out, _ = w.communicate(timeout=20)
    events = [_json.loads(x)["event"] for x in out.splitlines()]
    assert events == ["current", "delete"], out


def test_doctor_metadata_check(etcd_server):
    from rdmacheck.doctor.checks import FAIL, PASS, metadata_check

    ok = metadata_check(etcd_server.url)
    assert ok.status == PASS and "reachable; a read took" in ok.reason
    down = metadata_check(f"etcd://127.0.0.1:{free_port()}", timeout=1)
    assert down.status == FAIL and "not reachable" in down.reason
    assert metadata_check("redis://x:1").status == FAIL


def _until(pred, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = pred()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError(f"{what} within {seconds} s")


def test_a_watch_outlives_an_etcd_restart_and_delivers_what_changed(etcd_server):
    """The watch thread used to end with etcd, and whoever waited on it waited forever."""
    a = EtcdStore.connect(cfg(etcd_server, ttl=2, timeout=1))
    b = EtcdStore.connect(cfg(etcd_server, ttl=2, timeout=1))
    a.publish("target", {"generation": 1})
    got = b.get("target")
    seen = []
    cancel = b.watch("target", got[1] + 1, lambda kind, desc: seen.append((kind, desc)))
    try:
        etcd_server.stop()
        _until(lambda: any(k == "error" for k, _ in seen), 15, "the broken watch reported")
        etcd_server.start()
        _until(lambda: any(k == "resumed" for k, _ in seen), 20, "the watch set up again")
        c = EtcdStore.connect(cfg(etcd_server, ttl=2, timeout=1))
        c.client.put(cfg(etcd_server).key("target"), '{"generation": 2}')  # a change after the restart
        _until(lambda: any(k == "put" and d and d.get("generation") == 2 for k, d in seen), 10,
               "the new generation delivered")
        c.close()
    finally:
        cancel()
        a.close()
        b.close()


def test_a_live_role_whose_lease_lapsed_gets_its_name_back_but_never_takes_a_successors(etcd_server):
    events = []
    a = EtcdStore.connect(cfg(etcd_server, ttl=1, timeout=1), on_event=lambda k, i: events.append((k, i)))
    a.publish("target", {"generation": 7})
    a.keep_alive_in_background()
    a._mine["target"].lease.revoke()  # the lease lapses under a live process (a missed keep-alive)
    back = _until(lambda: a.get("target"), 5, "the live role's key back")
    assert back[0]["generation"] == 7  # the same generation: the role never restarted
    a.close()
    # a successor claims the name while a lapsed role's lease is gone: its re-publish must not overwrite it
    events.clear()
    a = EtcdStore.connect(cfg(etcd_server, ttl=1, timeout=1), on_event=lambda k, i: events.append((k, i)))
    _until(lambda: a.publish("target", {"generation": 7}, wait=5) >= 0, 10, "the first claim")
    pub = a._mine["target"]
    pub.lease.revoke()
    b = EtcdStore.connect(cfg(etcd_server, ttl=5, timeout=1))
    b.publish("target", {"generation": 8})
    a._republish(pub)  # what the keep-alive does when it finds its lease gone
    assert b.get("target")[0]["generation"] == 8
    assert "target" not in a._mine  # it stops refreshing a name that is not its own
    lost = next(i for k, i in events if k == "name_lost")
    assert lost["holder_generation"] == 8
    a.close()
    b.close()


def test_a_throwaway_etcd_that_dies_at_start_is_an_error_naming_its_log_not_a_server(tmp_path):
    """etcd opens its client port before its database: a corrupt db is seen listening, then panics."""
    from rdmacheck.errors import EnvironmentProblem
    from rdmacheck.metadata.local_etcd import EtcdServer

    snap = tmp_path / "data" / "member" / "snap"
    snap.mkdir(parents=True)
    (snap / "db").write_bytes(b"not a bolt database" * 8)
    with pytest.raises(EnvironmentProblem, match=r"etcd exited with status \d+ at start: .*cannot open database"):
        EtcdServer(tmp_path / "data").start()


def test_closing_a_store_with_a_watch_prints_no_traceback_but_other_thread_errors_still_show(etcd_server):
    """In a process of its own: pytest replaces threading.excepthook while a test runs."""
    import subprocess
    import sys

    code = f"""
import threading, time
from rdmacheck.metadata.etcd import EtcdConfig, EtcdStore
store = EtcdStore.connect(EtcdConfig(endpoints=[("127.0.0.1", {etcd_server.port})]))
store.watch("initiator", None, lambda kind, desc: None)
deadline = time.monotonic() + 5
while not (threads := [t for t in threading.enumerate() if t.name.startswith("etcd3_watch_")]):
    assert time.monotonic() < deadline, "etcd3's watch thread did not start within 5 s"
    time.sleep(0.05)
store.close()
for t in threads:
    t.join(5)  # it calls Watch on the closed channel and ends
assert not any(t.is_alive() for t in threads)
def fails():
    raise ValueError("Cannot invoke RPC: Channel closed! (not etcd3's thread)")
other = threading.Thread(target=fails, name="someone-else")
other.start()
other.join()
print("done")
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "done", r.stderr
    assert "someone-else" in r.stderr and r.stderr.count("Traceback") == 1, r.stderr
