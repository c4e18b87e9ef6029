"""`rdmacheck engines ...`: every transfer engine rdmacheck judges (Mooncake, NIXL), by adapter:
list, install, and the engines x releases x scenarios matrix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from rdmacheck.cli import matrix_options as M
from rdmacheck.cli import options as o
from rdmacheck.cli.app import app
from rdmacheck.cli.finish import check_outputs, finish
from rdmacheck.errors import EnvironmentProblem
from rdmacheck.output.console import out_console

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


def device_ip(device: str) -> str:
    from rdmacheck.verbs.devices import list_devices

    ip = list_devices(only=device)[0].netdev_ipv4()
    if ip is None:
        raise EnvironmentProblem(f"{device} has no IPv4 address in this network namespace; give --host")
    return ip


def run_matrix(picked: list, allowed: tuple[str, ...], device: str, scenarios: Optional[str], host: Optional[str],
               json_path: Optional[Path], junit: Optional[Path], tone: Optional[Path], quiet: bool, etcd: Optional[str],
               **plan) -> None:
    """`engines matrix` and `mooncake matrix`: check every input, run, render, write, exit by the judgement."""
    from rdmacheck.engines.catalog import adapter
    from rdmacheck.mooncake.engine_matrix import (
        BY_KIND,
        MOONCAKE_SCENARIOS,
        EngineMatrixPlan,
        run_engine_matrix,
    )
    from rdmacheck.mooncake.render import cell_line, render_engine_matrix
    from rdmacheck.verbs.devices import is_iwarp_device

    chosen = tuple(o.csv(scenarios) or allowed)
    bad = [s for s in chosen if s not in allowed]
    if bad:
        raise typer.BadParameter(f"unknown scenario {bad[0]!r} (choose from {', '.join(allowed)})", param_hint="--scenarios")
    if not picked:
        raise EnvironmentProblem("no engine release installed: rdmacheck engines install KIND==RELEASE")
    runs = {s for e in picked for s in chosen if s in BY_KIND[e.kind]}
    if not runs:
        raise typer.BadParameter(f"none of {', '.join(chosen)} applies to {', '.join(e.label for e in picked)}",
                                 param_hint="--scenarios")
    if etcd and "etcd-restart" not in runs:
        raise typer.BadParameter("--etcd applies to the etcd-restart scenario only (Mooncake's)", param_hint="--etcd")
    check_outputs(json_path, junit, tone)
    o.require_devices(device)
    if is_iwarp_device(device):
        no = [e.label for e in picked if not adapter(e).iwarp]
        if no:
            raise typer.BadParameter(f"{device} is iWARP and {', '.join(no)} cannot run there (UCX has no iWARP "
                                     "transport)", param_hint="--device")
    console = out_console()
    mp = EngineMatrixPlan(picked, host or device_ip(device), device, chosen, etcd=etcd,
                          command="mooncake matrix" if allowed == MOONCAKE_SCENARIOS else "engines matrix",
                          on_cell=(lambda c: None) if quiet else (lambda c: console.print(cell_line(c), highlight=False)),
                          **plan)
    finish(run_engine_matrix(mp), render_engine_matrix, json_path, junit, tone)


@engines_app.command("matrix")
def matrix_cmd(
    device: str = o.DEVICE,
    engines: Optional[str] = typer.Option(None, "--engines", help="Comma-separated kind==release (default: every release installed, of every kind)."),
    scenarios: Optional[str] = typer.Option(None, "--scenarios", help="Comma-separated subset of restart-initiator, restart-target, simopen, race, etcd-restart, remove-readd, remove-readd-inflight (each runs where it applies)."),
    host: Optional[str] = M.HOST,
    rounds: int = M.ROUNDS,
    endpoints: int = M.ENDPOINTS,
    race_trials: int = M.RACE_TRIALS,
    race_threads: int = M.RACE_THREADS,
    hang_after: float = M.HANG_AFTER,
    answer_timeout: float = M.ANSWER_TIMEOUT,
    engine_transfer_timeout: int = M.ENGINE_TRANSFER_TIMEOUT,
    etcd: Optional[str] = M.ETCD,
    log_dir: Path = typer.Option(Path("rdmacheck-logs/engines-matrix"), "--log-dir", help="Every cell's logs: DIR/<engine>/<scenario>/."),
    json_path: Optional[Path] = o.JSON_FILE,
    junit: Optional[Path] = o.JUNIT,
    tone: Optional[Path] = o.TONE,
    quiet: bool = typer.Option(False, "--quiet", help="No line per finished cell, only the table."),
) -> None:
    """Engines x releases x scenarios, judged against the shipped (measured) expectations; exit 0 when every cell is as expected."""
    from rdmacheck.engines.catalog import engine_for, installed
    from rdmacheck.mooncake.engine_matrix import SCENARIOS

    picked = [engine_for(e) for e in o.csv(engines)] if engines else installed()
    run_matrix(picked, SCENARIOS, device, scenarios, host, json_path, junit, tone, quiet, etcd, rounds=rounds,
               endpoints=endpoints, race_trials=race_trials, race_threads=race_threads, answer_timeout=answer_timeout,
               hang_after=hang_after, engine_transfer_timeout=engine_transfer_timeout, log_dir=log_dir)
