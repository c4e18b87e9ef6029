"""`rdmacheck mooncake ...`: operator commands for Mooncake Transfer Engine deployments."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Optional

import typer

from rdmacheck.errors import EXIT_ENV, EXIT_FAIL, EnvironmentProblem
from rdmacheck.report.console import out_console

mooncake_app = typer.Typer(no_args_is_help=True, help="Test a Mooncake Transfer Engine deployment: probe, segments, reestablish.")
WHEEL = "mooncake-transfer-engine-non-cuda==0.3.13.post1"


def _device_ip(device: str) -> str:
    from rdmacheck.verbs.devices import list_devices

    ip = list_devices(only=device)[0].netdev_ipv4()
    if ip is None:
        raise EnvironmentProblem(f"{device} has no IPv4 address in this network namespace; give --host")
    return ip


@mooncake_app.command("probe")
def probe_cmd(
    address: str = typer.Argument(..., help="The engine's handshake address HOST:PORT (its P2P name)."),
    timeout: float = typer.Option(5.0, "--timeout", help="Seconds for each request."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of tables."),
) -> None:
    """Send a Probe and a Metadata request to a running engine; print and check its segment descriptor."""
    from rdmacheck.handshake.address import parse_hostport
    from rdmacheck.mooncake.probe import probe
    from rdmacheck.report.mooncake import render_probe
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
    raise typer.Exit(0 if res.verdict == "PASS" else EXIT_ENV if res.segment is None else EXIT_FAIL)


@mooncake_app.command("segments")
def segments_cmd(
    metadata: str = typer.Option(..., "--metadata", help="etcd://HOST:PORT[,HOST:PORT...] the engines use."),
    cluster_id: str = typer.Option("", "--cluster-id", help="MC_METADATA_CLUSTER_ID, if the cluster sets one."),
    timeout: float = typer.Option(2.0, "--etcd-timeout", help="Seconds for etcd to answer."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List mooncake/ram/* descriptors with their rpc_meta address, age, and whether the engine still answers."""
    from rdmacheck.metadata.etcd import parse_metadata_url
    from rdmacheck.mooncake.segments import list_segments
    from rdmacheck.report.mooncake import render_segments

    endpoints = parse_metadata_url(metadata)
    if endpoints is None:
        raise typer.BadParameter("needs etcd://HOST:PORT", param_hint="--metadata")
    rows = list_segments(endpoints, cluster_id, timeout)
    if json_out:
        print(json.dumps([r.to_dict() for r in rows], indent=2))
    else:
        render_segments(rows, out_console())
    raise typer.Exit(0 if all(r.alive.startswith("alive") for r in rows) else EXIT_FAIL)


@mooncake_app.command("reestablish")
def reestablish_cmd(
    device: str = typer.Option(..., "--device", "-d", help="RDMA device both sides use."),
    host: Optional[str] = typer.Option(None, "--host", help="IP both sides name themselves by (default: the device's IPv4)."),
    engine_role: str = typer.Option("target", "--engine-role", help="target: the engine serves, rdmacheck's initiator restarts | initiator: the engine's initiator restarts, rdmacheck serves."),
    restart: str = typer.Option("initiator", "--restart", help="The side killed and restarted each round: initiator (the seed test) | target (what the engine does when its peer dies)."),
    rounds: int = typer.Option(3, "--rounds", help="Rounds; each starts the restarted side afresh: write, target verify, read back."),
    engine_transfer_timeout: int = typer.Option(10, "--engine-transfer-timeout", help="MC_TRANSFER_TIMEOUT for the engine: seconds a sync transfer may block."),
    length: str = typer.Option("1MiB", "--length", help="Bytes per round."),
    initiator_port: int = typer.Option(17100, "--initiator-port", help="The initiator's pinned handshake port: its name across restarts."),
    target_port: int = typer.Option(17200, "--target-port", help="The target's pinned handshake port."),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds for each step (start, write, verify, read)."),
    log_dir: Path = typer.Option(Path("rdmacheck-logs/mooncake"), "--log-dir", help="Both sides' logs (the engine's glog lines included)."),
    json_path: Optional[Path] = typer.Option(None, "--json", help="Write the results file here."),
    junit: Optional[Path] = typer.Option(None, "--junit", help="JUnit XML: one testcase per round."),
    tone: Optional[Path] = typer.Option(None, "--tone", help="T-one results: DIR/test_results.json and DIR/round-N/test_results.json."),
) -> None:
    """The seed's scenario against a real engine: restart a side under the same name N times, verify each round."""
    from rdmacheck.mooncake.reestablish import MooncakePlan, run_mooncake
    from rdmacheck.report.junit import mooncake_junit_xml, write_junit
    from rdmacheck.report.mooncake import render_mooncake
    from rdmacheck.report.results import write_json_atomic
    from rdmacheck.report.tone import write_mooncake_tone
    from rdmacheck.units import parse_size

    for value, hint in ((engine_role, "--engine-role"), (restart, "--restart")):
        if value not in ("target", "initiator"):
            raise typer.BadParameter("must be target or initiator", param_hint=hint)
    if importlib.util.find_spec("mooncake") is None:
        raise EnvironmentProblem(f"the Mooncake engine is not installed: pip install 'rdmacheck[mooncake]' ({WHEEL})")
    plan = MooncakePlan(host=host or _device_ip(device), device=device, engine_role=engine_role, restart=restart, rounds=rounds,
                        engine_transfer_timeout=engine_transfer_timeout,
                        length=parse_size(length), initiator_port=initiator_port, target_port=target_port,
                        step_timeout=timeout, log_dir=log_dir)
    res = run_mooncake(plan)
    if json_path:
        write_json_atomic(json_path, res.to_dict())
    if junit:
        write_junit(mooncake_junit_xml(res), junit)
    if tone:
        write_mooncake_tone(res, tone)
    render_mooncake(res, out_console())
    raise typer.Exit(0 if res.verdict == "PASS" else EXIT_FAIL)
