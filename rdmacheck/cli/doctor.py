"""`rdmacheck doctor`: this host's RDMA, checked, with fix hints."""

from __future__ import annotations

import json
from typing import Optional

import typer

from rdmacheck.cli import options as o
from rdmacheck.cli.app import app
from rdmacheck.errors import EXIT_ENV, EXIT_FAIL, RdmacheckError
from rdmacheck.output.console import err, out_console, styled


@app.command()
def doctor(
    device: Optional[str] = o.DEVICE_FILTER,
    as_json: bool = o.JSON_PRINT,
    deep: bool = typer.Option(False, "--deep", help="Also a live loopback self-test and the reset probe per device."),
    buffer_size: str = typer.Option("64MiB", "--buffer-size", help="Registration size to check memlock and max_mr_size against."),
    metadata: Optional[str] = typer.Option(None, "--metadata", help="Also check this etcd://HOST:PORT: reachable, read latency."),
) -> None:
    """Check this host's RDMA and say how to fix what is wrong. Exit 0 healthy, 1 unhealthy, 2 could not run."""
    from rdmacheck.doctor.checks import HostPaths
    from rdmacheck.doctor.render import render_doctor
    from rdmacheck.doctor.run import healthy, run_doctor

    size = o.size(buffer_size, "--buffer-size")
    if metadata is not None:
        from rdmacheck.metadata.etcd import parse_metadata_url

        if parse_metadata_url(metadata) is None:
            raise typer.BadParameter("checks an etcd: give etcd://HOST:PORT", param_hint="--metadata")
    try:
        checks = run_doctor(HostPaths(), size, device, deep, on_step=lambda s: err.print(styled(s, "dim")),
                            metadata=metadata)
    except RdmacheckError as e:
        raise RdmacheckError(f"doctor could not run: {e}", hint=e.hint, exit_code=EXIT_ENV) from None
    if as_json:
        print(json.dumps({"healthy": healthy(checks), "checks": [c.to_dict() for c in checks]}, indent=2))
    else:
        render_doctor(checks, out_console())
    raise typer.Exit(0 if healthy(checks) else EXIT_FAIL)
