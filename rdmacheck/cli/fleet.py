"""`rdmacheck fleet agent|run`: every pair of hosts of a cluster, coordinated through etcd."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Optional

import typer

from rdmacheck.cli import options as o
from rdmacheck.cli.app import app
from rdmacheck.cli.finish import check_outputs, finish
from rdmacheck.errors import RdmacheckError
from rdmacheck.output.console import err
from rdmacheck.output.write import write_outputs
from rdmacheck.words import Mode, Strategy

fleet_app = typer.Typer(no_args_is_help=True, help="Check every pair of hosts: one agent per host, one coordinator, etcd between them.")
app.add_typer(fleet_app, name="fleet")


def say_plain(line: str) -> None:
    """An agent's line: plain text to stderr (its log under srun or kubectl; no rich to import, no markup)."""
    print(line, file=sys.stderr, flush=True)


@fleet_app.command("agent")
@o.etcd_required_options
@o.token_options
def agent_cmd(
    device: str = typer.Option(..., "--device", "-d", help="RDMA device, or auto: the first with an IPv4 address in this network namespace."),
    name: Optional[str] = typer.Option(None, "--name", help="This host's name in the fleet (default: the hostname; under Slurm: SLURMD_NODENAME)."),
    address: Optional[str] = typer.Option(None, "--address", help="IPv4 its targets listen on (default: the device's)."),
    join_timeout: float = typer.Option(120.0, "--join-timeout", help="Seconds to wait for etcd and for the coordinator."),
    log_dir: Path = typer.Option(Path("rdmacheck-logs/fleet"), "--log-dir", help="Role logs per round: DIR/<name>/roundN/."),
    *, etcd=None, token=None,
) -> None:
    """Register this host, follow the coordinator's rounds, run this host's side of each pair; exit at the end."""
    from rdmacheck.fleet.agent import Agent, AgentConfig

    if device != "auto":
        o.require_devices(device)
    if address is None:
        from rdmacheck.verbs.devices import device_ipv4

        dev = device_ipv4(device, "--address")
        device, ip, provider = dev.name, dev.netdev_ipv4(), dev.provider
    elif device == "auto":
        raise typer.BadParameter("-d auto finds the device by its address here; with --address give the device",
                                 param_hint="--address")
    else:
        ip, provider = address, "?"
    host = name or os.environ.get("SLURMD_NODENAME") or socket.gethostname()
    cfg = AgentConfig(host=host, device=device, address=ip, etcd=etcd, provider=provider, join_timeout=join_timeout,
                      log_dir=log_dir / host, token=token)
    raise typer.Exit(Agent(cfg, say=say_plain).run())


# A pair setting -> the option that gives it (what an agent would refuse is refused here, naming the option).
SETTING_OPTIONS = {"restarts": "--restarts", "length": "--length", "buffer_size": "--length",
                   "start_timeout": "--start-timeout", "round_timeout": "--pair-timeout"}


def _check_settings(settings, join_timeout: float, retest_rounds: int, hosts: list[str]) -> None:
    """Before anything starts: every pair setting an agent would act on, the waits, the names."""
    from rdmacheck.fleet.schemas import is_host_name

    if settings.restarts < 1:
        raise typer.BadParameter("at least 1: a pair test with no restart checks no re-establishment",
                                 param_hint="--restarts")
    for name, problem in settings.field_problems():
        raise typer.BadParameter(problem, param_hint=SETTING_OPTIONS.get(name, "--" + name.replace("_", "-")))
    if not 0 < join_timeout <= 24 * 3600:
        raise typer.BadParameter(f"{join_timeout:g} is not a wait in seconds (0, 86400]", param_hint="--join-timeout")
    if retest_rounds < 0:
        raise typer.BadParameter("0 or more rounds", param_hint="--retest-rounds")
    bad = next((h for h in hosts if not is_host_name(h)), None)
    if bad is not None:
        raise typer.BadParameter(f"{bad!r} is not a host name (letters, digits, '.', '_', '-'; it names the "
                                 "agent's keys)", param_hint="--hosts")


def _seconds(text: str, option: str) -> float:
    """600, 90s, 10m, 1h: seconds, at least 1."""
    units = {"s": 1, "m": 60, "h": 3600}
    num, unit = (text[:-1], units[text[-1]]) if text and text[-1] in units else (text, 1)
    try:
        value = float(num) * unit
    except ValueError:
        value = 0.0
    if not 1 <= value <= 7 * 24 * 3600:
        raise typer.BadParameter(f"{text!r} is not a duration from 1 s to 7 days (600, 90s, 10m, 1h)",
                                 param_hint=option)
    return value


