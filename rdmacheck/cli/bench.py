"""`rdmacheck bench`: latency, bandwidth and the cost of re-establishment, step by step."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from rdmacheck.cli import options as o
from rdmacheck.cli.app import app
from rdmacheck.cli.finish import check_outputs
from rdmacheck.output.console import err, out_console, styled
from rdmacheck.words import Strategy


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
    json_out: Optional[Path] = o.JSON_FILE,
    log_dir: Optional[Path] = typer.Option(None, "--log-dir", help="Where the local target's log goes."),
) -> None:
    """Latency (64 B WRITE/READ), pipelined bandwidth, and the cost of re-establishment per step."""
    from rdmacheck.bench.render import render_bench
    from rdmacheck.bench.run import Bench, BenchPlan
    from rdmacheck.handshake.address import parse_hostport
    from rdmacheck.output.files import write_json_atomic

    check_outputs(json_out)
    choices = {Strategy.RESET.value: (Strategy.RESET,), Strategy.RECREATE.value: (Strategy.RECREATE,),
               "both": (Strategy.RESET, Strategy.RECREATE)}
    if strategy not in choices:
        raise typer.BadParameter(f"must be one of {', '.join(choices)}", param_hint="--strategy")
    if not 1 <= depth <= 128:
        raise typer.BadParameter("must be 1..128 (the send queue depth)", param_hint="--depth")
    if iters < 1 or rounds < 1:
        raise typer.BadParameter("--iters and --rounds must be at least 1")
    if peer:
        o.refuse_given(("target_device", "log_dir"), "with --peer (no target is started here)")
    o.require_devices(device, None if peer else target_device)
    plan = BenchPlan(device=device, peer=parse_hostport(peer, "--peer") if peer else None,
                     target_device=target_device,
                     strategies=choices[strategy], iters=iters,
                     size=o.size(size, "--size"), depth=depth, rounds=rounds, verify=verify, log_dir=log_dir)
    res = Bench(plan, on_step=lambda s: err.print(styled(s, "dim"))).run()
    if json_out:
        write_json_atomic(json_out, res.to_dict())
    render_bench(res, out_console())
