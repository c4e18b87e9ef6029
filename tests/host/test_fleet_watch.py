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
