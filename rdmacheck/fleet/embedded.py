"""`fleet run`'s own etcd (the default, `--metadata embedded`): started on the coordinator host's address for
the run and stopped at its end, so a fleet check on your own hosts needs nothing but rdmacheck: agents on the
hosts, then `fleet run`. It serves without users or TLS (give `--metadata etcd://...` of an etcd of yours for
those); its data lives in a temporary directory removed with it."""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from rdmacheck.errors import BadInput, EnvironmentProblem, RdmacheckError
from rdmacheck.fleet.protocol import HOSTS
from rdmacheck.metadata.etcd import EtcdConfig
from rdmacheck.metadata.local_etcd import EtcdServer
from rdmacheck.verbs.netlink import default_route_ipv4

DEFAULT_PORT = 2379  # etcd's own: what an agent's --metadata etcd://HOST:2379 would guess


def parse_listen(text: str | None) -> tuple[str | None, int]:
    """`--etcd-listen ADDRESS[:PORT]` (None: the default route's address, etcd's port)."""
    if not text:
        return None, DEFAULT_PORT
    host, sep, port = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
    if not sep:
        host, port = text, str(DEFAULT_PORT)
    if not port.isdigit() or not 0 < int(port) < 65536 or not host or ":" in host:
        raise BadInput(f"--etcd-listen {text!r}: expected ADDRESS[:PORT], an IPv4 of this host")
    return host, int(port)


@dataclass
class EmbeddedEtcd:
    server: EtcdServer
    cfg: EtcdConfig

    @classmethod
    def start(cls, settings: EtcdConfig, listen: str | None) -> EmbeddedEtcd:
        """An etcd on `listen` (ADDRESS[:PORT]; default: this host's default-route address, port 2379) with the
        run's prefix, cluster, lease TTL and timeout."""
        host, port = parse_listen(listen)
        host = host or default_route_ipv4()
        if host is None:
            raise EnvironmentProblem("this host has no default route to take the embedded etcd's address from: "
                                     "give --etcd-listen ADDRESS (an IPv4 the agents reach)")
        data = Path(tempfile.mkdtemp(prefix="rdmacheck-fleet-etcd-")) / "data"
        server = EtcdServer(data, listen=host, port=port).start()
        return cls(server, replace(settings, endpoints=[(server.host, server.port)]))

    def agent_line(self) -> str:
        """What each host runs to join (its device found by its address; the hostname its name)."""
        extra = "" if self.cfg.cluster == "fleet" else f" --cluster {self.cfg.cluster}"
        extra += "" if self.cfg.ttl == 3 else f" --lease-ttl {self.cfg.ttl}"
        extra += "" if self.cfg.prefix == "rdmacheck/" else f" --etcd-prefix {self.cfg.prefix}"
        return f"rdmacheck fleet agent -d auto --metadata etcd://{self.cfg.shown()}{extra}"

    def stop(self) -> None:
        self.server.remove()
        try:
            self.server.data_dir.parent.rmdir()  # the temporary directory, once etcd's log is the only thing left
        except OSError:
            pass


def await_agents_left(store, timeout: float) -> None:
    """Until no agent is registered (they leave on the run's end: their leases revoked, or lapsed within a TTL),
    for at most `timeout` s, before the embedded etcd stops; an agent still there then is left to its own
    deadlines."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if not any(k.endswith("/agent") for k in store.prefix(HOSTS)):
                return
        except RdmacheckError:
            return  # etcd itself away: nothing to wait for
        time.sleep(0.2)
