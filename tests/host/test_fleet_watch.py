"""The fleet's prefix watch against a real etcd: values kept, and a re-read that was under way while
the stream delivered a newer change never undoes it."""
import threading
import time

from rdmacheck.fleet.store import FleetStore
from rdmacheck.fleet.watch import PrefixWatch
from rdmacheck.metadata.etcd import EtcdConfig, EtcdStore, parse_metadata_url


def _wait(cond, what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"{what} within {timeout:g} s"
        time.sleep(0.01)


def test_a_reread_older_than_the_streams_change_keeps_the_change(etcd_server):
    store = FleetStore(EtcdStore.connect(EtcdConfig(parse_metadata_url(etcd_server.url), cluster="w")))
    try:
        store.put("fleet/host/a/result", {"round": 0})
        store.put("fleet/host/b/result", {"round": 0})
        watch = PrefixWatch(store, "fleet/host/").start()
        woke = watch.listen(threading.Event())
        client = store.store.client
        real = client.get_prefix_response

        def stale_read(base):  # the read is answered, then both keys change before it is applied
            resp = real(base)
            store.put("fleet/host/a/result", {"round": 1})
            client.delete(store.store.cfg.key("fleet/host/b/result"))
            _wait(lambda: watch.get("a/result") == {"round": 1} and "b/result" in watch.deleted,
                  "the stream delivering both changes")
            return resp

        client.get_prefix_response = stale_read
        watch.refresh()
        assert watch.get("a/result") == {"round": 1}, "the re-read undid the streamed put"
        assert watch.get("b/result") is None and "b/result" in watch.deleted, "the re-read undid the streamed delete"
        client.get_prefix_response = real
        store.put("fleet/host/c/result", {"round": 2})
        woke.clear()
        watch.refresh()  # an up-to-date read changes nothing the stream got right
        assert watch.snapshot() == {"a/result": {"round": 1}, "c/result": {"round": 2}}
        watch.close()
    finally:
        store.close()


def test_a_watch_on_compacted_history_reads_once_and_watches_from_the_new_revision(etcd_server):
    """etcd compacted the revisions a (quiet) watch would resume from: one fresh read, then a watch from the
    read's revision, and the watch still delivers what changes next - not a re-watch in a tight loop."""
    store = FleetStore(EtcdStore.connect(EtcdConfig(parse_metadata_url(etcd_server.url), cluster="wc")))
    try:
        store.put("fleet/ctl/round", {"index": 0})
        watch = PrefixWatch(store, "fleet/ctl/")
        watch.refresh()
        old = watch.revision
        for i in range(5):  # history moves on elsewhere, then is compacted past where the watch stands
            store.put("fleet/host/x/agent", {"i": i})
        client = store.store.client
        now = client.get_prefix_response(store.store.cfg.key("fleet/")).header.revision
        client.compact(now, physical=True)
        woke = watch.listen(threading.Event())
        assert watch.revision == old < now
        watch._add()  # a watch from the compacted revision, as a resume after a break would ask for
        _wait(lambda: watch.revision >= now, "a fresh read after the compaction")
        time.sleep(2.0)  # a quiet prefix: a loop would re-watch many times here (31 in 3 s before)
        assert watch.breaks <= 2, f"{watch.breaks} re-watches on a quiet prefix"
        woke.clear()
        store.put("fleet/ctl/round", {"index": 1})
        _wait(lambda: watch.get("round") == {"index": 1}, "the next change delivered by the new watch")
        watch.close()
    finally:
        store.close()
