"""`engines matrix` and its preset `mooncake matrix`: one parameter list, one run (the matrix is
rdmacheck/enginematrix); a preset only narrows the engines and scenarios and names the command."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import typer

from rdmacheck.cli import options as o
from rdmacheck.cli.finish import check_outputs, finish
from rdmacheck.errors import BadInput, EnvironmentProblem
from rdmacheck.output.console import out_console


# Options that set some scenarios' cells only. The engines' own transfer limit is not given to race cells: their
# watchdog (--hang-after) is what tells a hang, and a transfer timed out first would hide it.
SCENARIO_OPTIONS = ((("endpoints", "answer_timeout"), ("simopen",)),
                    (("race_trials", "race_threads", "hang_after"), ("race",)),
                    (("engine_transfer_timeout",), ("restart-initiator", "restart-target", "simopen", "etcd-restart",
                                                    "remove-readd", "remove-readd-inflight", "dead-peer",
                                                    "dead-peer-errmode-none", "next-peer", "stale-descriptor")),
                    (("dead_peer_timeout",), ("dead-peer", "dead-peer-errmode-none")),
                    (("inflight_rounds",), ("remove-readd-inflight",)))


@dataclass(frozen=True)
class Preset:
    command: str  # what the table's title says
    kinds: tuple[str, ...]  # the engine kinds it runs (empty: every kind)
    engines_help: str
    log_dir: Path


ENGINES = Preset("engines matrix", (), "Comma-separated kind==release (default: every release installed, of every kind).",
                 Path("rdmacheck-logs/engines-matrix"))
MOONCAKE = Preset("mooncake matrix", ("mooncake",), "Comma-separated Mooncake releases or engine Pythons (default: "
                  "every release set-up installed).", Path("rdmacheck-logs/mooncake-matrix"))


def _scenarios_of(preset: Preset) -> tuple[str, ...]:
    from rdmacheck.enginematrix.cells import applies
    from rdmacheck.enginematrix.plan import SCENARIOS

    if not preset.kinds:
        return SCENARIOS
    return tuple(s for s in SCENARIOS if any(s in applies(k) for k in preset.kinds))


def _picked(preset: Preset, engines: Optional[str]) -> list:
    from rdmacheck.engines.catalog import engine_for, installed

    picked = [engine_for(e) for e in o.csv(engines)] if engines else installed()
    if preset.kinds:
        other = [e.label for e in picked if e.kind not in preset.kinds]
        if other and engines:
            raise BadInput(f"--engines: {preset.command} runs {', '.join(preset.kinds)} only, not {', '.join(other)} "
                           "(rdmacheck engines matrix runs every kind)")
        picked = [e for e in picked if e.kind in preset.kinds]
    return picked


def run_matrix(preset: Preset, engines: Optional[str], device: str, scenarios: Optional[str], host: Optional[str],
               json_path: Optional[Path], junit: Optional[Path], tone: Optional[Path], quiet: bool,
               etcd: Optional[str], **plan) -> None:
    """Check every input, run, render, write, exit by the judgement."""
    from rdmacheck.enginematrix.cells import applies
    from rdmacheck.enginematrix.plan import EngineMatrixPlan
    from rdmacheck.enginematrix.render import cell_line, render_engine_matrix
    from rdmacheck.enginematrix.run import run_engine_matrix
    from rdmacheck.engines.catalog import adapter
    from rdmacheck.verbs.devices import device_ipv4, is_iwarp_device

    allowed = _scenarios_of(preset)
    chosen = tuple(o.csv(scenarios) or allowed)
    bad = [s for s in chosen if s not in allowed]
    if bad:
        raise typer.BadParameter(f"unknown scenario {bad[0]!r} (choose from {', '.join(allowed)})", param_hint="--scenarios")
    picked = _picked(preset, engines)
    if not picked:
        raise EnvironmentProblem("no engine release installed: rdmacheck engines install KIND==RELEASE")
    runs = {s for e in picked for s in chosen if s in applies(e.kind)}
    if not runs:
        raise typer.BadParameter(f"none of {', '.join(chosen)} applies to {', '.join(e.label for e in picked)}",
                                 param_hint="--scenarios")
    if etcd and "etcd-restart" not in runs:
        raise typer.BadParameter("--etcd applies to the etcd-restart scenario only (Mooncake's)", param_hint="--etcd")
    for names, scenarios in SCENARIO_OPTIONS:  # an option no planned cell uses is refused, never ignored
        if not runs & set(scenarios):
            o.refuse_given(names, f"to the cells planned ({', '.join(sorted(runs))}): it sets {', '.join(scenarios)} "
                                  "cells")
    if o.given("inflight_rounds") and plan["inflight_rounds"] > plan["rounds"]:
        raise typer.BadParameter(f"{plan['inflight_rounds']} rounds with a WRITE in flight cannot be shown in "
                                 f"--rounds {plan['rounds']}", param_hint="--inflight-rounds")
    plan["inflight_rounds"] = min(plan["inflight_rounds"], plan["rounds"])
    check_outputs(json_path, junit, tone)
    o.require_devices(device)
    if is_iwarp_device(device):
        no = [e.label for e in picked if not adapter(e).iwarp]
        if no:
            raise typer.BadParameter(f"{device} is iWARP and {', '.join(no)} cannot run there (UCX has no iWARP "
                                     "transport)", param_hint="--device")
    console = out_console()
    mp = EngineMatrixPlan(picked, host or device_ipv4(device).netdev_ipv4(), device, chosen, etcd=etcd,
                          command=preset.command,
                          on_cell=(lambda c: None) if quiet else (lambda c: console.print(cell_line(c), highlight=False,
                                                                                          markup=False)),
                          **plan)
    finish(run_engine_matrix(mp), render_engine_matrix, json_path, junit, tone)


def matrix_command(preset: Preset) -> Callable[..., None]:
    """The matrix command of a preset: the same options everywhere, the preset's defaults and help."""
    scenario_list = ", ".join(_scenarios_of(preset))

    def matrix_cmd(
        device: str = o.DEVICE,
        engines: Optional[str] = typer.Option(None, "--engines", help=preset.engines_help),
        scenarios: Optional[str] = typer.Option(None, "--scenarios", help=f"Comma-separated subset of {scenario_list} (each runs where it applies)."),
        host: Optional[str] = typer.Option(None, "--host", help="IP every side names itself by (default: the device's IPv4)."),
        rounds: int = typer.Option(2, "--rounds", min=1, help="Restart and remove-readd cells: rounds after the first; "
                                   "simopen: rounds (fresh engines)."),
        inflight_rounds: int = typer.Option(2, "--inflight-rounds", min=1, help="remove-readd-inflight: stop once "
                                            "this many rounds had a WRITE in flight at the remove (only those "
                                            "count; at most --rounds rounds are played)."),
        endpoints: int = typer.Option(2, "--endpoints", min=1, help="simopen: segments forced at once."),
        race_trials: int = typer.Option(6, "--race-trials", min=1, help="race: trials (two fresh engines each)."),
        race_threads: int = typer.Option(1, "--race-threads", min=1, help="race: write calls per engine at the instant."),
        hang_after: float = typer.Option(5.0, "--hang-after", help="race: the watchdog in seconds."),
        answer_timeout: float = typer.Option(5.0, "--answer-timeout", help="simopen: seconds for the engine's answer."),
        engine_transfer_timeout: int = typer.Option(5, "--engine-transfer-timeout", help="The engines' own limit on one "
                                                    "transfer (Mooncake: MC_TRANSFER_TIMEOUT; NIXL: how long a "
                                                    "transfer may stay in progress), seconds; not race cells (their watchdog is --hang-after)."),
        dead_peer_timeout: float = typer.Option(120.0, "--dead-peer-timeout", min=1.0, help="dead-peer: how long the "
                                                "survivor's write to the SIGKILLed peer may take to fail, seconds "
                                                "(measured on rxe0, NIXL 1.5.1, error mode peer: ~48 s)."),
        etcd: Optional[str] = typer.Option(None, "--etcd", help="etcd for the etcd-restart cells, e.g. "
                                           "etcd://127.0.0.1:2379 (default: a throwaway local etcd)."),
        log_dir: Path = typer.Option(preset.log_dir, "--log-dir", help="Every cell's logs: DIR/<engine>/<scenario>/."),
        json_path: Optional[Path] = o.JSON_FILE,
        junit: Optional[Path] = o.JUNIT,
        tone: Optional[Path] = o.TONE,
        quiet: bool = typer.Option(False, "--quiet", help="No line per finished cell, only the table."),
    ) -> None:
        run_matrix(preset, engines, device, scenarios, host, json_path, junit, tone, quiet, etcd, rounds=rounds,
                   inflight_rounds=inflight_rounds, endpoints=endpoints, race_trials=race_trials, race_threads=race_threads,
                   answer_timeout=answer_timeout, hang_after=hang_after,
                   engine_transfer_timeout=engine_transfer_timeout, dead_peer_timeout=dead_peer_timeout,
                   log_dir=log_dir)

    matrix_cmd.__doc__ = ("Engine releases x scenarios, judged against the shipped (measured) expectations; exit 0 "
                          "when every cell is as expected."
                          + ("" if not preset.kinds else
                             f"\n\n(`rdmacheck engines matrix` with {', '.join(preset.kinds)}'s releases and "
                             "scenarios only.)"))
    return matrix_cmd
