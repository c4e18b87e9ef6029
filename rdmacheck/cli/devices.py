"""`rdmacheck devices`: the RDMA devices of this host."""

from __future__ import annotations

import json
from typing import Optional

import typer

from rdmacheck.cli import options as o
from rdmacheck.cli.app import app
from rdmacheck.errors import EXIT_FAIL
from rdmacheck.output.console import err, out_console


@app.command()
def devices(as_json: bool = o.JSON_PRINT, device: Optional[str] = o.DEVICE_FILTER) -> None:
    """List RDMA devices: provider, node type, ports, MTU, GID table with types and IPs."""
    from rdmacheck.doctor.render import render_devices
    from rdmacheck.verbs.devices import list_devices

    devs = list_devices(device)
    if as_json:
        print(json.dumps({"devices": [d.to_dict() for d in devs]}, indent=2))
        return
    if not devs:
        err.print("no RDMA devices found (the kernel has RDMA support, but no device is registered)")
        raise typer.Exit(EXIT_FAIL)
    render_devices(devs, out_console())
