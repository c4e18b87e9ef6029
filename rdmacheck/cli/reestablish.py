"""`rdmacheck reestablish`: two programs behind one command, each with only its own options.

  reestablish --local ...            both roles here, one restarted every round (a one-cell scenario)
  reestablish --role target|initiator ...   one side of a two-host run

`--dialect mooncake` moved to `rdmacheck mooncake role` (a hint says so)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import List, Optional

import typer

from rdmacheck.cli import options as o
from rdmacheck.cli.app import app
from rdmacheck.cli.finish import check_outputs
from rdmacheck.errors import EXIT_ENV, EXIT_FAIL
from rdmacheck.output.console import err, out_console, styled
from rdmacheck.scenario.cell import CellSpec
from rdmacheck.words import Mode, Restart, Role, Strategy

D = CellSpec(device="-")  # the defaults of a local cell, shown in --help
# CellSpec fields set by options of another name (the rest: the option of the same name)
SETTING_PARAMS = {"host": ("listen",), "port": ("listen",), "tuning": ("qp_timeout", "retry_cnt", "mtu"),
                  "metadata": tuple(p.name for p in o.ETCD_PARAMS), "token": ("token_text", "token_file")}
HELP = {
    "io_timeout": "Seconds for one WRITE/READ/verify step.",
    "reconnect_timeout": "Seconds to keep trying the target after it went away.",
    "heartbeat": "Seconds between the initiator's liveness checks while it holds a connection.",
    "hold_probe": "The initiator also RDMA WRITEs 64 B every heartbeat while holding (sees a dead RDMA path "
                  "under a live control connection).",
    "cm_addr": "cm mode: the device's IP for rdma_cm (default: its netdev's IPv4).",
    "cm_port": "The target's rdma_cm listen port (default: the handshake port + 1).",
}


local_app = typer.Typer(add_completion=False)
role_app = typer.Typer(add_completion=False)


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True,
                               "help_option_names": []}, add_help_option=False)
def reestablish(ctx: typer.Context) -> None:
    """Connect an RC QP, write/verify/read back a pattern, and re-establish after a peer restart.

    `reestablish --local [OPTIONS]` runs both roles here; `reestablish --role target|initiator
    [OPTIONS]` is one side of a two-host run. Add --help after either for its options."""
    args = list(ctx.args)
    if "--local" in args:
        args.remove("--local")
        _dispatch(local_app, args, "rdmacheck reestablish --local")
    if any(a == "--role" or a.startswith("--role=") for a in args):
        if any(a == "--dialect" or a.startswith("--dialect=") for a in args):
            if any(a in ("mooncake", "--dialect=mooncake") for a in args):
                raise typer.BadParameter("the Mooncake dialect's roles are `rdmacheck mooncake role --role "
                                         "target|initiator ...` now", param_hint="--dialect")
            args = _drop_option(args, "--dialect")  # rdmacheck: the default of this program
        _dispatch(role_app, args, "rdmacheck reestablish")
    if args == ["--help"]:
        print(_overview())
        raise typer.Exit(0)
    raise typer.BadParameter("give --local (both roles here) or --role target|initiator (one side); "
                             "rdmacheck reestablish --help shows both", param_hint="--local / --role")


def _overview() -> str:
    return ("Usage: rdmacheck reestablish --local [OPTIONS]\n"
            "       rdmacheck reestablish --role target|initiator [OPTIONS]\n\n"
            "Connect an RC QP, write/verify/read back a pattern, and re-establish after a\n"
            "peer restart.\n\n"
            "  --local   both roles as child processes here; the --restart side is killed\n"
            "            and comes back\n"
            "  --role    one side of a two-host run (target: registers memory and waits;\n"
            "            initiator: connects, writes, verifies, reads back)\n\n"
            "Options of each: rdmacheck reestablish --local --help,\n"
            "                 rdmacheck reestablish --role target --help.\n"
            "The Mooncake dialect: rdmacheck mooncake role --help.")


def _drop_option(args: list[str], name: str) -> list[str]:
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a == name:
            skip = True
        elif not a.startswith(name + "="):
            out.append(a)
    return out


def _dispatch(sub: typer.Typer, args: list[str], prog: str) -> None:
    rc = typer.main.get_command(sub).main(args=args, prog_name=prog, standalone_mode=False)
    raise typer.Exit(rc if isinstance(rc, int) else 0)


# --- reestablish --local ----------------------------------------------------------------------
@local_app.command()
@o.etcd_options
@o.tuning_options
@o.token_options
def local(
    device: str = o.DEVICE,
    scenario: Optional[str] = typer.Option(None, "--scenario", help="Take the run settings (rounds, sizes, timeouts, restart signal and delay, faults, GID index) from this scenario file or built-in name; the options given here override it."),
    target_device: Optional[str] = typer.Option(None, "--target-device", help="The target's device (default --device)."),
    target_netns: Optional[str] = typer.Option(None, "--target-netns", help="Run the target in this network namespace (two-host model)."),
    restart: Restart = typer.Option(D.restart, "--restart", help="Which side is killed and restarted every round."),
    strategy: Strategy = o.STRATEGY,
    mode: Mode = o.MODE,
    rounds: int = typer.Option(D.rounds, "--rounds", min=1, help="Restart rounds (after the first connection)."),
    gid_index: Optional[int] = o.GID_INDEX,
    ib_port: Optional[int] = o.IB_PORT,
    listen: str = typer.Option(f"{D.host}:{D.port}", "--listen", help="The target's handshake address HOST:PORT (port 0: a free one; with --target-netns: the namespace's IPv4)."),
    cm_port: Optional[int] = typer.Option(None, "--cm-port", help=HELP["cm_port"]),
    cm_addr: Optional[str] = typer.Option(None, "--cm-addr", help=HELP["cm_addr"] + " Both roles use it: one device only."),
    buffer_size: str = typer.Option("64MiB", "--buffer-size", help="Bytes the target registers and exposes."),
    length: str = typer.Option("4MiB", "--length", help="Bytes written, verified and read back per round."),
    offset: int = typer.Option(D.offset, "--offset", help="Where in the target's buffer the initiator writes."),
    initiator_name: str = typer.Option(D.initiator_name, "--initiator-name", help="The initiator's logical name (kept across restarts)."),
    target_name: str = typer.Option(D.target_name, "--target-name", help="The target's logical name (kept across restarts)."),
    inject: Optional[List[str]] = typer.Option(None, "--inject", help="Fault (repeatable): reset-noop, rtr-einval, handshake-drop, handshake-delay:MS, handshake-garble (both roles); kill-at:STEP (the restart side dies at STEP and comes back); link-down:SECONDS (the device's netdev down, nobody killed)."),
    start_timeout: float = typer.Option(D.start_timeout, "--start-timeout", help="Seconds for a role process to be ready."),
    round_timeout: float = typer.Option(D.round_timeout, "--round-timeout", help="Seconds from a restart to the first verified write."),
    reconnect_timeout: float = typer.Option(D.reconnect_timeout, "--reconnect-timeout", help=HELP["reconnect_timeout"]),
    io_timeout: float = typer.Option(D.io_timeout, "--io-timeout", help=HELP["io_timeout"]),
    heartbeat: float = typer.Option(D.heartbeat, "--heartbeat", help=HELP["heartbeat"]),
    hold_probe: bool = typer.Option(D.hold_probe, "--hold-probe", help=HELP["hold_probe"]),
    json_out: Optional[Path] = o.JSON_FILE,
    log_dir: Optional[Path] = o.LOG_DIR,
    *, etcd=None, tuning=None, token=None,
) -> None:
    """Both roles here as child processes; the --restart side is SIGKILLed and comes back every round."""
    from rdmacheck.handshake.address import parse_hostport
    from rdmacheck.output.files import write_json_atomic
    from rdmacheck.scenario.render import render_rounds
    from rdmacheck.scenario.result import PASS, SKIP, RunResult
    from rdmacheck.scenario.runner import run_cell

    check_outputs(json_out)
    o.check_mode_options(mode, (device, target_device), tuning)
    host, port = parse_hostport(listen, "--listen", allow_zero=True)
    if cm_addr and (target_device or target_netns):
        raise typer.BadParameter("names one device's IP; with --target-device or --target-netns each role finds "
                                 "its own", param_hint="--cm-addr")
    settings = dict(gid_index=gid_index, ib_port=ib_port, host=host, port=port, cm_port=cm_port, cm_addr=cm_addr,
                    rounds=rounds, buffer_size=o.size(buffer_size, "--buffer-size"), length=o.size(length, "--length"),
                    offset=offset, initiator_name=initiator_name, target_name=target_name,
                    inject=o.faults(inject, runner_faults=True), start_timeout=start_timeout,
                    round_timeout=round_timeout, reconnect_timeout=reconnect_timeout, io_timeout=io_timeout,
                    heartbeat=heartbeat, hold_probe=hold_probe, tuning=tuning, metadata=etcd, token=token)
    base = D
    if scenario:  # a one-cell scenario: its settings, then the options given here
        from rdmacheck.scenario.spec import load_scenario

        sc = load_scenario(scenario)
        base = replace(sc.base, scenario=sc.name)
        settings = {k: v for k, v in settings.items() if any(o.given(p) for p in SETTING_PARAMS.get(k, (k,)))}
    spec = replace(base, device=device, target_device=target_device, target_netns=target_netns, restart=restart,
                   strategy=strategy, mode=mode, log_dir=log_dir, **settings)
    if spec.offset + spec.length > spec.buffer_size:
        raise typer.BadParameter(f"--offset {spec.offset} + --length {spec.length} exceeds --buffer-size "
                                 f"{spec.buffer_size}", param_hint="--offset")
    o.require_devices(device, None if target_netns else target_device)
    run = RunResult(command="reestablish --local")
    try:
        cell = run_cell(spec, on_step=lambda s: err.print(styled(s, "dim")))
        run.cells.append(cell)
        run.finished = True
    finally:
        if json_out:
            write_json_atomic(json_out, run.to_dict())
    if cell.verdict == SKIP:
        err.print(f"SKIP: {cell.skip_reason}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_ENV)
    render_rounds(cell, out_console())
    raise typer.Exit(0 if cell.verdict == PASS else EXIT_FAIL)


# --- reestablish --role -----------------------------------------------------------------------
# Options of one side only: refused for the other (an option is never silently ignored).
TARGET_ONLY = ("listen", "buffer_size", "cm_port")
INITIATOR_ONLY = ("peer", "length", "offset", "rounds", "reconnect_timeout", "io_timeout", "heartbeat", "hold_probe",
                  "target_name")


@role_app.command()
@o.etcd_options
@o.tuning_options
@o.token_options
def role(
    role: Role = typer.Option(..., "--role", help="This side: target (registers memory, waits) | initiator (connects, writes, verifies)."),
    device: str = o.DEVICE,
    name: Optional[str] = typer.Option(None, "--name", help="This side's logical name (kept across restarts; default: the role)."),
    strategy: Strategy = o.STRATEGY,
    mode: Mode = o.MODE,
    gid_index: Optional[int] = o.GID_INDEX,
    ib_port: Optional[int] = o.IB_PORT,
    cm_addr: Optional[str] = typer.Option(None, "--cm-addr", help=HELP["cm_addr"]),
    inject: Optional[List[str]] = o.INJECT,
    listen: str = typer.Option("127.0.0.1:18515", "--listen", help="target: handshake address HOST:PORT (explicit; never a silent 0.0.0.0)."),
    buffer_size: str = typer.Option("64MiB", "--buffer-size", help="target: bytes registered and exposed."),
    cm_port: Optional[int] = typer.Option(None, "--cm-port", help="target: " + HELP["cm_port"]),
    peer: Optional[str] = typer.Option(None, "--peer", help="initiator: the target's HOST:PORT (or find it in etcd: --metadata)."),
    target_name: str = typer.Option("target", "--target-name", help="initiator with etcd: the target's name to look up and watch."),
    length: str = typer.Option("4MiB", "--length", help="initiator: bytes written, verified and read back per round."),
    offset: int = typer.Option(0, "--offset", help="initiator: offset into the target's buffer."),
    rounds: int = typer.Option(3, "--rounds", help="initiator: verified rounds before exiting (0 = until killed)."),
    reconnect_timeout: float = typer.Option(30.0, "--reconnect-timeout", help="initiator: " + HELP["reconnect_timeout"]),
    io_timeout: float = typer.Option(30.0, "--io-timeout", help="initiator: " + HELP["io_timeout"]),
    heartbeat: float = typer.Option(0.5, "--heartbeat", help="initiator: " + HELP["heartbeat"]),
    hold_probe: bool = typer.Option(False, "--hold-probe", help="initiator: " + HELP["hold_probe"]),
    *, etcd=None, tuning=None, token=None,
) -> None:
    """One side of a two-host run; JSON-lines events on stdout, logs on stderr."""
    from rdmacheck.handshake.address import parse_hostport
    from rdmacheck.roles.config import RoleConfig
    from rdmacheck.roles.run import run_role

    o.refuse_given(INITIATOR_ONLY if role is Role.TARGET else TARGET_ONLY, f"to --role {role}")
    o.check_mode_options(mode, (device,), tuning)
    if role is Role.INITIATOR and not peer and not etcd:
        raise typer.BadParameter("the initiator needs --peer HOST:PORT (or --metadata etcd://...)", param_hint="--peer")
    if role is Role.INITIATOR and etcd and peer:
        raise typer.BadParameter("does not apply with --metadata etcd://...: the initiator finds the target in etcd "
                                 "(by --target-name)", param_hint="--peer")
    if role is Role.INITIATOR and not etcd and o.given("target_name"):
        raise typer.BadParameter("does not apply without --metadata etcd://... (the target is found at --peer)",
                                 param_hint="--target-name")
    cfg = RoleConfig(role=role, device=device, name=name or role.value, strategy=strategy, mode=mode, cm_port=cm_port,
                     cm_addr=cm_addr, gid_index=gid_index, ib_port=ib_port,
                     listen=parse_hostport(listen, "--listen", allow_zero=True) if role is Role.TARGET else None,
                     peer=parse_hostport(peer, "--peer") if peer else None, metadata=etcd, target_name=target_name,
                     token=token, inject=o.faults(inject, runner_faults=False, role=role),
                     buffer_size=o.size(buffer_size, "--buffer-size"), length=o.size(length, "--length"),
                     offset=offset, rounds=rounds if role is Role.INITIATOR else 0,
                     reconnect_timeout=reconnect_timeout, io_timeout=io_timeout, heartbeat=heartbeat, tuning=tuning,
                     hold_probe=hold_probe)
    raise typer.Exit(run_role(cfg))
