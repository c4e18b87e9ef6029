"""An etcd watch on one key prefix of the run, over the client's single watch stream (etcd3 multiplexes
every watch of a client on one gRPC stream): the latest values kept in memory, every change waking whoever
listens. Agents learn of a round this way instead of polling (at 10,000 hosts a 0.5 s poll is 20,000
reads/s); the coordinator collects results and sees leases expire (the agent key's delete) the same way.

A stream that breaks (etcd restarted, a network blip) is set up again from the last revision seen, so
etcd replays what happened in between; if it cannot (history compacted) the prefix is read again. Each
user also re-reads on a slow timer (`refresh`): the safety net for anything a broken stream could hide."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from rdmacheck.fleet.store import FleetStore
from rdmacheck.metadata.etcd import decode

Listener = Callable[[str, str, "dict | None"], None]  # (put|delete, key under the prefix, value)


def _compacted(e: BaseException) -> bool:
    """etcd compacted the history the watch asked for (etcd3's RevisionCompactedError)."""
    return "Compacted" in type(e).__name__


class PrefixWatch:
    def __init__(self, store: FleetStore, name: str, on_event: Listener | None = None):
        self.store, self.name = store, name
        self.base = store.store.cfg.key(name)
        self.on_event = on_event
        self.values: dict[str, dict | None] = {}
        self.deleted: set[str] = set()  # keys whose last event was a delete (a lease that expired)
        self.mods: dict[str, int] = {}  # each key's last modification revision
        self.revision = 0
        self._lock = threading.Lock()
        self._wakes: list[threading.Event] = []
        self._id = None
        self._closed = False
        self._closed_event = threading.Event()
        self.breaks = 0  # times the stream broke and was set up again
        self.refreshed_at = time.monotonic()  # the last full read

    def listen(self, event: threading.Event | None = None) -> threading.Event:
        """An event set on every change (and on a break, so a waiter re-reads)."""
        event = event or threading.Event()
        with self._lock:
            self._wakes.append(event)
        return event

    def start(self) -> "PrefixWatch":
        """Read the prefix, then watch from just after that read."""
        self.refresh()
        self._add()
        return self

    def refresh_if_older(self, age: float) -> bool:
        """The safety net: read the prefix again if the last read is older than `age` (shared by every
        listener of this watch: agents simulated in one process read it once). True if it read."""
        if time.monotonic() - self.refreshed_at < age:
            return False
        self.refresh()
        return True

    def refresh_every(self, age: float) -> None:
        """The safety net on a thread of its own, until closed (an etcd away is tried again next time)."""
        def loop() -> None:
            while not self._closed_event.wait(age):
                try:
                    self.refresh()
                except Exception:  # noqa: BLE001 - etcd away: the stream's own resumption covers it
                    continue

        threading.Thread(target=loop, name=f"refresh-{self.name}", daemon=True).start()

    def refresh(self) -> None:
        """Read the prefix again (one request). A change is delivered as events. The read never undoes
        what the stream delivered meanwhile: a key the watch saw change after the read's revision keeps
        the watch's value (else a result put while the read was under way was lost until the next read,
        10 s later: seen in the simulation at 1,024 and 4,096 agents)."""
        self.refreshed_at = time.monotonic()
        resp = self.store.call(f"range {self.name}", lambda: self.store.store.client.get_prefix_response(self.base))
        read_at = resp.header.revision
        now, mods = {}, {}
        for kv in resp.kvs:
            key = kv.key.decode()[len(self.base):]
            now[key], mods[key] = decode(kv.value), kv.mod_revision
        with self._lock:
            newer = {k for k, rev in self.mods.items() if rev > read_at}  # the stream's, after the read
            gone = [k for k in self.values if k not in now and k not in newer]
            changed = [(k, v) for k, v in now.items() if k not in newer and self.values.get(k, ...) != v]
            for k in gone:
                del self.values[k]
            for k, v in changed:
                self.values[k] = v
            self.mods.update((k, rev) for k, rev in mods.items() if k not in newer)
            self.deleted.update(gone)
            self.deleted.difference_update(k for k, _ in changed)
            self.revision = max(self.revision, read_at)
        for k in gone:
            self._tell("delete", k, None)
        for k, v in changed:
            self._tell("put", k, v)
        self._wake()

    def get(self, key: str) -> dict | None:
        with self._lock:
            return self.values.get(key)

    def snapshot(self) -> dict[str, dict | None]:
        with self._lock:
            return dict(self.values)

    def _add(self) -> None:
        client = self.store.store.client
        self._id = self.store.call(f"watch {self.name}", lambda: client.add_watch_prefix_callback(
            self.base, self._callback, start_revision=self.revision + 1))

    def _callback(self, resp) -> None:
        if isinstance(resp, Exception):  # the stream broke: set up again (never on the watcher's own thread)
            compacted = _compacted(resp)
            if not compacted:
                self.store.saw_outage()
            if not self._closed:
                threading.Thread(target=self._resume, args=(compacted,), name=f"rewatch-{self.name}",
                                 daemon=True).start()
            return
        for ev in resp.events:
            key = ev.key.decode()[len(self.base):]
            deleted = type(ev).__name__ == "DeleteEvent"
            value = None if deleted else decode(ev.value)
            with self._lock:
                self.revision = max(self.revision, ev.mod_revision)
                self.mods[key] = ev.mod_revision
                if deleted:
                    self.values.pop(key, None)
                    self.deleted.add(key)
                else:
                    self.values[key] = value
                    self.deleted.discard(key)
            self._tell("delete" if deleted else "put", key, value)
        self._wake()

    def _resume(self, compacted: bool = False) -> None:
        """Watch again from the last revision seen; if etcd compacted that history (python-etcd3 hands the
        error to the callback, or raises it here), one fresh read, then a watch from the read's revision:
        re-adding the compacted revision again was a tight loop (31 re-watches in 3 s on a quiet prefix)."""
        backoff = 0.1
        self._wake()  # waiters re-read while the stream is down
        while not self._closed:
            try:
                self.breaks += 1
                if compacted:
                    self.refresh()
                try:
                    self._add()
                except Exception as e:  # noqa: BLE001 - compacted history: read afresh, then watch
                    if not _compacted(e):
                        raise
                    self.refresh()
                    self._add()
                return
            except Exception:  # noqa: BLE001 - etcd still away: try again
                time.sleep(backoff)
                backoff = min(1.0, backoff * 2)

    def _tell(self, kind: str, key: str, value: dict | None) -> None:
        if self.on_event is not None:
            self.on_event(kind, key, value)

    def _wake(self) -> None:
        with self._lock:
            wakes = list(self._wakes)
        for e in wakes:
            e.set()

    def close(self) -> None:
        self._closed = True
        self._closed_event.set()
        if self._id is not None:
            try:
                self.store.call(f"cancel watch {self.name}", lambda: self.store.store.client.cancel_watch(self._id))
            except Exception:  # noqa: BLE001 - etcd gone: the stream is gone with it
                pass
            self._id = None
