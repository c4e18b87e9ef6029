"""The fleet's reads and writes on etcd (over metadata/etcd.py's store: its connection, TLS, auth,
leases and keep-alive), each counted so a benchmark can report etcd requests per round. Every call
rides out an etcd outage of up to `patience` seconds (retried with back-off), so one blip loses
nothing; a longer outage is one MetadataError naming the operation."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from rdmacheck.metadata.etcd import EtcdConfig, EtcdStore, MetadataError, decode

PATIENCE_S = 30.0
TXN_OPS = 100  # puts per transaction


@dataclass
class FleetStore:
    store: EtcdStore
    requests: int = 0
    patience: float = PATIENCE_S
    _leased: set[str] = field(default_factory=set)
    _outage_at: float = float("-inf")  # when etcd last failed to answer a call of ours or a watch

    @property
    def outage_at(self) -> float:
        """When etcd last failed us: a call, a watch's stream, or the keep-alive of our leases."""
        return max(self._outage_at, self.store.outage_at)

    def saw_outage(self) -> None:
        self._outage_at = time.monotonic()

    @classmethod
    def connect(cls, cfg: EtcdConfig, wait: float, patience: float = PATIENCE_S, refused_for: float | None = None,
                say=None) -> "FleetStore":
        """etcd, waited for up to `wait` s (said once through `say`, with how long); refused at once for
        `refused_for` s: nothing listens there, an error now rather than after the whole wait."""
        def told(kind: str, info: dict) -> None:
            if say is not None and kind == "metadata_unreachable":
                say(f"waiting up to {wait:g} s for etcd at {cfg.shown()} ({info.get('error', '')}); Ctrl-C stops")
        return cls(EtcdStore.connect_waiting(cfg, wait, told, refused_for), patience=patience)

    def _key(self, name: str) -> str:
        return self.store.cfg.key(name)

    def call(self, what: str, fn):
        deadline = time.monotonic() + self.patience
        delay = 0.1
        while True:
            self.requests += 1
            try:
                return self.store.call(what, fn)
            except MetadataError as e:
                self.saw_outage()
                if "permission denied" in str(e).lower() or time.monotonic() + delay > deadline:
                    raise  # a refusal by etcd's access control is an answer, not an outage
                time.sleep(delay)
                delay = min(1.0, delay * 2)

    def put(self, name: str, value: str | dict) -> None:
        text = value if isinstance(value, str) else json.dumps(value)
        self.call(f"put {name}", lambda: self.store.client.put(self._key(name), text))

    def get(self, name: str) -> dict | None:
        """The value under name if it is a JSON object (anything else is nobody's: None)."""
        value, _ = self.call(f"get {name}", lambda: self.store.client.get(self._key(name)))
        return decode(value) if value is not None else None

    def prefix(self, name: str) -> dict[str, dict]:
        """Every key under name (one range read), by the rest of its name."""
        base = self._key(name)
        rows = self.call(f"range {name}", lambda: list(self.store.client.get_prefix(base)))
        out = {}
        for value, meta in rows:
            try:
                out[meta.key.decode()[len(base):]] = json.loads(value)
            except ValueError:
                continue  # not ours
        return out

    def put_many(self, values: dict[str, str]) -> None:
        """Several keys in transactions of at most TXN_OPS puts (etcd's --max-txn-ops is 128 by default)."""
        c, items = self.store.client, list(values.items())
        for i in range(0, len(items), TXN_OPS):
            chunk = items[i:i + TXN_OPS]
            self.call(f"put {chunk[0][0]} and {len(chunk) - 1} more",
                      lambda chunk=chunk: c.transaction(compare=[], failure=[], success=[
                          c.transactions.put(self._key(k), v) for k, v in chunk]))

    def delete_prefix(self, name: str) -> None:
        self.call(f"delete {name}", lambda: self.store.client.delete_prefix(self._key(name)))

    def publish_leased(self, name: str, value: dict, claim_wait: float = 0.0) -> None:
        """Create-if-absent under a lease the store keeps alive: gone TTL seconds after we die."""
        self.requests += 2
        self.store.publish(name, value, wait=claim_wait)
        if not self._leased:
            self.store.keep_alive_in_background()
        self._leased.add(name)

    def close(self) -> None:
        self.store.close()
