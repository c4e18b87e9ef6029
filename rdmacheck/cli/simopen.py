"""`rdmacheck simopen`: both sides open endpoints to each other at the same instant."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from rdmacheck.cli import options as o
from rdmacheck.cli.app import app
from rdmacheck.cli.finish import check_outputs, finish
from rdmacheck.errors import EXIT_ENV
from rdmacheck.output.console import err, styled
from rdmacheck.output.write import write_outputs

PEER_ONLY = ("name", "listen", "peer")
HERE_ONLY = ("json_out", "log_dir")


@app.command()
@o.tuning_options
@o.token_options
def simopen(
    role: Optional[str] = typer.Option(None, "--role", help="peer: one side of a two-host run (default: both sides here)."),
    device: str = o.DEVICE,
    endpoints: int = typer.Option(64, "--endpoints", help="Endpoints each side opens to the other."),
    rounds: int = typer.Option(5, "--rounds", min=1, help="Open / verify / tear down rounds."),
    passive_policy: str = typer.Option("reuse", "--passive-policy", help="reuse (the fix) | delete (the old bug: the passive side deletes a half-open endpoint)."),
    callers: int = typer.Option(2, "--callers", min=1, help="Callers asking for each endpoint at once (all but one must wait)."),
    concurrency: int = typer.Option(16, "--concurrency", min=1, help="Dialing threads per side."),
    connect_timeout: float = typer.Option(30.0, "--connect-timeout", help="Per round: an endpoint not connected by then is a hang."),
    io_timeout: float = typer.Option(5.0, "--io-timeout", help="Seconds for each endpoint's verified WRITE."),
    gid_index: Optional[int] = o.GID_INDEX,
    name: Optional[str] = typer.Option(None, "--name", help="--role peer: this side's name."),
    listen: str = typer.Option("127.0.0.1:18600", "--listen", help="--role peer: handshake address HOST:PORT."),
    peer: Optional[str] = typer.Option(None, "--peer", help="--role peer: the other side's HOST:PORT."),
    json_out: Optional[Path] = o.JSON_FILE,
    log_dir: Optional[Path] = o.LOG_DIR,
    *, tuning=None, token=None,
) -> None:
    """Both sides open N endpoints to each other at the same instant; 0 hangs, 0 duplicates, 0 leaks, data verified."""
    from rdmacheck.simopen.manager import POLICIES

    if passive_policy not in POLICIES:
        raise typer.BadParameter(f"must be one of {', '.join(POLICIES)}", param_hint="--passive-policy")
    if not 1 <= endpoints <= 4096:
        raise typer.BadParameter("must be 1..4096", param_hint="--endpoints")
    if role not in (None, "peer"):
        raise typer.BadParameter("must be peer (or leave it out to run both sides here)", param_hint="--role")
    if role == "peer":
        from rdmacheck.handshake.address import parse_hostport
        from rdmacheck.simopen.peer import SimopenConfig, run_peer

        o.refuse_given(HERE_ONLY, "to --role peer (a peer reports JSON-lines events on stdout)")
        if not peer or not name:
            raise typer.BadParameter("a peer needs --name and --peer HOST:PORT", param_hint="--peer")
        raise typer.Exit(run_peer(SimopenConfig(
            name=name, device=device, listen=parse_hostport(listen, "--listen", allow_zero=True),
            peer=parse_hostport(peer, "--peer"), endpoints=endpoints, rounds=rounds, policy=passive_policy,
            callers=callers, concurrency=concurrency, connect_timeout=connect_timeout, io_timeout=io_timeout,
            gid_index=gid_index, tuning=tuning, token=token)))
    o.refuse_given(PEER_ONLY, "without --role peer (both sides run here, on free loopback ports)")
    from rdmacheck.simopen.launch import SimopenPlan, run_simopen
    from rdmacheck.simopen.render import render_simopen

    check_outputs(json_out)
    o.require_devices(device)
    plan = SimopenPlan(device=device, endpoints=endpoints, rounds=rounds, policy=passive_policy, callers=callers,
                       concurrency=concurrency, connect_timeout=connect_timeout, io_timeout=io_timeout,
                       gid_index=gid_index, log_dir=log_dir, tuning=tuning, token=token)
    res = run_simopen(plan, on_step=lambda s: err.print(styled(s, "dim")))
    if res.error and not res.rounds:  # nothing ran: one line, exit 2
        write_outputs(res, json_out)
        err.print(f"error: {res.error}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_ENV)
    finish(res, render_simopen, json_out)
