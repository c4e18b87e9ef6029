"""`rdmacheck mooncake ...`: operator commands for Mooncake Transfer Engine deployments."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from rdmacheck.cli import options as o
from rdmacheck.cli.app import app
from rdmacheck.cli.engines_matrix import MOONCAKE, matrix_command
from rdmacheck.cli.finish import check_outputs, finish
from rdmacheck.errors import EXIT_ENV, EXIT_FAIL
from rdmacheck.output.console import out_console
from rdmacheck.words import Role, Verdict

mooncake_app = typer.Typer(no_args_is_help=True, help="Test a Mooncake Transfer Engine deployment: probe, segments, reestablish, role.")
app.add_typer(mooncake_app, name="mooncake")

ENGINE = typer.Option(None, "--engine", help="A Mooncake release installed by set-up (e.g. 0.3.10; see `mooncake "
                      "engines`) or the path of a Python that imports mooncake.engine (your own build). Default: "
                      "this interpreter's engine, else the newest installed release.")


def _engine(spec: Optional[str]):
    from rdmacheck.engines.mooncake import default_engine, engine_for

    return engine_for(spec) if spec else default_engine()


def _device_ip(device: str) -> str:
    from rdmacheck.verbs.devices import device_ipv4

    return device_ipv4(device).netdev_ipv4()


@mooncake_app.command("probe")
def probe_cmd(
    address: str = typer.Argument(..., help="The engine's handshake address HOST:PORT (its P2P name)."),
    timeout: float = typer.Option(5.0, "--timeout", help="Seconds for each request."),
    json_out: bool = o.JSON_PRINT,
) -> None:
    """Send a Probe and a Metadata request to a running engine; print and check its segment descriptor."""
    from rdmacheck.handshake.address import parse_hostport
    from rdmacheck.mooncake.probe import probe
    from rdmacheck.mooncake.render import render_probe
    from rdmacheck.verbs.devices import list_devices

    host, port = parse_hostport(address, "ADDRESS")
    try:
        local = [d.name for d in list_devices()]
    except Exception:  # noqa: BLE001 - no RDMA stack here: skip the 'device present' check
        local = None
    res = probe(host, port, timeout, local)
    if json_out:
        print(json.dumps(res.to_dict(), indent=2))
    else:
        render_probe(res, out_console())
    raise typer.Exit(0 if res.verdict == Verdict.PASS else EXIT_ENV if res.segment is None else EXIT_FAIL)


@mooncake_app.command("segments")
@o.etcd_client_options
def segments_cmd(
    cluster_id: str = typer.Option("", "--cluster-id", help="MC_METADATA_CLUSTER_ID, if the cluster sets one."),
    json_out: bool = o.JSON_PRINT,
    *, etcd=None,
) -> None:
    """List mooncake/ram/* descriptors with their rpc_meta address, age, and whether the engine still answers."""
    from rdmacheck.mooncake.render import render_segments
    from rdmacheck.mooncake.segments import list_segments

    o.refuse_given(("etcd_prefix", "cluster"), "to Mooncake's keys (mooncake/[ID/]ram/*: give --cluster-id)")
    rows = list_segments(etcd, cluster_id)
    if json_out:
        print(json.dumps([r.to_dict() for r in rows], indent=2))
    else:
        render_segments(rows, out_console())
    raise typer.Exit(0 if all(r.alive.startswith("alive") for r in rows) else EXIT_FAIL)


@mooncake_app.command("reestablish")
def reestablish_cmd(
    device: str = o.DEVICE,
    engine: Optional[str] = ENGINE,
    host: Optional[str] = typer.Option(None, "--host", help="IP both sides name themselves by (default: the device's IPv4)."),
    engine_role: Role = typer.Option(Role.TARGET, "--engine-role", help="target: the engine serves, rdmacheck's initiator restarts | initiator: the engine's initiator restarts, rdmacheck serves."),
    restart: Role = typer.Option(Role.INITIATOR, "--restart", help="The side killed and restarted each round: initiator (the seed test) | target (what the engine does when its peer dies)."),
    rounds: int = typer.Option(3, "--rounds", min=1, help="Rounds; each starts the restarted side afresh: write, target verify, read back."),
    engine_transfer_timeout: int = typer.Option(10, "--engine-transfer-timeout", help="MC_TRANSFER_TIMEOUT for the engine: seconds a sync transfer may block."),
    length: str = typer.Option("1MiB", "--length", help="Bytes per round."),
    initiator_port: int = typer.Option(17100, "--initiator-port", help="The initiator's pinned handshake port: its name across restarts."),
    target_port: int = typer.Option(17200, "--target-port", help="The target's pinned handshake port."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds for each step (start, write, verify, read)."),
    log_dir: Path = typer.Option(Path("rdmacheck-logs/mooncake"), "--log-dir", help="Both sides' logs (the engine's glog lines included)."),
    json_path: Optional[Path] = o.JSON_FILE,
    junit: Optional[Path] = typer.Option(None, "--junit", help="JUnit XML: one testcase per round."),
    tone: Optional[Path] = typer.Option(None, "--tone", help="T-one results: DIR/test_results.json and DIR/round-N/test_results.json."),
) -> None:
    """The seed's scenario against a real engine: restart a side under the same name N times, verify each round."""
    from rdmacheck.mooncake.reestablish import run_mooncake
    from rdmacheck.mooncake.reestablish_result import MooncakePlan
    from rdmacheck.mooncake.render import render_mooncake
    from rdmacheck.units import parse_size

    check_outputs(json_path, junit, tone)
    o.require_devices(device)
    plan = MooncakePlan(host=host or _device_ip(device), engine=_engine(engine), device=device, engine_role=engine_role, restart=restart, rounds=rounds,
                        engine_transfer_timeout=engine_transfer_timeout,
                        length=parse_size(length), initiator_port=initiator_port, target_port=target_port,
                        step_timeout=timeout, log_dir=log_dir)
    finish(run_mooncake(plan), render_mooncake, json_path, junit, tone)


@mooncake_app.command("role")
def role_cmd(
    role: Role = typer.Option(..., "--role", help="target: a Mooncake segment an engine can write to | initiator: handshakes with an engine and writes to it."),
    device: str = o.DEVICE,
    listen: str = typer.Option(..., "--listen", help="This side's segment name IP:PORT (pin it: a restarted side is the same NIC path)."),
    name: Optional[str] = typer.Option(None, "--name", help="This side's name in its events (default: the role)."),
    gid_index: Optional[int] = o.GID_INDEX,
    ib_port: Optional[int] = o.IB_PORT,
    buffer_size: str = typer.Option("64MiB", "--buffer-size", help="target: bytes registered and exposed."),
    peer: Optional[str] = typer.Option(None, "--peer", help="initiator: the engine's segment name ENGINE_IP:PORT."),
    length: str = typer.Option("4MiB", "--length", help="initiator: bytes written and read back per round (it overwrites the engine's memory)."),
    offset: int = typer.Option(0, "--offset", help="initiator: offset into the engine's first buffer."),
    rounds: int = typer.Option(3, "--rounds", help="initiator: verified rounds before exiting (0 = until killed)."),
    reconnect_timeout: float = typer.Option(30.0, "--reconnect-timeout", help="initiator: seconds to keep handshaking after a failed round."),
    io_timeout: float = typer.Option(30.0, "--io-timeout", help="initiator: seconds for one WRITE / READ."),
    heartbeat: float = typer.Option(0.5, "--heartbeat", help="initiator: seconds between retries while re-handshaking."),
) -> None:
    """One side in Mooncake's dialect, for two hosts or a production engine: JSON-lines events on stdout."""
    from rdmacheck.handshake.address import parse_hostport
    from rdmacheck.mooncake.roles import run_mooncake_role
    from rdmacheck.roles.config import RoleConfig

    initiator_only = ("peer", "length", "offset", "rounds", "reconnect_timeout", "io_timeout", "heartbeat")
    o.refuse_given(initiator_only if role is Role.TARGET else ("buffer_size",), f"to --role {role}")
    if role is Role.INITIATOR and not peer:
        raise typer.BadParameter("the initiator needs the engine's --peer ENGINE_IP:PORT", param_hint="--peer")
    cfg = RoleConfig(role=role, device=device, name=name or role.value, gid_index=gid_index, ib_port=ib_port,
                     listen=parse_hostport(listen, "--listen", allow_zero=True),
                     peer=parse_hostport(peer, "--peer") if peer else None,
                     buffer_size=o.size(buffer_size, "--buffer-size"), length=o.size(length, "--length"),
                     offset=offset, rounds=rounds if role is Role.INITIATOR else 0,
                     reconnect_timeout=reconnect_timeout, io_timeout=io_timeout, heartbeat=heartbeat)
    raise typer.Exit(run_mooncake_role(cfg))


@mooncake_app.command("engines")
def engines_cmd(
    install: Optional[list[str]] = typer.Option(None, "--install", help="Install this release into its own venv (repeatable; pinned, cached)."),
    json_out: bool = o.JSON_PRINT,
) -> None:
    """List the engine releases installed for `mooncake simopen/race/matrix` (one venv each); install more.
    (Mooncake's rows of `rdmacheck engines list` / `engines install`.)"""
    from rdmacheck.engines.engine import check_release
    from rdmacheck.engines.mooncake import DEFAULT_RELEASES, engines_dir, installed
    from rdmacheck.engines.mooncake import install as install_release

    for r in install or []:
        check_release("--install", r, DEFAULT_RELEASES[-1])
    for r in install or []:
        e = install_release(r)
        print(f"installed Mooncake {e.release}: {e.python}")
    rows = [{"release": e.release, "python": str(e.python)} for e in installed()]
    if json_out:
        print(json.dumps(rows, indent=2))
    elif not install:
        for r in rows:
            print(f"{r['release']:<14} {r['python']}")
        print(f"{len(rows)} release(s) in {engines_dir()} (set-up installs {', '.join(DEFAULT_RELEASES)})")


@mooncake_app.command("simopen")
def simopen_cmd(
    device: str = o.DEVICE,
    engine: Optional[str] = ENGINE,
    host: Optional[str] = typer.Option(None, "--host", help="IP both sides name themselves by (default: the device's IPv4)."),
    endpoints: int = typer.Option(2, "--endpoints", min=1, help="rdmacheck segments the engine opens to at once, each open forced."),
    rounds: int = typer.Option(1, "--rounds", min=1, help="Rounds, each with a fresh engine process."),
    length: str = typer.Option("1MiB", "--length", help="Bytes the engine writes to each segment (and each writes back)."),
    answer_timeout: float = typer.Option(5.0, "--answer-timeout", help="Seconds the engine may take to answer rdmacheck's crossing Connection request."),
    timeout: float = typer.Option(20.0, "--timeout", help="Seconds for the engine to start and for its write."),
    io_timeout: float = typer.Option(5.0, "--io-timeout", help="Seconds for rdmacheck's write back to the engine."),
    log_dir: Path = typer.Option(Path("rdmacheck-logs/mooncake-simopen"), "--log-dir", help="The engine's logs, one per round."),
    json_path: Optional[Path] = o.JSON_FILE,
) -> None:
    """Force a simultaneous open on a real engine: hold its Connection request, cross it with ours, then answer."""
    from rdmacheck.mooncake.forced_open import ForcedOpenPlan, run_forced_open
    from rdmacheck.mooncake.render import render_forced_open

    check_outputs(json_path)
    o.require_devices(device)
    plan = ForcedOpenPlan(_engine(engine), host or _device_ip(device), device, endpoints, rounds,
                          o.size(length, "--length"), answer_timeout, timeout, io_timeout=io_timeout, log_dir=log_dir)
    finish(run_forced_open(plan), render_forced_open, json_path)


@mooncake_app.command("race")
def race_cmd(
    device: str = o.DEVICE,
    engine: Optional[str] = ENGINE,
    host: Optional[str] = typer.Option(None, "--host", help="IP both engines name themselves by (default: the device's IPv4)."),
    trials: int = typer.Option(6, "--trials", min=1, help="Trials, each with two fresh engine processes."),
    threads: int = typer.Option(1, "--threads", min=1, help="Write calls each engine starts at the instant."),
    length: str = typer.Option("1MiB", "--length", help="Bytes each engine writes to the other."),
    hang_after: float = typer.Option(5.0, "--hang-after", help="Watchdog: a call not returned this many seconds after the instant is a hang."),
    log_dir: Path = typer.Option(Path("rdmacheck-logs/mooncake-race"), "--log-dir", help="Both engines' logs, per trial."),
    json_path: Optional[Path] = o.JSON_FILE,
) -> None:
    """The natural race: two real engines write to each other at one instant; how often does a release hang?"""
    from rdmacheck.engines.race import RacePlan, run_race
    from rdmacheck.mooncake.render import render_race

    check_outputs(json_path)
    o.require_devices(device)
    plan = RacePlan(_engine(engine), host or _device_ip(device), device, trials, threads, o.size(length, "--length"),
                    hang_after, log_dir=log_dir)
    finish(run_race(plan), render_race, json_path)


mooncake_app.command("matrix")(matrix_command(MOONCAKE))
