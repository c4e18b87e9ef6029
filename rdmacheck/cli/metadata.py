"""`rdmacheck metadata ...`: descriptors in etcd."""

from __future__ import annotations

import json

import typer

from rdmacheck.cli import options as o
from rdmacheck.cli.app import app
from rdmacheck.errors import EXIT_FAIL
from rdmacheck.output.console import err, out_console

meta_app = typer.Typer(no_args_is_help=True, help="Descriptors in etcd: ls, get, watch.")
app.add_typer(meta_app, name="metadata")


def _store(cfg):
    from rdmacheck.metadata.etcd import EtcdStore

    return EtcdStore.connect(cfg)


@meta_app.command("ls")
@o.etcd_client_options
def metadata_ls(as_json: bool = o.JSON_PRINT, *, etcd=None) -> None:
    """The descriptors under <prefix><cluster>/: name, role, generation, age, lease TTL left, device, QPN."""
    import time as _time

    from rich.table import Table

    rows = _store(etcd).list()
    if as_json:
        print(json.dumps([{"name": n, "descriptor": d, "mod_revision": rev, "ttl_left": ttl}
                          for n, d, rev, ttl in rows], indent=2))
        return
    t = Table(title=f"{etcd.dir} ({len(rows)} keys)", title_justify="left")
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
@o.etcd_client_options
def metadata_get(name: str = typer.Argument(...), *, etcd=None) -> None:
    """Print one descriptor as JSON (exit 1 if there is none)."""
    got = _store(etcd).get(name)
    if got is None:
        err.print(f"no descriptor named {name!r} under {etcd.dir}")
        raise typer.Exit(EXIT_FAIL)
    print(json.dumps(got[0], indent=2))


@meta_app.command("watch")
@o.etcd_client_options
def metadata_watch(name: str = typer.Argument(...),
                   duration: float = typer.Option(0.0, "--for", help="Stop after this many seconds (0 = until Ctrl-C)."),
                   *, etcd=None) -> None:
    """Print every change of one descriptor as a JSON line (put with its generation, or delete)."""
    import threading
    import time as _time

    store = _store(etcd)
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
