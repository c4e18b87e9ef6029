"""`rdmacheck matrix`, `run` and `report`: grids of cells, here or in one lab boot, and the same
table and reports from a results file."""

from __future__ import annotations

import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import List, Optional

import typer

from rdmacheck.cli import options as o
from rdmacheck.cli.app import app
from rdmacheck.cli.finish import check_outputs, finish
from rdmacheck.errors import BadInput, EnvironmentProblem, RdmacheckError
from rdmacheck.output.console import err
from rdmacheck.output.files import read_json_input, write_json_atomic
from rdmacheck.scenario.result import run_from_dict
from rdmacheck.scenario.table import render_matrix
from rdmacheck.words import Mode, Restart, Strategy, values


@dataclass
class Outputs:
    """Where a grid runs and what it writes: the options `matrix` and `run` share."""
    json_out: Path
    junit: Optional[Path]
    tone: Optional[Path]
    plain: bool
    quiet: bool
    lab: bool
    lab_timeout: float
    log_dir: Optional[Path]


def outputs(default_json: str):
    """The Outputs options, with this command's default results file; the command gets `out: Outputs`."""
    params = [o.opt("json_out", Path, o.json_results(default_json)), o.opt("junit", Optional[Path], o.JUNIT),
              o.opt("tone", Optional[Path], o.TONE), o.opt("plain", bool, o.PLAIN),
              o.opt("quiet", bool, typer.Option(False, "--quiet", help="Print no table (the results file, --junit "
                                                 "and --tone are still written).")),
              o.opt("lab", bool, o.LAB), o.opt("lab_timeout", float, o.LAB_TIMEOUT),
              o.opt("log_dir", Optional[Path], o.LOG_DIR)]
    return o.group("out", params, Outputs)


def _apply_overrides(sc, devices, modes, strategies, restart, rounds, length, buffer_size):
    """The scenario with the command line's values in place of the file's (options win)."""
    lists = {}
    for key, opt, val, kind in (("modes", "--modes", modes, Mode), ("strategies", "--strategies", strategies, Strategy),
                                ("restarts", "--restart", restart, Restart)):
        bad = [v for v in (val or []) if v not in values(kind)]
        if bad:
            raise typer.BadParameter(f"{bad[0]!r} is not one of {', '.join(values(kind))}", param_hint=opt)
        if val:
            lists[key] = [kind(v) for v in val]
    if devices:
        lists.update(devices=devices, target_devices=[])
    base = sc.base
    if rounds is not None:
        if rounds < 1:
            raise typer.BadParameter("must be at least 1", param_hint="--rounds")
        base = replace(base, rounds=rounds)
    if length:
        base = replace(base, length=o.size(length, "--length"))
    if buffer_size:
        base = replace(base, buffer_size=o.size(buffer_size, "--buffer-size"))
    if base.length > base.buffer_size:
        base = replace(base, buffer_size=base.length)
    return replace(sc, base=base, **lists)


def _run_here(scenarios, json_out: Path, plain: bool, log_dir: Optional[Path], command: str):
    from rdmacheck.scenario.matrix import run_matrix
    from rdmacheck.scenario.progress import make_progress

    try:
        o.require_devices()
    except EnvironmentProblem as e:
        raise EnvironmentProblem(str(e), hint="run it in the Soft-RDMA lab: add --lab (set up with `rdmacheck lab "
                                              "setup`)") from None
    try:
        return run_matrix(scenarios, json_out, make_progress(plain), command, log_dir)
    except KeyboardInterrupt:
        err.print(f"interrupted: the results so far are in {json_out}")
        raise typer.Exit(130)


def _run_in_lab(scenarios, json_out: Path, log_dir: Optional[Path], lab_timeout: float, command: str):
    """Write the resolved scenarios into a directory the guest shares, run `rdmacheck run` on them
    inside one lab boot, and load its results here (the guest prints progress, not the table)."""
    import json
    import shutil
    import tempfile

    from rdmacheck.cli.lab import lab_paths
    from rdmacheck.lab.vm import VMOptions, run_in_lab
    json_out = json_out.resolve()
    json_out.parent.mkdir(parents=True, exist_ok=True)
    shared = Path(tempfile.mkdtemp(prefix="rdmacheck-lab-", dir=json_out.parent))
    files = []
    for i, sc in enumerate(scenarios):
        files.append(shared / f"scenario-{i + 1}.toml")
        files[-1].write_text(sc.to_toml())
    inner_json = shared / "results.json"
    rw = [shared]
    inner = ["rdmacheck", "run", *map(str, files), "--json", str(inner_json), "--plain", "--quiet"]
    if log_dir:
        log_dir = log_dir.resolve()
        log_dir.mkdir(parents=True, exist_ok=True)
        rw.append(log_dir)
        inner += ["--log-dir", str(log_dir)]
    try:
        outcome = run_in_lab(inner, lab_paths(None), VMOptions(timeout=lab_timeout, rw=rw), out=sys.stderr)
        if not inner_json.exists():
            raise RdmacheckError(f"the lab run wrote no results (guest exit {outcome.exit_code})")
        data = json.loads(inner_json.read_text())
    finally:
        shutil.rmtree(shared, ignore_errors=True)
    data["command"] = command
    write_json_atomic(json_out, data)
    err.print(f"lab: {command.split()[0]} done in {outcome.total_seconds:.1f} s (boot {outcome.boot_seconds or 0:.1f} s); "
              f"results in {json_out}", highlight=False)
    return run_from_dict(data)


