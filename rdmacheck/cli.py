"""The typer app: parse, call one function, render. No logic here."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import List, Optional

import typer

from rdmacheck import __version__
from rdmacheck.cli_lab import lab_app, lab_paths
from rdmacheck.cli_metadata import etcd_config, meta_app
from rdmacheck.cli_mooncake import mooncake_app
from rdmacheck.errors import EXIT_ENV, EXIT_FAIL, EXIT_INTERNAL, EnvironmentProblem, RdmacheckError
from rdmacheck.report.console import err, out_console

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Prove RDMA RC connections come up, carry correct data, and come back after a peer restarts.")
app.add_typer(lab_app, name="lab")
app.add_typer(meta_app, name="metadata")
app.add_typer(mooncake_app, name="mooncake")

def version_cb(value: bool) -> None:
    if value:
        print(f"rdmacheck {__version__}")
        raise typer.Exit()


@app.callback()
def root(version: bool = typer.Option(False, "--version", callback=version_cb, is_eager=True,
                                      help="Print the version and exit.")) -> None:
    """rdmacheck."""


@app.command()
def devices(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    device: Optional[str] = typer.Option(None, "--device", "-d", help="Only this device."),
) -> None:
    """List RDMA devices: provider, node type, ports, MTU, GID table with types and IPs."""
    from rdmacheck.verbs.devices import list_devices
    from rdmacheck.report.devices import render_devices

    devs = list_devices(device)
    if as_json:
        print(json.dumps({"devices": [d.to_dict() for d in devs]}, indent=2))
        return
    if not devs:
        err.print("no RDMA devices found (the kernel has RDMA support, but no device is registered)")
        raise typer.Exit(EXIT_FAIL)
    render_devices(devs, out_console())


def _size(value: str, option: str) -> int:
    from rdmacheck.units import parse_size

    try:
        return parse_size(value)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint=option)


def _tuning(qp_timeout: int, retry_cnt: int, mtu: Optional[int]):
    from rdmacheck.verbs.rc import QPTuning

    if not 0 <= retry_cnt <= 7:
        raise typer.BadParameter("must be 0..7", param_hint="--retry-cnt")
    if retry_cnt == 7:
        err.print("warning: --retry-cnt 7 means 'retry forever' on rxe: a dead peer is never detected")
    if mtu is not None and mtu not in (256, 512, 1024, 2048, 4096):
        raise typer.BadParameter("must be 256, 512, 1024, 2048 or 4096", param_hint="--mtu")
    return QPTuning(timeout=qp_timeout, retry_cnt=retry_cnt, mtu=mtu)


@app.command()
def reestablish(
    role: Optional[str] = typer.Option(None, "--role", help="target | initiator (one side of a two-host run)."),
    local: bool = typer.Option(False, "--local", help="Run both roles here as child processes and restart one."),
    device: str = typer.Option(..., "--device", "-d", help="RDMA device (e.g. rxe0, mlx5_0, erdma_0)."),
    target_device: Optional[str] = typer.Option(None, "--target-device", help="--local: the target's device (default --device)."),
    gid_index: Optional[int] = typer.Option(None, "--gid-index", help="GID index (default: a RoCE v2 GID with an IP)."),
    ib_port: Optional[int] = typer.Option(None, "--ib-port", help="Device port (default: the first ACTIVE one)."),
    name: Optional[str] = typer.Option(None, "--name", help="Logical name (kept across restarts; default: the role)."),
    listen: str = typer.Option("127.0.0.1:18515", "--listen", help="target: handshake address HOST:PORT (explicit; never a silent 0.0.0.0). --dialect mooncake: this side's segment name, both roles."),
    dialect: str = typer.Option("rdmacheck", "--dialect", help="rdmacheck | mooncake: speak Mooncake Transfer Engine's handshake (p2p, oob, with --role only)."),
    peer: Optional[str] = typer.Option(None, "--peer", help="initiator: the target's HOST:PORT."),
    buffer_size: str = typer.Option("64MiB", "--buffer-size", help="target: bytes registered and exposed."),
    length: str = typer.Option("4MiB", "--length", help="initiator: bytes written, verified and read back per round."),
    offset: int = typer.Option(0, "--offset", help="initiator: offset into the target's buffer."),
    strategy: str = typer.Option("auto", "--strategy", help="reset | recreate | auto (recreate on iWARP/eRDMA, reset elsewhere)."),
    mode: str = typer.Option("auto", "--mode", help="oob (QP info over TCP, states set by hand) | cm (rdma_cm) | auto (cm on iWARP)."),
    cm_port: Optional[int] = typer.Option(None, "--cm-port", help="target, cm mode: rdma_cm listen port (default: --listen port + 1)."),
    cm_addr: Optional[str] = typer.Option(None, "--cm-addr", help="cm mode: this device's IP for rdma_cm (default: its netdev's IPv4)."),
    target_netns: Optional[str] = typer.Option(None, "--target-netns", help="--local: run the target in this network namespace (two-host model)."),
    metadata: str = typer.Option("p2p", "--metadata", help="p2p (handshake address given directly) or etcd://HOST:PORT[,HOST:PORT...]."),
    etcd_prefix: str = typer.Option("rdmacheck/", "--etcd-prefix", help="etcd: key prefix."),
    cluster: str = typer.Option("default", "--cluster", help="etcd: keys are <prefix><cluster>/<name>."),
    lease_ttl: int = typer.Option(3, "--lease-ttl", help="etcd: seconds a dead process's key outlives it."),
    etcd_timeout: float = typer.Option(2.0, "--etcd-timeout", help="etcd: deadline of every call."),
    etcd_user: Optional[str] = typer.Option(None, "--etcd-user"),
    etcd_password: Optional[str] = typer.Option(None, "--etcd-password", envvar="RDMACHECK_ETCD_PASSWORD"),
    etcd_ca: Optional[str] = typer.Option(None, "--etcd-ca", help="etcd TLS: CA certificate file."),
    etcd_cert: Optional[str] = typer.Option(None, "--etcd-cert", help="etcd TLS: client certificate file."),
    etcd_key: Optional[str] = typer.Option(None, "--etcd-key", help="etcd TLS: client key file."),
    target_name: str = typer.Option("target", "--target-name", help="initiator with etcd: the target's name to look up and watch."),
    token: Optional[str] = typer.Option(None, "--token", help="Shared secret (>= 16 chars) authenticating every handshake; or $RDMACHECK_TOKEN."),
    token_file: Optional[Path] = typer.Option(None, "--token-file", help="Read the shared secret from this file."),
    inject: Optional[List[str]] = typer.Option(None, "--inject", help="Fault to inject (repeatable): reset-noop, rtr-einval, handshake-drop, handshake-delay:MS, handshake-garble, kill-at:STEP (--local: the restart side dies at STEP and comes back)."),
    restart: str = typer.Option("initiator", "--restart", help="--local: which side is killed and restarted: initiator | target."),
    rounds: int = typer.Option(3, "--rounds", help="--local: restart rounds. initiator role: verified rounds before exiting (0 = until killed)."),
    reconnect_timeout: float = typer.Option(30.0, "--reconnect-timeout", help="Seconds to keep trying the target after it went away."),
    io_timeout: float = typer.Option(30.0, "--io-timeout", help="Seconds for one WRITE/READ/verify step."),
    heartbeat: float = typer.Option(0.5, "--heartbeat", help="initiator: seconds between liveness checks while holding."),
    hold_probe: bool = typer.Option(False, "--hold-probe", help="initiator: also RDMA WRITE 64 B every heartbeat while holding (sees a dead RDMA path under a live control connection)."),
    qp_timeout: int = typer.Option(14, "--qp-timeout", help="QP local ACK timeout exponent (4.096 us * 2^N)."),
    retry_cnt: int = typer.Option(6, "--retry-cnt", help="QP retry count (7 = forever on rxe: avoid)."),
    mtu: Optional[int] = typer.Option(None, "--mtu", help="Path MTU cap in bytes (default: min of both ports)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="--local: write the results file here."),
    log_dir: Optional[Path] = typer.Option(None, "--log-dir", help="--local: where role logs go (default: a temp dir)."),
) -> None:
    """Connect an RC QP, write/verify/read back a pattern, and re-establish after a peer restart."""
    from rdmacheck.handshake.address import parse_hostport
    from rdmacheck.handshake.auth import load_token

    tuning = _tuning(qp_timeout, retry_cnt, mtu)
    faults = _faults(inject)
    secret = load_token(token, token_file)
    if secret and local:  # the roles read it from the environment they inherit
        os.environ["RDMACHECK_TOKEN"] = secret.decode()
    etcd = etcd_config(metadata, etcd_prefix, cluster, lease_ttl, etcd_timeout, etcd_user, etcd_password,
                        etcd_ca, etcd_cert, etcd_key)
    if strategy not in ("reset", "recreate", "auto"):
        raise typer.BadParameter("must be reset, recreate or auto", param_hint="--strategy")
    if mode not in ("oob", "cm", "auto"):
        raise typer.BadParameter("must be oob, cm or auto", param_hint="--mode")
    if local and dialect != "rdmacheck":
        raise typer.BadParameter("--local speaks rdmacheck; for a real engine use `rdmacheck mooncake reestablish`",
                                 param_hint="--dialect")
    if local:
        from rdmacheck.report.render import render_rounds
        from rdmacheck.report.results import PASS, SKIP, CellResult, RunResult, write_json_atomic
        from rdmacheck.scenario.kill import runner_for
        from rdmacheck.scenario.local import LocalPlan, listen_host_for

        if restart not in ("initiator", "target"):
            raise typer.BadParameter("must be initiator or target", param_hint="--restart")
        host, _ = parse_hostport(listen, "--listen")
        plan = LocalPlan(device=device, target_device=target_device, restart=restart, strategy=strategy,
                         rounds=rounds, gid_index=gid_index, host=host,
                         buffer_size=_size(buffer_size, "--buffer-size"), length=_size(length, "--length"),
                         reconnect_timeout=reconnect_timeout, io_timeout=io_timeout, tuning=tuning, log_dir=log_dir,
                         mode=mode, target_netns=target_netns, target_host=listen_host_for(target_netns, host),
                         metadata=metadata, lease_ttl=lease_ttl, inject=faults)
        cell = CellResult(device=device, provider="?", mode=mode, strategy=strategy, restart=restart)
        run = RunResult(command="reestablish --local", cells=[cell])
        try:
            runner_for(plan, on_step=lambda s: err.print(f"[dim]{s}[/]")).run(cell)
            run.finished = True
        finally:
            if json_out:
                write_json_atomic(json_out, run.to_dict())
        if cell.verdict == SKIP:
            err.print(f"SKIP: {cell.skip_reason}", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_ENV)
        render_rounds(cell, out_console())
        raise typer.Exit(0 if cell.verdict == PASS else EXIT_FAIL)
    from rdmacheck.roles.config import RoleConfig
    from rdmacheck.roles.run import run_role

    if role not in ("target", "initiator"):
        raise typer.BadParameter("give --role target|initiator, or --local", param_hint="--role")
    if role == "initiator" and not peer and not etcd:
        raise typer.BadParameter("the initiator needs --peer HOST:PORT (or --metadata etcd://...)", param_hint="--peer")
    if dialect not in ("rdmacheck", "mooncake"):
        raise typer.BadParameter("must be rdmacheck or mooncake", param_hint="--dialect")
    if dialect == "mooncake" and (etcd or faults or secret):
        raise typer.BadParameter("the mooncake dialect has no etcd mode, faults or token here", param_hint="--dialect")
    cfg = RoleConfig(role=role, device=device, name=name or role, strategy=strategy, mode=mode, cm_port=cm_port,
                     cm_addr=cm_addr, gid_index=gid_index,
                     ib_port=ib_port, listen=parse_hostport(listen, "--listen", allow_zero=True)
                     if role == "target" or dialect == "mooncake" else None,
                     peer=parse_hostport(peer, "--peer") if role == "initiator" and peer else None,
                     metadata=etcd, target_name=target_name, token=load_token(token, token_file),
                     inject=faults,
                     buffer_size=_size(buffer_size, "--buffer-size"), length=_size(length, "--length"),
                     offset=offset, rounds=rounds if role == "initiator" else 0,
                     reconnect_timeout=reconnect_timeout, io_timeout=io_timeout, heartbeat=heartbeat, tuning=tuning,
                     hold_probe=hold_probe)
    if dialect == "mooncake":
        from rdmacheck.mooncake.roles import run_mooncake_role

        raise typer.Exit(run_mooncake_role(cfg))
    raise typer.Exit(run_role(cfg))


def _faults(inject: Optional[List[str]]) -> list[str]:
    from rdmacheck.roles.config import check_fault

    try:
        return [check_fault(f) for f in inject or []]
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--inject")


def _csv(value: Optional[str]) -> Optional[list[str]]:
    return [x.strip() for x in value.split(",") if x.strip()] if value else None


def _apply_overrides(sc, devices, modes, strategies, restart, rounds, length, buffer_size):
    from dataclasses import replace

    from rdmacheck.scenario.spec import MODES, RESTARTS, STRATEGIES

    for opt, val, allowed in (("--modes", modes, MODES), ("--strategies", strategies, STRATEGIES),
                              ("--restart", restart, RESTARTS)):
        bad = [v for v in (val or []) if v not in allowed]
        if bad:
            raise typer.BadParameter(f"{bad[0]!r} is not one of {', '.join(allowed)}", param_hint=opt)
    changes = {k: v for k, v in (("devices", devices), ("modes", modes), ("strategies", strategies),
                                 ("restarts", restart), ("rounds", rounds)) if v}
    if devices:
        changes["target_devices"] = []
    if length:
        changes["length"] = _size(length, "--length")
    if buffer_size:
        changes["buffer_size"] = _size(buffer_size, "--buffer-size")
    sc = replace(sc, **changes)
    if sc.length > sc.buffer_size:
        sc = replace(sc, buffer_size=sc.length)
    return sc


def _finish(run, junit: Optional[Path], tone: Optional[Path]) -> None:
    """Render the final table, write the other formats, exit by the expectations."""
    from rdmacheck.report.junit import junit_xml, write_junit
    from rdmacheck.report.matrix_table import render_matrix
    from rdmacheck.report.tone import write_tone

    render_matrix(run, out_console())
    if junit:
        write_junit(junit_xml(run), junit)
    if tone:
        write_tone(run, tone)
    raise typer.Exit(0 if run.all_met() else EXIT_FAIL)


def _run_matrix_here(scenarios, json_out: Path, plain: bool, log_dir: Optional[Path], command: str):
    from rdmacheck.report.progress import make_progress
    from rdmacheck.scenario.matrix import run_matrix
    from rdmacheck.verbs.compat import SYSFS_IB

    if not SYSFS_IB.is_dir() or not any(SYSFS_IB.iterdir()):
        raise EnvironmentProblem("no RDMA device on this host",
                                 hint="run the matrix in the Soft-RDMA lab: add --lab (set up with `rdmacheck lab setup`)")
    try:
        return run_matrix(scenarios, json_out, make_progress(plain), command, log_dir)
    except KeyboardInterrupt:
        err.print(f"interrupted: the results so far are in {json_out}")
        raise typer.Exit(130)


def _run_in_lab_and_load(inner: list[str], json_out: Path, lab_timeout: float):
    """Run `rdmacheck <inner> --json <file>` inside one lab boot; load its results on the host."""
    import json as _json
    import tempfile

    from rdmacheck.lab.vm import VMOptions, run_in_lab
    from rdmacheck.report.results import run_from_dict, write_json_atomic

    json_out = json_out.resolve()
    json_out.parent.mkdir(parents=True, exist_ok=True)
    shared = Path(tempfile.mkdtemp(prefix="rdmacheck-lab-", dir=json_out.parent))
    inner_json = shared / "results.json"
    outcome = run_in_lab(["rdmacheck", *inner, "--json", str(inner_json), "--plain"], lab_paths(None),
                         VMOptions(timeout=lab_timeout, rw=[shared]), out=sys.stderr)
    if not inner_json.exists():
        raise RdmacheckError(f"the lab run wrote no results (guest exit {outcome.exit_code})")
    data = _json.loads(inner_json.read_text())
    write_json_atomic(json_out, data)
    inner_json.unlink()
    shared.rmdir()
    err.print(f"lab: matrix done in {outcome.total_seconds:.1f} s (boot {outcome.boot_seconds or 0:.1f} s); "
              f"results in {json_out}", highlight=False)
    return run_from_dict(data)


MATRIX_HELP = {
    "devices": "Comma list of devices (default: one per provider present).",
    "modes": "Comma list of oob, cm, auto.",
    "strategies": "Comma list of reset, recreate, auto.",
    "restart": "Comma list of initiator, target.",
}


@app.command()
def matrix(
    scenario: str = typer.Option("default", "--scenario", help="Scenario file or built-in name giving grid, sizes, timeouts, expectations."),
    devices: Optional[str] = typer.Option(None, "--devices", help=MATRIX_HELP["devices"]),
    modes: Optional[str] = typer.Option(None, "--modes", help=MATRIX_HELP["modes"]),
    strategies: Optional[str] = typer.Option(None, "--strategies", help=MATRIX_HELP["strategies"]),
    restart: Optional[str] = typer.Option(None, "--restart", help=MATRIX_HELP["restart"]),
    rounds: Optional[int] = typer.Option(None, "--rounds", help="Restart rounds per cell."),
    length: Optional[str] = typer.Option(None, "--length", help="Bytes written and verified per round."),
    buffer_size: Optional[str] = typer.Option(None, "--buffer-size", help="Bytes the target exposes."),
    json_out: Path = typer.Option(Path("results/matrix.json"), "--json", help="Results file (rewritten after every cell)."),
    junit: Optional[Path] = typer.Option(None, "--junit", help="Also write JUnit XML here."),
    tone: Optional[Path] = typer.Option(None, "--tone", help="Also write T-one test_results.json files into this directory."),
    plain: bool = typer.Option(False, "--plain", help="Plain progress lines even on a terminal."),
    lab: bool = typer.Option(False, "--lab", help="Run the whole matrix inside one boot of the Soft-RDMA lab."),
    lab_timeout: float = typer.Option(1800.0, "--lab-timeout", help="With --lab: seconds before the guest is killed."),
    log_dir: Optional[Path] = typer.Option(None, "--log-dir", help="Keep the roles' logs here (one folder per cell)."),
) -> None:
    """Run the grid device x mode x strategy x restart side; show which strategy works where."""
    from rdmacheck.scenario.spec import load_scenario

    sc = _apply_overrides(load_scenario(scenario), _csv(devices), _csv(modes), _csv(strategies), _csv(restart),
                          rounds, length, buffer_size)
    if lab:
        inner = ["matrix", "--scenario", str(Path(scenario).resolve()) if Path(scenario).exists() else scenario]
        for opt, val in (("--devices", devices), ("--modes", modes), ("--strategies", strategies),
                         ("--restart", restart), ("--rounds", rounds), ("--length", length),
                         ("--buffer-size", buffer_size)):
            if val:
                inner += [opt, str(val)]
        run = _run_in_lab_and_load(inner, json_out, lab_timeout)
    else:
        run = _run_matrix_here([sc], json_out, plain, log_dir, "matrix")
    _finish(run, junit, tone)


@app.command("run")
def run_scenarios(
    scenarios: List[str] = typer.Argument(..., help="Scenario files (or built-in names: default, seed, target-restart, quick, clean-exit)."),
    json_out: Path = typer.Option(Path("results/run.json"), "--json", help="Results file."),
    junit: Optional[Path] = typer.Option(None, "--junit", help="Also write JUnit XML here."),
    tone: Optional[Path] = typer.Option(None, "--tone", help="Also write T-one result files here."),
    plain: bool = typer.Option(False, "--plain", help="Plain progress lines even on a terminal."),
    lab: bool = typer.Option(False, "--lab", help="Run inside one boot of the Soft-RDMA lab."),
    lab_timeout: float = typer.Option(1800.0, "--lab-timeout"),
    log_dir: Optional[Path] = typer.Option(None, "--log-dir", help="Keep the roles' logs here."),
) -> None:
    """Run scenario files (every cell of each), then the same table and reports as `matrix`."""
    from rdmacheck.scenario.spec import load_scenario

    loaded = [load_scenario(x) for x in scenarios]  # validate all before running any
    if lab:
        inner = ["run", *[str(Path(x).resolve()) if Path(x).exists() else x for x in scenarios]]
        run = _run_in_lab_and_load(inner, json_out, lab_timeout)
    else:
        run = _run_matrix_here(loaded, json_out, plain, log_dir, "run " + " ".join(scenarios))
    _finish(run, junit, tone)


@app.command()
def report(
    results: Path = typer.Argument(..., help="A results file written by matrix, run or reestablish --local."),
    junit: Optional[Path] = typer.Option(None, "--junit", help="Write JUnit XML here."),
    tone: Optional[Path] = typer.Option(None, "--tone", help="Write T-one result files here."),
) -> None:
    """Re-render a results file (table, JUnit, T-one); exit 0 only if every cell met its expectation."""
    import json as _json

    from rdmacheck.report.results import run_from_dict

    try:
        data = _json.loads(results.read_text())
        run = run_from_dict(data)
    except FileNotFoundError:
        raise EnvironmentProblem(f"{results}: no such results file") from None
    except (ValueError, TypeError) as e:
        raise EnvironmentProblem(f"{results}: not a valid rdmacheck results file: {e}") from None
    _finish(run, junit, tone)


@app.command()
def doctor(
    device: Optional[str] = typer.Option(None, "--device", "-d", help="Only this device."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for machines."),
    deep: bool = typer.Option(False, "--deep", help="Also a live loopback self-test and the reset probe per device."),
    buffer_size: str = typer.Option("64MiB", "--buffer-size", help="Registration size to check memlock and max_mr_size against."),
    metadata: Optional[str] = typer.Option(None, "--metadata", help="Also check this etcd://HOST:PORT: reachable, read latency."),
) -> None:
    """Check this host's RDMA and say how to fix what is wrong. Exit 0 healthy, 1 unhealthy, 2 could not run."""
    from rdmacheck.doctor.checks import HostPaths
    from rdmacheck.doctor.run import healthy, run_doctor
    from rdmacheck.report.doctor_table import render_doctor

    size = _size(buffer_size, "--buffer-size")
    try:
        checks = run_doctor(HostPaths(), size, device, deep, on_step=lambda s: err.print(f"[dim]{s}[/]"),
                            metadata=metadata)
    except RdmacheckError as e:
        raise RdmacheckError(f"doctor could not run: {e}", hint=e.hint, exit_code=EXIT_ENV) from None
    if as_json:
        print(json.dumps({"healthy": healthy(checks), "checks": [c.to_dict() for c in checks]}, indent=2))
    else:
        render_doctor(checks, out_console())
    raise typer.Exit(0 if healthy(checks) else EXIT_FAIL)


