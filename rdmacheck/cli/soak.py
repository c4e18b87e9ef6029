"""`rdmacheck soak`: restart rounds in a loop, watching for leaked RDMA objects and memory."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from rdmacheck.cli import options as o
from rdmacheck.cli.app import app
from rdmacheck.cli.finish import check_outputs
from rdmacheck.errors import EXIT_FAIL
from rdmacheck.output.console import err, styled
from rdmacheck.soak.result import MIN_LATER, MIN_ROUNDS, WARMUP
from rdmacheck.words import Mode, Restart, Strategy


@app.command()
def soak(
    device: str = o.DEVICE,
    rounds: int = typer.Option(50, "--rounds", help=f"Restart rounds (at least {MIN_ROUNDS}: {WARMUP} warm-up rounds "
                               f"before the baseline, {MIN_LATER} samples after it)."),
    restart: Restart = typer.Option(Restart.INITIATOR, "--restart", help="The side killed and restarted every round."),
    strategy: Strategy = o.STRATEGY,
    mode: Mode = o.MODE,
    length: str = typer.Option("64KiB", "--length", help="Bytes written and verified per round."),
    json_out: Optional[Path] = o.JSON_FILE,
    log_dir: Optional[Path] = o.LOG_DIR,
) -> None:
    """Restart rounds in a loop; fail if RDMA objects (rdma resource show) or the survivor's RSS grow."""
    from rdmacheck.output.files import write_json_atomic
    from rdmacheck.scenario.cell import CellSpec
    from rdmacheck.soak.run import run_soak

    if rounds < MIN_ROUNDS:
        raise typer.BadParameter(f"must be at least {MIN_ROUNDS}: the baseline is taken after {WARMUP} warm-up rounds "
                                 f"and a leak verdict needs {MIN_LATER} samples after it", param_hint="--rounds")
    check_outputs(json_out)
    size = o.size(length, "--length")
    spec = CellSpec(device=device, restart=restart, strategy=strategy, mode=mode, rounds=rounds,
                    buffer_size=max(1 << 20, size), length=size, log_dir=log_dir)
    o.require_devices(device)
    res = run_soak(spec, on_step=lambda s: err.print(styled(s, "dim")),
                   on_sample=lambda so_far: write_json_atomic(json_out, so_far.to_dict()) if json_out else None)
    if json_out:
        write_json_atomic(json_out, res.to_dict())
    first, last = res.samples[0] if res.samples else None, res.samples[-1] if res.samples else None
    if first and last:
        print(f"objects after round {first.round}: {first.counts}; after round {last.round}: {last.counts}")
        print(f"survivor RSS: {first.survivor_rss_kib} KiB -> {last.survivor_rss_kib} KiB")
    print(f"{res.verdict}: {res.reason} ({res.cell.duration_s:.1f} s; logs: {res.cell.logs})")
    raise typer.Exit(0 if res.ok else EXIT_FAIL)
