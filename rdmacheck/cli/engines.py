"""`rdmacheck engines ...`: every transfer engine rdmacheck judges (Mooncake, NIXL), by adapter:
list, install, and the engines x releases x scenarios matrix."""

from __future__ import annotations

import json

import typer

from rdmacheck.cli import options as o
from rdmacheck.cli.app import app
from rdmacheck.cli.engines_matrix import ENGINES, matrix_command

engines_app = typer.Typer(no_args_is_help=True, help="Real transfer engines (Mooncake, NIXL): list, install, matrix.")
app.add_typer(engines_app, name="engines")


@engines_app.command("list")
def list_cmd(json_out: bool = o.JSON_PRINT) -> None:
    """The engine releases installed (one venv each), of every kind."""
    from rdmacheck.engines.catalog import ADAPTERS, describe, installed
    from rdmacheck.engines.engine import engines_dir

    rows = [describe(e) for e in installed()]
    if json_out:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        print(f"{r['engine']:<9} {r['release']:<14} {'RoCE/IB/iWARP' if r['iwarp'] else 'RoCE/IB only':<14} {r['python']}")
    wanted = ", ".join(f"{k}=={r}" for k, a in ADAPTERS.items() for r in a.default_releases)
    print(f"{len(rows)} release(s) in {engines_dir()} (set-up installs {wanted})")


@engines_app.command("install")
def install_cmd(specs: list[str] = typer.Argument(..., help="kind==release, e.g. mooncake==0.3.13.post1 nixl==1.5.1 (a bare release is Mooncake's).")) -> None:
    """Install engine releases, each into its own venv (pinned, cached; a second run only checks)."""
    from rdmacheck.engines.catalog import install, parse

    for spec in specs:
        parse(spec)  # every spec checked before anything is installed
    for spec in specs:
        e = install(spec)
        print(f"installed {e.kind} {e.release}: {e.python}")


engines_app.command("matrix")(matrix_command(ENGINES))
