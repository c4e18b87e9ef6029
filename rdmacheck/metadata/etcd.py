"""etcd metadata: descriptors under <prefix><cluster>/<name>, bound to a lease the process keeps
alive (a dead process's key disappears after the TTL), names claimed with create-if-absent, and
watches that report a peer's restart (a DELETE, or a PUT with a new generation).

Every unary call carries the client timeout: without one a call to a hung server blocks forever.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urlparse

# etcd3 0.12 ships protobuf code that the C++ protobuf >= 3.21 refuses; the pure-Python one works.
os.environ.setdefault("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION", "python")

from rdmacheck.errors import BadInput, RdmacheckError  # noqa: E402


def _quiet_closed_watch_thread(args: threading.ExceptHookArgs) -> None:
    """etcd3's watch thread has no stop: once the client is closed it calls Watch again on the closed
    channel and dies with this error, which Python printed to the user as a traceback (seen under
    every `fleet run`). Nothing is lost with it; any other thread's error is printed as before."""
    if (args.exc_type is ValueError and "Channel closed" in str(args.exc_value) and args.thread is not None
            and args.thread.name.startswith("etcd3_watch_")):
        return
    _print_thread_error(args)


_print_thread_error = threading.excepthook
threading.excepthook = _quiet_closed_watch_thread


class MetadataError(RdmacheckError):
    """An etcd operation failed or timed out; the message names the operation and the endpoint."""


class NameTakenOver(RdmacheckError):
    """While this role's lease had lapsed, a successor claimed its name: the role must stop."""

    finding = "name-taken-over"


class NameHeld(MetadataError):
    """The name is claimed by a live process (not an etcd failure: waiting for etcd does not help)."""


@dataclass(frozen=True)
class EtcdConfig:
    endpoints: list[tuple[str, int]]
    prefix: str = "rdmacheck/"
    cluster: str = "default"
    ttl: int = 3
    timeout: float = 2.0
    user: str | None = None
    password: str | None = None
    ca_cert: str | None = None
    cert_key: str | None = None
    cert_cert: str | None = None

    def key(self, name: str) -> str:
        return f"{self.prefix}{self.cluster}/{name}"

    @property
    def dir(self) -> str:
        return f"{self.prefix}{self.cluster}/"

    def shown(self) -> str:
        return ",".join(f"{h}:{p}" for h, p in self.endpoints)


def parse_metadata_url(url: str, p2p: bool = True) -> list[tuple[str, int]] | None:
    """'p2p' -> None (where `p2p` applies); 'etcd://h:p[,h:p...]' -> endpoints."""
    if url == "p2p" and p2p:
        return None
    if not url.startswith("etcd://"):
        raise BadInput(f"--metadata {url!r}: use {'p2p or ' if p2p else ''}etcd://HOST:PORT[,HOST:PORT...]")
    out = []
    for part in url[len("etcd://"):].rstrip("/").split(","):
        u = urlparse(f"etcd://{part}")
        try:
            port = u.port
        except ValueError:  # urllib's "Port out of range 0-65535", or not a number
            port = None
        if not u.hostname or not port:
            raise BadInput(f"--metadata {url!r}: {part!r} is not HOST:PORT with a port 1..65535")
        out.append((u.hostname, port))
    return out


def decode(value: bytes) -> dict | None:
    """A descriptor from an etcd value, or None when it is not a JSON object."""
    try:
        desc = json.loads(value)
    except (ValueError, UnicodeDecodeError):
        return None
    return desc if isinstance(desc, dict) else None


@dataclass
class Published:
    name: str
    value: dict
    lease: object


