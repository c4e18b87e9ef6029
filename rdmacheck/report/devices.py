"""Render `rdmacheck devices` as a rich table."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from rdmacheck.verbs.devices import DeviceInfo


def render_devices(devices: list[DeviceInfo], console: Console) -> None:
    for d in devices:
        title = (f"[bold]{d.name}[/]  provider {d.provider} · node {d.node_type} · transport {d.transport}"
                 f" · fw {d.fw_version or '-'} · max_qp {d.max_qp} · max_mr_size {d.max_mr_size:#x}")
        console.print(title)
        for p in d.ports:
            state_style = "green" if p.state == "ACTIVE" else "red"
            console.print(f"  port {p.port}: [{state_style}]{p.state}[/] / {p.phys_state} · {p.link_layer} · "
                          f"MTU {p.active_mtu} (max {p.max_mtu}) · lid {p.lid} · {p.speed or 'speed ?'} · "
                          f"netdev {p.netdev or '-'} {' '.join(p.netdev_ips)}")
            table = Table(show_header=True, header_style="bold", box=None, padding=(0, 2))
            for col in ("idx", "GID", "type", "netdev", "IP"):
                table.add_column(col, no_wrap=True)
            for g in p.gids:
                table.add_row(str(g.index), g.gid, g.type, g.netdev or "-", g.ip or "-")
            if p.gids:
                console.print(table)
            else:
                console.print("    (no GIDs)")