@app.command()
def soak(
    device: str = typer.Option(..., "--device", "-d", help="RDMA device."),
    rounds: int = typer.Option(50, "--rounds", help="Restart rounds."),
    restart: str = typer.Option("initiator", "--restart", help="initiator | target."),
    strategy: str = typer.Option("auto", "--strategy", help="reset | recreate | auto."),
    mode: str = typer.Option("auto", "--mode", help="oob | cm | auto."),
    length: str = typer.Option("64KiB", "--length", help="Bytes written and verified per round."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the samples and the verdict here."),
    log_dir: Optional[Path] = typer.Option(None, "--log-dir", help="Keep the roles' logs here."),
) -> None:
    """Restart rounds in a loop; fail if RDMA objects (rdma resource show) or the survivor's RSS grow."""
    from rdmacheck.report.results import write_json_atomic
    from rdmacheck.scenario.local import LocalPlan
    from rdmacheck.scenario.soak import run_soak

    if restart not in ("initiator", "target"):
        raise typer.BadParameter("must be initiator or target", param_hint="--restart")
    plan = LocalPlan(device=device, restart=restart, strategy=strategy, mode=mode, rounds=rounds,
                     buffer_size=max(1 << 20, _size(length, "--length")), length=_size(length, "--length"),
                     log_dir=log_dir)
    res = run_soak(plan, on_step=lambda s: err.print(f"[dim]{s}[/]", highlight=False))
    if json_out:
        write_json_atomic(json_out, res.to_dict())
    first, last = res.samples[0] if res.samples else None, res.samples[-1] if res.samples else None
    if first and last:
        print(f"objects after round {first.round}: {first.counts}; after round {last.round}: {last.counts}")
        print(f"survivor RSS: {first.survivor_rss_kib} KiB -> {last.survivor_rss_kib} KiB")
    print(f"{res.verdict}: {res.reason} ({res.cell.duration_s:.1f} s; logs: {res.cell.logs})")
    raise typer.Exit(0 if res.verdict == "PASS" else EXIT_FAIL)


@app.command()
def simopen(
    role: Optional[str] = typer.Option(None, "--role", help="peer: one side of a two-host run (default: both sides here)."),
    device: str = typer.Option(..., "--device", "-d", help="RDMA device."),
    endpoints: int = typer.Option(64, "--endpoints", help="Endpoints each side opens to the other."),
    rounds: int = typer.Option(5, "--rounds", help="Open / verify / tear down rounds."),
    passive_policy: str = typer.Option("reuse", "--passive-policy", help="reuse (the fix) | delete (the old bug: the passive side deletes a half-open endpoint)."),
    callers: int = typer.Option(2, "--callers", help="Callers asking for each endpoint at once (all but one must wait)."),
    concurrency: int = typer.Option(16, "--concurrency", help="Dialing threads per side."),
    connect_timeout: float = typer.Option(30.0, "--connect-timeout", help="Per round: an endpoint not connected by then is a hang."),
    io_timeout: float = typer.Option(5.0, "--io-timeout", help="Seconds for each endpoint's verified WRITE."),
    name: Optional[str] = typer.Option(None, "--name", help="--role peer: this side's name."),
    listen: str = typer.Option("127.0.0.1:18600", "--listen", help="--role peer: handshake address HOST:PORT."),
    peer: Optional[str] = typer.Option(None, "--peer", help="--role peer: the other side's HOST:PORT."),
    gid_index: Optional[int] = typer.Option(None, "--gid-index", help="GID index (default: a RoCE v2 GID with an IP)."),
    qp_timeout: int = typer.Option(14, "--qp-timeout", help="QP local ACK timeout exponent."),
    retry_cnt: int = typer.Option(6, "--retry-cnt", help="QP retry count."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the results file here."),
    log_dir: Optional[Path] = typer.Option(None, "--log-dir", help="Where the peers' logs go (default: a temp dir)."),
) -> None:
    """Both sides open N endpoints to each other at the same instant; 0 hangs, 0 duplicates, 0 leaks, data verified."""
    from rdmacheck.simopen.manager import POLICIES

    if passive_policy not in POLICIES:
        raise typer.BadParameter(f"must be one of {', '.join(POLICIES)}", param_hint="--passive-policy")
    if not 1 <= endpoints <= 4096:
        raise typer.BadParameter("must be 1..4096", param_hint="--endpoints")
    tuning = _tuning(qp_timeout, retry_cnt, None)
    if role == "peer":
        from rdmacheck.handshake.address import parse_hostport
        from rdmacheck.simopen.peer import SimopenConfig, run_peer

        if not peer or not name:
            raise typer.BadParameter("a peer needs --name and --peer HOST:PORT", param_hint="--peer")
        raise typer.Exit(run_peer(SimopenConfig(
            name=name, device=device, listen=parse_hostport(listen, "--listen", allow_zero=True),
            peer=parse_hostport(peer, "--peer"), endpoints=endpoints, rounds=rounds, policy=passive_policy,
            callers=callers, concurrency=concurrency, connect_timeout=connect_timeout, io_timeout=io_timeout,
            gid_index=gid_index, tuning=tuning)))
    if role is not None:
        raise typer.BadParameter("must be peer (or leave it out to run both sides here)", param_hint="--role")
    from rdmacheck.report.results import write_json_atomic
    from rdmacheck.report.simopen import render_simopen
    from rdmacheck.simopen.launch import SimopenPlan, run_simopen

    plan = SimopenPlan(device=device, endpoints=endpoints, rounds=rounds, policy=passive_policy, callers=callers,
                       concurrency=concurrency, connect_timeout=connect_timeout, io_timeout=io_timeout,
                       log_dir=log_dir, tuning=tuning)
    res = run_simopen(plan, on_step=lambda s: err.print(f"[dim]{s}[/]", highlight=False))
    if json_out:
        write_json_atomic(json_out, res.to_dict())
    if res.error and not res.rounds:  # nothing ran (no device, no RDMA): one line, exit 2
        err.print(f"error: {res.error}", highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_ENV)
    render_simopen(res, out_console())
    raise typer.Exit(0 if res.verdict == "PASS" else EXIT_FAIL)


@app.command()
def bench(
    device: str = typer.Option(..., "--device", "-d", help="RDMA device (this side: the initiator)."),
    peer: Optional[str] = typer.Option(None, "--peer", help="A running `reestablish --role target` HOST:PORT (default: start one here)."),
    target_device: Optional[str] = typer.Option(None, "--target-device", help="The local target's device (default --device)."),
    strategy: str = typer.Option("both", "--strategy", help="Re-establishment cost of: reset | recreate | both."),
    iters: int = typer.Option(1000, "--iters", help="Latency samples per operation."),
    size: str = typer.Option("64KiB", "--size", help="Bandwidth: bytes per operation."),
    depth: int = typer.Option(16, "--depth", help="Bandwidth: operations in flight (1..128)."),
    rounds: int = typer.Option(20, "--rounds", help="Re-establishment rounds per strategy."),
    verify: bool = typer.Option(False, "--verify", help="Have the target verify the data the bandwidth WRITEs left."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the figures here."),
    log_dir: Optional[Path] = typer.Option(None, "--log-dir", help="Where the local target's log goes."),
) -> None:
    """Latency (64 B WRITE/READ), pipelined bandwidth, and the cost of re-establishment per step."""
    from rdmacheck.bench.run import Bench, BenchPlan
    from rdmacheck.handshake.address import parse_hostport
    from rdmacheck.report.bench import bench_dict, render_bench
    from rdmacheck.report.results import write_json_atomic

    if strategy not in ("reset", "recreate", "both"):
        raise typer.BadParameter("must be reset, recreate or both", param_hint="--strategy")
    if not 1 <= depth <= 128:
        raise typer.BadParameter("must be 1..128 (the send queue depth)", param_hint="--depth")
    if iters < 1 or rounds < 1:
        raise typer.BadParameter("--iters and --rounds must be at least 1")
    plan = BenchPlan(device=device, peer=parse_hostport(peer, "--peer") if peer else None,
                     target_device=target_device,
                     strategies=("reset", "recreate") if strategy == "both" else (strategy,), iters=iters,
                     size=_size(size, "--size"), depth=depth, rounds=rounds, verify=verify, log_dir=log_dir)
    res = Bench(plan, on_step=lambda s: err.print(f"[dim]{s}[/]", highlight=False)).run()
    if json_out:
        write_json_atomic(json_out, bench_dict(res))
    render_bench(res, out_console())


def _save_traceback() -> str:
    import tempfile  # noqa: PLC0415
    import traceback  # noqa: PLC0415

    fd, path = tempfile.mkstemp(prefix="rdmacheck-internal-error-", suffix=".txt")
    with os.fdopen(fd, "w") as f:
        f.write(f"rdmacheck {__version__}: {' '.join(sys.argv)}\n")
        traceback.print_exc(file=f)
    return path


def main() -> None:
    try:
        rc = app(standalone_mode=False)
    except RdmacheckError as e:
        err.print(f"rdmacheck: error: {e}", highlight=False, markup=False, soft_wrap=True)
        if e.hint:
            err.print(f"hint: {e.hint}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("rdmacheck: interrupted")
        sys.exit(130)
    except Exception as e:
        # Usage errors come from the click that typer ships (vendored in newer typer): duck-type them.
        if hasattr(e, "show") and isinstance(getattr(e, "exit_code", None), int):
            e.show()
            sys.exit(e.exit_code)
        # A bug: one line here, the traceback in a file for the report (results already written stay).
        path = _save_traceback()
        err.print(f"rdmacheck: internal error: {type(e).__name__}: {e}", highlight=False, markup=False, soft_wrap=True)
        err.print(f"hint: the traceback is in {path}; please attach it to a bug report", highlight=False,
                  markup=False, soft_wrap=True)
        sys.exit(EXIT_INTERNAL)
    sys.exit(rc if isinstance(rc, int) else 0)