def _coordinate(plan, etcd, join_timeout: float, json_path, junit, tone, prom, html, embedded: bool = False,
                history=None):
    """Connect, run the coordinator, write every finished round on Ctrl-C or an error, and say so. With the
    run's own etcd, it is kept until the agents have left (each revokes its registration once it has read
    the run's end), so none is cut off from the end by its etcd going away."""
    from rdmacheck.fleet.coordinator import Coordinator
    from rdmacheck.fleet.round_files import RoundFiles
    from rdmacheck.fleet.store import FleetStore

    # The coordinator's etcd is up before it runs (or rdmacheck started it): nothing listening is an error now.
    store = FleetStore.connect(etcd, wait=join_timeout, refused_for=2.0,
                               say=lambda s: err.print(f"fleet: {s}", soft_wrap=True))
    def on_run(res, last: bool) -> None:
        """As a service: each run's summary in the history, and (but the last, which finish writes) its files
        and lines."""
        if history is None:
            return
        for line in history.add(res):
            err.print(line, highlight=False, soft_wrap=True)
        if not last:
            from rdmacheck.fleet.render import render_fleet

            from rdmacheck.output.console import out_console

            write_outputs(res, json_path, junit, tone, prom, html)
            render_fleet(res, out_console())

    coordinator = Coordinator(plan, store, say=lambda s: err.print(s, highlight=False, soft_wrap=True),
                              on_round=RoundFiles(json_path, junit, tone, prom, html), on_run=on_run)
    try:
        res = coordinator.run()
        if embedded:
            from rdmacheck.fleet.embedded import await_agents_left

            await_agents_left(store, etcd.ttl + 5.0)
        return res
    except KeyboardInterrupt:  # every finished round is in the files: say so, exit 130
        write_outputs(coordinator.result, json_path, junit, tone, prom, html)
        err.print(f"interrupted: the {len(coordinator.result.rounds)} finished round(s) are in {json_path}",
                  highlight=False)
        raise typer.Exit(130)
    except RdmacheckError as e:  # etcd away past the store's patience, or another run's claim
        write_outputs(coordinator.result, json_path, junit, tone, prom, html)
        raise RdmacheckError(f"{e} (the {len(coordinator.result.rounds)} finished round(s) are in {json_path})",
                             hint=e.hint, exit_code=e.exit_code) from None
    finally:
        store.close()


