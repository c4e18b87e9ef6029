"""The doctor's and `rdmacheck devices`' tables."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from rdmacheck.output.console import line, styled
from rdmacheck.doctor.result import FAIL, PASS, SKIP, WARN, Check, summary
from rdmacheck.verbs.devices import DeviceInfo

STYLE = {PASS: "green", WARN: "yellow", FAIL: "bold red", SKIP: "dim"}


def render_doctor(checks: list[Check], console: Console) -> None:
    t = Table(title="rdmacheck doctor", title_justify="left")
    for col in ("", "check", "status", "why / fix"):
        t.add_column(col, no_wrap=col != "why / fix")
    last = None
    for c in checks:
        text = styled(c.reason)
        if c.hint:
            text.append_text(styled(f"\n{'fix' if c.status != PASS else 'tip'}: {c.hint}", "dim"))
        t.add_row(c.group if c.group != last else "", c.name, styled(c.status, STYLE[c.status]), text)
        last = c.group
    console.print(t)
    console.print(summary(checks), highlight=False, soft_wrap=True)


def render_devices(devices: list[DeviceInfo], console: Console) -> None:
    for d in devices:
        console.print(line(styled(d.name, "bold"), styled(
            f"  provider {d.provider} · node {d.node_type} · transport {d.transport} · fw {d.fw_version or '-'} · "
            f"max_qp {d.max_qp} · max_mr_size {d.max_mr_size:#x}")))
        for p in d.ports:
            state_style = "green" if p.state == "ACTIVE" else "red"
            console.print(line(styled(f"  port {p.port}: "), styled(p.state, state_style), styled(
                f" / {p.phys_state} · {p.link_layer} · MTU {p.active_mtu} (max {p.max_mtu}) · lid {p.lid} · "
                f"{p.speed or 'speed ?'} · netdev {p.netdev or '-'} {' '.join(p.netdev_ips)}")))
            table = Table(show_header=True, header_style="bold", box=None, padding=(0, 2))
            for col in ("idx", "GID", "type", "netdev", "IP"):
                table.add_column(col, no_wrap=True)
            for g in p.gids:
                table.add_row(str(g.index), g.gid, g.type, g.netdev or "-", g.ip or "-")
            if p.gids:
                console.print(table)
            else:
                console.print("    (no GIDs)")