@app.command()
@outputs("results/matrix.json")
def matrix(
    scenario: str = typer.Option("default", "--scenario", help="Scenario file or built-in name giving grid, sizes, timeouts, expectations."),
    devices: Optional[str] = typer.Option(None, "--devices", help="Comma list of devices (default: one per provider present)."),
    modes: Optional[str] = typer.Option(None, "--modes", help=f"Comma list of {', '.join(values(Mode))}."),
    strategies: Optional[str] = typer.Option(None, "--strategies", help=f"Comma list of {', '.join(values(Strategy))}."),
    restart: Optional[str] = typer.Option(None, "--restart", help=f"Comma list of {', '.join(values(Restart))}."),
    rounds: Optional[int] = typer.Option(None, "--rounds", help="Restart rounds per cell."),
    length: Optional[str] = typer.Option(None, "--length", help="Bytes written and verified per round."),
    buffer_size: Optional[str] = typer.Option(None, "--buffer-size", help="Bytes the target exposes."),
    *, out=None,
) -> None:
    """Run the grid device x mode x strategy x restart side; show which strategy works where."""
    from rdmacheck.scenario.spec import load_scenario

    sc = _apply_overrides(load_scenario(scenario), o.csv(devices), o.csv(modes), o.csv(strategies), o.csv(restart),
                          rounds, length, buffer_size)
    _run(out, [sc], "matrix")


def _check_lab_devices(scenarios) -> None:
    """Before the VM boots: every device a scenario names is one the lab makes."""
    from rdmacheck.lab.paths import LAB_DEVICES

    for sc in scenarios:
        unknown = [d for d in [*sc.devices, *sc.target_devices] if d != "auto" and d not in LAB_DEVICES]
        if unknown:
            raise typer.BadParameter(f"no device {unknown[0]!r} in the lab (it has {', '.join(LAB_DEVICES)})",
                                     param_hint="--devices")


def _run(out: Outputs, scenarios, command: str) -> None:
    check_outputs(out.json_out, out.junit, out.tone)
    if out.lab:
        _check_lab_devices(scenarios)
        run = _run_in_lab(scenarios, out.json_out, out.log_dir, out.lab_timeout, command)
    else:
        if o.given("lab_timeout"):
            raise typer.BadParameter("applies with --lab only", param_hint="--lab-timeout")
        run = _run_here(scenarios, out.json_out, out.plain, out.log_dir, command)
    finish(run, None if out.quiet else render_matrix, junit=out.junit, tone=out.tone)


@app.command("run")
@outputs("results/run.json")
def run_scenarios(
    scenarios: List[str] = typer.Argument(..., help="Scenario files (or built-in names: default, seed, target-restart, quick, clean-exit)."),
    *, out=None,
) -> None:
    """Run scenario files (every cell of each), then the same table and reports as `matrix`."""
    from rdmacheck.scenario.spec import load_scenario

    loaded = [load_scenario(x) for x in scenarios]  # validate all before running any
    _run(out, loaded, "run " + " ".join(scenarios))


@app.command()
def report(
    results: Path = typer.Argument(..., help="A results file written by matrix, run, reestablish --local, engines matrix, mooncake matrix or fleet run."),
    junit: Optional[Path] = typer.Option(None, "--junit", help="Write JUnit XML here."),
    tone: Optional[Path] = typer.Option(None, "--tone", help="Write T-one result files here."),
    html: Optional[Path] = typer.Option(None, "--html", help="A fleet results file: also write its self-contained HTML page here."),
) -> None:
    """Re-render a results file, judged again from its evidence (table, JUnit, T-one; a fleet's: its host lines,
    HTML page); exit 0 only if every cell meets its expectation (a fleet: if it is healthy)."""
    check_outputs(junit=junit, tone=tone, html=html)
    data = read_json_input(results, "the results file")
    if isinstance(data, dict) and data.get("schema") == "rdmacheck.fleet/1":
        _fleet_report(results, data, junit, tone, html)
    if isinstance(data, dict) and str(data.get("schema")).endswith("-matrix/1"):
        _engines_report(results, data, junit, tone, html)
    if html:
        raise typer.BadParameter("applies to fleet results (rdmacheck.fleet/1) only", param_hint="--html")
    try:
        run = run_from_dict(data)
    except (ValueError, TypeError, KeyError) as e:
        raise BadInput(f"{results}: not a valid rdmacheck results file: {e}") from None
    for cell in run.cells:
        cell.rejudge()
    finish(run, render_matrix, junit=junit, tone=tone)


def _engines_report(results: Path, data: dict, junit: Optional[Path], tone: Optional[Path],
                    html: Optional[Path]) -> None:
    """An engines matrix's results (either schema name): its table, every cell judged again."""
    from rdmacheck.enginematrix.render import render_engine_matrix
    from rdmacheck.enginematrix.result import result_from_dict
    from rdmacheck.enginematrix.run import judge_again

    if html:
        raise typer.BadParameter("applies to fleet results (rdmacheck.fleet/1) only", param_hint="--html")
    try:
        res = result_from_dict(data)
    except ValueError as e:
        raise BadInput(f"{results}: not a valid engines-matrix results file: {e}") from None
    finish(judge_again(res), render_engine_matrix, junit=junit, tone=tone)


def _fleet_report(results: Path, data: dict, junit: Optional[Path], tone: Optional[Path], html: Optional[Path]) -> None:
    """A fleet's results: judged again from its pairs (the stored host lines and health are not read), its
    table and host lines, the files asked for, exit by that judgement."""
    from rdmacheck.fleet.render import render_fleet
    from rdmacheck.fleet.result import result_from_file

    finish(result_from_file(data, str(results)), render_fleet, junit=junit, tone=tone, html=html)