@dataclass
class EtcdStore:
    cfg: EtcdConfig
    client: object = None
    endpoint: tuple[str, int] | None = None
    _mine: dict[str, Published] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    on_event: Callable[[str, dict], None] = lambda kind, info: None
    _keepalive: threading.Thread | None = None
    outage_at: float = float("-inf")  # when the keep-alive last found etcd away or a lease lapsed (monotonic)

    @classmethod
    def connect(cls, cfg: EtcdConfig, on_event: Callable[[str, dict], None] | None = None) -> "EtcdStore":
        import etcd3  # noqa: PLC0415

        errors = []
        refused = True  # every endpoint answered at once that nothing listens (not: no answer in time)
        for host, port in cfg.endpoints:
            client = etcd3.client(host=host, port=port, timeout=cfg.timeout, user=cfg.user, password=cfg.password,
                                  ca_cert=cfg.ca_cert, cert_key=cfg.cert_key, cert_cert=cfg.cert_cert)
            t0 = time.monotonic()
            try:
                client.status()
            except Exception as e:  # noqa: BLE001 - grpc raises many types; all mean "not reachable"
                refused = refused and type(e).__name__ == "ConnectionFailedError" and \
                    time.monotonic() - t0 < cfg.timeout / 2
                errors.append(f"{host}:{port}: {_short(e)}")
                client.close()
                continue
            store = cls(cfg=cfg, client=client, endpoint=(host, port))
            if on_event:
                store.on_event = on_event
            return store
        err = MetadataError(f"etcd not reachable within {cfg.timeout:g} s at {cfg.shown()} ({'; '.join(errors)})",
                            hint="start etcd, or check --metadata etcd://HOST:PORT", exit_code=2)
        err.refused = refused
        raise err

    @classmethod
    def connect_waiting(cls, cfg: EtcdConfig, wait: float,
                        on_event: Callable[[str, dict], None] | None = None,
                        refused_for: float | None = None) -> "EtcdStore":
        """connect(), retried for up to `wait` seconds: a role started while etcd restarts waits for
        it (said once as metadata_unreachable) instead of failing; then the error names the wait.
        `refused_for`: give up after that many seconds of every endpoint refusing at once (nothing listens
        there: a wrong address, an etcd not started), whatever `wait` is."""
        t0 = time.monotonic()
        deadline = t0 + wait
        said = False
        while True:
            try:
                return cls.connect(cfg, on_event)
            except MetadataError as e:
                waited = time.monotonic() - t0
                refused = getattr(e, "refused", False)
                if refused_for is not None and refused and waited >= refused_for:
                    raise MetadataError(f"nothing listens for etcd at {cfg.shown()} (connections refused for "
                                        f"{waited:.0f} s): start etcd there, or check --metadata", exit_code=2) from None
                if time.monotonic() >= deadline:
                    raise MetadataError(f"{e} (waited {wait:g} s for it)", hint=e.hint, exit_code=2) from None
                if on_event and not said and not (refused_for is not None and refused):
                    on_event("metadata_unreachable", {"operation": "connect", "error": str(e)})
                    said = True
                time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))

    def call(self, what: str, fn):
        """fn() against etcd; any failure becomes one MetadataError naming the operation and endpoint."""
        try:
            return fn()
        except MetadataError:
            raise
        except Exception as e:  # noqa: BLE001
            raise MetadataError(f"etcd {what} at {self.endpoint[0]}:{self.endpoint[1]} failed: {_short(e)}") from None

    # --- publishing ------------------------------------------------------------------------

    def publish(self, name: str, value: dict, wait: float = 0.0) -> float:
        """Claim `name` (create-if-absent) under a fresh lease. While another process holds it, retry
        for up to `wait` seconds (a crashed predecessor's key lives until its lease expires); then
        a clear error. Returns the seconds spent waiting."""
        key = self.cfg.key(name)
        c = self.client
        t0 = time.monotonic()
        announced = False
        while True:
            lease = self.call("lease grant", lambda: c.lease(self.cfg.ttl))
            ok, _ = self.call("claim (txn)", lambda: c.transaction(
                compare=[c.transactions.version(key) == 0],
                success=[c.transactions.put(key, json.dumps(value), lease=lease)], failure=[]))
            if ok:
                self._mine[name] = Published(name, value, lease)
                return time.monotonic() - t0
            lease.revoke()
            held = self.get(name)
            who = f"generation {held[0].get('generation')}, pid {held[0].get('pid')}" if held else "another process"
            if time.monotonic() - t0 >= wait:
                raise NameHeld(f"the name {name!r} is held by a live process ({who}) under {key}; choose "
                               f"another --name, or wait for its lease ({self.cfg.ttl} s) to expire", exit_code=2)
            if not announced:
                self.on_event("name_claim_wait", {"key": key, "holder": who})
                announced = True
            time.sleep(0.1)

    def publish_waiting(self, name: str, value: dict, claim_wait: float, etcd_wait: float) -> float:
        """publish(), riding out an etcd that does not answer for up to `etcd_wait` seconds (said once
        as metadata_unreachable); a name held by a live process is still an error at once."""
        deadline = time.monotonic() + etcd_wait
        t0, said = time.monotonic(), False
        while True:
            try:
                self.publish(name, value, wait=claim_wait)
                return time.monotonic() - t0
            except NameHeld:
                raise
            except MetadataError as e:
                if time.monotonic() >= deadline:
                    raise MetadataError(f"{e} (waited {etcd_wait:g} s for etcd)", exit_code=2) from None
                if not said:
                    self.on_event("metadata_unreachable", {"operation": f"claim {name}", "error": str(e)})
                    said = True
                time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))

    def keep_alive_in_background(self) -> threading.Thread:
        """Refresh the leases every TTL/3; if etcd lost them (restart), publish again. One thread per
        store, however many leases it holds (simulated agents share a store: 1,000 in a process)."""
        if self._keepalive is None or not self._keepalive.is_alive():
            self._keepalive = threading.Thread(target=self._keep_alive, name="etcd-keepalive", daemon=True)
            self._keepalive.start()
        return self._keepalive

    def abandon(self, name: str) -> None:
        """Stop refreshing one name's lease without revoking it: it expires TTL seconds later, as if its
        holder had been SIGKILLed (a simulated agent's death, in a store it shares with others)."""
        self._mine.pop(name, None)

    def stop_keepalive(self) -> None:
        """Stop refreshing our leases without revoking them: they expire TTL seconds later, as if this
        process had been SIGKILLed (what a test of a dying peer needs)."""
        self._stop.set()

    def _keep_alive(self) -> None:
        interval = max(0.2, self.cfg.ttl / 3)
        broken = False
        while not self._stop.wait(interval):
            for pub in list(self._mine.values()):
                try:
                    ttl = _refresh(pub.lease)
                    if ttl <= 0:  # the lease is gone (etcd restarted without it): claim again
                        self.outage_at = time.monotonic()
                        self._republish(pub)
                    elif broken:
                        self.on_event("metadata_resumed", {"name": pub.name})
                    broken = False
                except Exception as e:  # noqa: BLE001
                    self.outage_at = time.monotonic()
                    if not broken:
                        self.on_event("metadata_unreachable", {"operation": "lease keep-alive", "error": _short(e)})
                    broken = True
                    try:
                        self._republish(pub)
                        self.on_event("metadata_resumed", {"name": pub.name, "republished": True})
                        broken = False
                    except Exception:  # noqa: BLE001 - still down: try again next tick
                        pass

    def _republish(self, pub: Published) -> None:
        """Put our descriptor back under a new lease, but only if the key is absent or still ours:
        while our lease had lapsed, a successor may have claimed the name, and it must keep it."""
        c = self.client
        key, value = self.cfg.key(pub.name), json.dumps(pub.value)
        lease = c.lease(self.cfg.ttl)
        for compare in (c.transactions.version(key) == 0, c.transactions.value(key) == value):
            ok, _ = c.transaction(compare=[compare], success=[c.transactions.put(key, value, lease=lease)], failure=[])
            if ok:
                pub.lease = lease
                return
        lease.revoke()
        self._mine.pop(pub.name, None)  # not ours any more: stop refreshing it
        held = self.get(pub.name)
        self.on_event("name_lost", {"name": pub.name, "key": key, "holder_generation":
                                    held[0].get("generation") if held else None})

    def get(self, name: str) -> tuple[dict, int] | None:
        """(descriptor, mod_revision) or None; a value that is no JSON object is BadInput naming its key
        (anyone with write access to etcd can put anything there)."""
        key = self.cfg.key(name)
        value, meta = self.call(f"get {key}", lambda: self.client.get(key))
        if value is None:
            return None
        desc = decode(value)
        if desc is None:
            raise BadInput(f"etcd key {key} holds {value[:60]!r}, not a JSON object (a descriptor)")
        return desc, meta.mod_revision

    def list(self) -> list[tuple[str, dict, int, int]]:
        """(name, descriptor, mod_revision, lease TTL left) for every key under the cluster dir."""
        out = []
        for value, meta in self.call(f"list {self.cfg.dir}", lambda: list(self.client.get_prefix(self.cfg.dir))):
            name = meta.key.decode()[len(self.cfg.dir):]
            ttl = -1
            if meta.lease_id:
                try:
                    ttl = self.client.get_lease_info(meta.lease_id).TTL
                except Exception:  # noqa: BLE001
                    ttl = -1
            desc = decode(value)
            out.append((name, desc if desc is not None else {"raw": value.decode(errors="replace")[:80]},
                        meta.mod_revision, ttl))
        return out

    def watch(self, name: str, start_revision: int | None,
              callback: Callable[[str, dict | None], None]) -> Callable[[], None]:
        """Call callback("put", desc) / callback("delete", None) for changes after start_revision
        (so none is missed between the read and the watch; None: the key's state when etcd next
        answers is delivered first). Returns cancel().

        The watch outlives etcd going away: the stream breaking is reported once as
        callback("error", {...}); the watch is then set up again (backing off up to 1 s) from
        the last revision it saw, and if etcd cannot replay from there (restarted without that
        history, compacted) the key is read again and a change against what was last seen is
        delivered as one put/delete. callback("resumed", {...}) says it is back."""
        key = self.cfg.key(name)
        cancelled = threading.Event()
        box: dict = {"cancel": None}
        self.call(f"watch {key}", lambda: None)  # a store that was closed fails here, at once

        def pump() -> None:
            seen = {"rev": (start_revision or 1) - 1, "value": _UNKNOWN}
            backoff, broken = 0.1, start_revision is None
            while not cancelled.is_set():
                try:
                    if broken:
                        self._catch_up(key, seen, callback)
                    it, box["cancel"] = self.client.watch(key, start_revision=seen["rev"] + 1)
                    if broken:
                        callback("resumed", {"watch": key, "from_revision": seen["rev"] + 1})
                        broken, backoff = False, 0.1
                    for ev in it:
                        seen["rev"] = max(seen["rev"], getattr(ev, "mod_revision", seen["rev"]))
                        if type(ev).__name__ == "DeleteEvent":
                            seen["value"] = None
                            callback("delete", None)
                        else:
                            seen["value"] = ev.value
                            desc = decode(ev.value)
                            if desc is not None:  # a value that is no descriptor is no event
                                callback("put", desc)
                    if cancelled.is_set():
                        return
                    raise ConnectionError("the watch stream ended")
                except Exception as e:  # noqa: BLE001 - the stream broke (etcd down, restarted): resume it
                    if cancelled.is_set():
                        return
                    if not broken:
                        callback("error", {"error": _short(e)})
                        broken = True
                    cancelled.wait(backoff)
                    backoff = min(1.0, backoff * 2)

        threading.Thread(target=pump, name=f"etcd-watch-{name}", daemon=True).start()

        def cancel() -> None:
            cancelled.set()
            if box["cancel"]:
                try:
                    box["cancel"]()
                except Exception:  # noqa: BLE001 - etcd already gone
                    pass
        return cancel

    def _catch_up(self, key: str, seen: dict, callback) -> None:
        """After a broken stream: read the key; deliver what changed since it was last seen and
        resume watching after the revision of that read (nothing between is lost)."""
        resp = self.client.get_response(key)
        value = resp.kvs[0].value if resp.kvs else None
        if seen["value"] is _UNKNOWN or value != seen["value"]:  # unknown: say what it is now
            if value is None:
                callback("delete", None)
            elif (desc := decode(value)) is not None:
                callback("put", desc)
        seen["value"] = value
        seen["rev"] = resp.header.revision

    def close(self) -> None:
        """Revoke our leases (our keys go at once) and stop the keep-alive."""
        self._stop.set()
        for pub in self._mine.values():
            try:
                pub.lease.revoke()
            except Exception:  # noqa: BLE001
                pass
        try:
            self.client.close()
        except Exception:  # noqa: BLE001
            pass


