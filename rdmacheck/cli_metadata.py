"""`rdmacheck metadata ...`: descriptors in etcd, and the etcd options every command shares."""

from __future__ import annotations

import json

import typer

from rdmacheck.errors import EXIT_FAIL
from rdmacheck.report.console import err, out_console

meta_app = typer.Typer(no_args_is_help=True, help="Descriptors in etcd: list, get, watch.")


def etcd_config(url, prefix, cluster, ttl, timeout, user, password, ca, cert, key):
    from rdmacheck.metadata.etcd import EtcdConfig, parse_metadata_url

    endpoints = parse_metadata_url(url)
    if endpoints is None:
        return None
    if ttl < 1:
        raise typer.BadParameter("must be at least 1 second", param_hint="--lease-ttl")
    return EtcdConfig(endpoints=endpoints, prefix=prefix, cluster=cluster, ttl=ttl, timeout=timeout, user=user,
                      password=password, ca_cert=ca, cert_cert=cert, cert_key=key)


META_URL = typer.Option(..., "--metadata", help="etcd://HOST:PORT[,HOST:PORT...]")
META_PREFIX = typer.Option("rdmacheck/", "--etcd-prefix")
META_CLUSTER = typer.Option("default", "--cluster")
META_TIMEOUT = typer.Option(2.0, "--etcd-timeout")


def _store(url: str, prefix: str, cluster: str, timeout: float):
    from rdmacheck.metadata.etcd import EtcdStore

    cfg = etcd_config(url, prefix, cluster, 3, timeout, None, None, None, None, None)
    if cfg is None:
        raise typer.BadParameter("needs etcd://HOST:PORT", param_hint="--metadata")
    return EtcdStore.connect(cfg)


@meta_app.command("ls")
def metadata_ls(metadata: str = META_URL, etcd_prefix: str = META_PREFIX, cluster: str = META_CLUSTER,
                etcd_timeout: float = META_TIMEOUT, as_json: bool = typer.Option(False, "--json")) -> None:
    """The descriptors under <prefix><cluster>/: name, role, generation, age, lease TTL left, device, QPN."""
    import time as _time

    from rich.table import Table

    rows = _store(metadata, etcd_prefix, cluster, etcd_timeout).list()
    if as_json:
        print(json.dumps([{"name": n, "descriptor": d, "mod_revision": rev, "ttl_left": ttl}
                          for n, d, rev, ttl in rows], indent=2))
        return
    t = Table(title=f"{etcd_prefix}{cluster}/ ({len(rows)} keys)", title_justify="left")
    for col in ("name", "role", "generation", "age", "lease TTL left", "device", "QPN / handshake", "pid"):
        t.add_column(col, overflow="fold")
    for name, d, rev, ttl in rows:
        gen = d.get("generation")
        age = f"{_time.time() - gen / 1e9:.1f} s" if isinstance(gen, int) else "-"
        where = d.get("handshake") or (hex(d["qpn"]) if isinstance(d.get("qpn"), int) else "-")
        t.add_row(name, str(d.get("role", "-")), str(gen), age, f"{ttl} s" if ttl >= 0 else "no lease",
                  str(d.get("device", "-")), where, str(d.get("pid", "-")))
    out_console().print(t)


@meta_app.command("get")
def metadata_get(name: str = typer.Argument(...), metadata: str = META_URL, etcd_prefix: str = META_PREFIX,
                 cluster: str = META_CLUSTER, etcd_timeout: float = META_TIMEOUT) -> None:
    """Print one descriptor as JSON (exit 1 if there is none)."""
    got = _store(metadata, etcd_prefix, cluster, etcd_timeout).get(name)
    if got is None:
        err.print(f"no descriptor named {name!r} under {etcd_prefix}{cluster}/")
        raise typer.Exit(EXIT_FAIL)
    print(json.dumps(got[0], indent=2))


@meta_app.command("watch")
def metadata_watch(name: str = typer.Argument(...), metadata: str = META_URL, etcd_prefix: str = META_PREFIX,
                   cluster: str = META_CLUSTER, etcd_timeout: float = META_TIMEOUT,
                   duration: float = typer.Option(0.0, "--for", help="Stop after this many seconds (0 = until Ctrl-C).")) -> None:
    """Print every change of one descriptor as a JSON line (put with its generation, or delete)."""
    import threading
    import time as _time

    store = _store(metadata, etcd_prefix, cluster, etcd_timeout)
    got = store.get(name)
    if got:
        print(json.dumps({"ts": _time.time(), "event": "current", "descriptor": got[0]}), flush=True)

    def show(kind, desc):
        print(json.dumps({"ts": _time.time(), "event": kind, "descriptor": desc}), flush=True)

    cancel = store.watch(name, got[1] + 1 if got else 1, show)
    done = threading.Event()
    try:
        done.wait(duration if duration > 0 else None)
    except KeyboardInterrupt:
        pass
    finally:
        cancel()