@fleet_app.command("run")
@o.etcd_or_embedded_options
def run_cmd(
    hosts: Optional[str] = typer.Option(None, "--hosts", help="Comma-separated agent names to wait for."),
    expect: Optional[int] = typer.Option(None, "--expect", help="Or: how many agents to wait for (any names)."),
    pairing: str = typer.Option("all", "--pairing", help="all | ring | bisection | random:K | file:PATH (ClusterKit's <round> <a> <b> lines)."),
    seed: int = typer.Option(0, "--seed", help="random:K: the seed."),
    restarts: int = typer.Option(1, "--restarts", help="Per pair: times the initiator is SIGKILLed and restarted, verified after each."),
    mode: Mode = o.MODE,
    strategy: Strategy = o.STRATEGY,
    length: str = typer.Option("1MiB", "--length", help="Bytes written and verified per write."),
    start_timeout: float = typer.Option(30.0, "--start-timeout", help="Seconds for a role to start."),
    pair_timeout: float = typer.Option(30.0, "--pair-timeout", help="Seconds for each verified write of a pair."),
    join_timeout: float = typer.Option(120.0, "--join-timeout", help="Seconds to wait for the agents; the missing are named, their pairs host-down."),
    retest_rounds: int = typer.Option(2, "--retest-rounds", help="Extra rounds pairing undecided hosts with new partners."),
    no_measure: bool = typer.Option(False, "--no-measure", help="Skip the link measurement (by default, after its last verified write, each pair measures 64 B READ latency and WRITE and READ bandwidth on that QP)."),
    slow_if: str = typer.Option("mad:3.5", "--slow-if", help="How measured links are judged slow: mad[:Z] (worse than the run's median by Z scaled MADs and by 2x) | clusterkit (latency over 2.1x the minimum, bandwidth under 93% of the maximum)."),
    every: Optional[str] = typer.Option(None, "--every", help="Run as a service: a new run this long after the last one started (e.g. 600, 90s, 10m, 1h), the agents staying registered; each run's files rewritten, its summary appended to --history."),
    runs: Optional[int] = typer.Option(None, "--runs", help="--every: stop after N runs (default: until Ctrl-C)."),
    history: Optional[Path] = typer.Option(None, "--history", help="--every: the history file, one JSON line per run (default results/fleet-history.jsonl); a host or link whose state changed across the last 5 runs is named flapping."),
    launch: str = typer.Option("none", "--launch", help="none: agents are started by anything else | slurm: one per node of this allocation via srun."),
    agent_device: Optional[str] = typer.Option(None, "--agent-device", help="--launch slurm: the device each agent tests (auto: each node's first device with an IPv4)."),
    json_path: Optional[Path] = typer.Option(Path("results/fleet.json"), "--json", help="The results file."),
    junit: Optional[Path] = o.JUNIT,
    tone: Optional[Path] = o.TONE,
    prom: Optional[Path] = typer.Option(None, "--prom", help="node_exporter textfile: per-pair verdict and reconnect time."),
    html: Optional[Path] = typer.Option(None, "--html", help="One self-contained HTML page: the host x host heatmap, bad hosts and links first, a search box."),
    etcd_listen: Optional[str] = typer.Option(None, "--etcd-listen", help="--metadata embedded: ADDRESS[:PORT] the run's etcd serves on, an IPv4 every agent reaches (default: this host's default-route address, port 2379)."),
    *, etcd=None,
) -> None:
    """The coordinator: wait for the agents, publish the rounds, collect and isolate; exit 0 when the fleet is
    healthy. By default it starts its own etcd for the run and prints the line each host's agent runs."""
    from rdmacheck.fleet.coordinator import FleetPlan
    from rdmacheck.fleet.launch import LAUNCHERS, agent_etcd_args, slurm_agents
    from rdmacheck.fleet.protocol import PairSettings
    from rdmacheck.fleet.render import render_fleet

    check_outputs(json_path, junit, tone, prom, html)
    if launch not in LAUNCHERS:
        raise typer.BadParameter(f"choose from {', '.join(LAUNCHERS)}", param_hint="--launch")
    if launch != "slurm" and agent_device:
        raise typer.BadParameter("applies to --launch slurm only", param_hint="--agent-device")
    if launch == "slurm" and not agent_device:
        raise typer.BadParameter("--launch slurm needs the device each agent tests", param_hint="--agent-device")
    if (hosts is None) == (expect is None) and launch != "slurm":
        raise typer.BadParameter("give --hosts NAMES or --expect N (not both)", param_hint="--hosts")
    if launch == "slurm" and (hosts or expect):
        raise typer.BadParameter("--launch slurm waits for one agent per node of the allocation", param_hint="--hosts")
    settings = PairSettings(mode=mode.value, strategy=strategy.value, restarts=restarts, length=o.size(length, "--length"),
                            buffer_size=max(4 << 20, o.size(length, "--length")), start_timeout=start_timeout,
                            round_timeout=pair_timeout, measure=not no_measure)
    if no_measure:
        o.refuse_given(["slow_if"], "with --no-measure: nothing is measured to judge")
    from rdmacheck.fleet.slowness import SlowRule

    SlowRule.parse(slow_if)  # before anything starts
    every_s = None
    if every is None:
        o.refuse_given(["runs", "history"], "without --every: one run is one run")
    else:
        every_s = _seconds(every, "--every")
        if runs is not None and runs < 1:
            raise typer.BadParameter("at least 1 run", param_hint="--runs")
    _check_settings(settings, join_timeout, retest_rounds, o.csv(hosts) or [])
    from rdmacheck.fleet.schedule import Pairing

    parsed = Pairing.parse(pairing)  # before anything starts
    if o.given("seed") and parsed.kind != "random":
        raise typer.BadParameter("applies to --pairing random:K only", param_hint="--seed")
    if expect is not None and expect < 2:
        raise typer.BadParameter("a fleet needs at least 2 agents: with fewer no pair is tested", param_hint="--expect")
    if hosts is not None and len(set(o.csv(hosts) or [])) < 2:
        raise typer.BadParameter("name at least 2 distinct agents: with fewer no pair is tested", param_hint="--hosts")
    if etcd.endpoints and etcd_listen:
        raise typer.BadParameter("applies to --metadata embedded only", param_hint="--etcd-listen")
    if not etcd.endpoints:
        from rdmacheck.fleet.embedded import parse_listen

        parse_listen(etcd_listen)  # before anything starts
    embedded = None
    srun = None
    try:
        if not etcd.endpoints:  # the run's own etcd: started here, stopped at the end
            from rdmacheck.fleet.embedded import EmbeddedEtcd

            embedded = EmbeddedEtcd.start(etcd, etcd_listen)
            etcd = embedded.cfg
            err.print(f"fleet: etcd for this run at {etcd.shown()} (stopped at its end)"
                      + ("" if launch == "slurm" else f"; on each host run: {embedded.agent_line()}"), soft_wrap=True)
        if launch == "slurm":
            etcd_args, env = agent_etcd_args(etcd, join_timeout)
            srun, expect = slurm_agents(agent_device, etcd_args, Path("rdmacheck-logs/fleet/srun.log"), env)
        plan = FleetPlan(expect=o.csv(hosts) if hosts else expect, pairing=parsed, seed=seed, settings=settings,
                         join_timeout=join_timeout, retest_rounds=retest_rounds, slow_if=slow_if, every=every_s,
                         runs=runs or 0)
        from rdmacheck.fleet.history import History

        log = History(history or Path("results/fleet-history.jsonl")) if every_s else None
        res = _coordinate(plan, etcd, join_timeout, json_path, junit, tone, prom, html, embedded is not None, log)
    finally:
        if srun is not None:
            try:
                srun.wait(timeout=60)
            except subprocess.TimeoutExpired:
                srun.terminate()
        if embedded is not None:
            embedded.stop()
    # A service ends healthy only with its last run healthy and nothing flapping across its last runs.
    finish(res, render_fleet, json_path, junit, tone, prom, html, ok=res.ok and (log is None or log.steady))