_UNKNOWN = object()  # a watch has not seen the key's value yet


def _refresh(lease) -> int:
    resp = list(lease.refresh())
    return resp[0].TTL if resp else -1


def _short(e: BaseException) -> str:
    text = getattr(e, "details", lambda: None)() if hasattr(e, "details") else None
    text = text or str(e) or type(e).__name__
    return " ".join(text.split())[:160]


def wait_for(store: EtcdStore, name: str, pred: Callable[[dict], bool], timeout: float, what: str) -> tuple[dict, int]:
    """Poll-free wait: read, and if not yet what we want, watch from that revision until it is."""
    from rdmacheck.errors import DeadlineExceeded  # noqa: PLC0415

    deadline = time.monotonic() + timeout
    got = store.get(name)
    if got and pred(got[0]):
        return got
    start = got[1] + 1 if got else 1
    box: list[dict] = []
    ready = threading.Event()

    def cb(kind, desc):
        if kind == "put" and desc and pred(desc):
            box.append(desc)
            ready.set()

    cancel = store.watch(name, start, cb)
    try:
        # Re-read once after the watch is set: a put between get and watch is not lost either way.
        again = store.get(name)
        if again and pred(again[0]):
            return again
        if not ready.wait(max(0.0, deadline - time.monotonic())):
            raise DeadlineExceeded(what, timeout)
        return box[0], -1
    finally:
        cancel()
