"""HOST:PORT parsing (IPv6 as [addr]:port)."""

from __future__ import annotations

from rdmacheck.errors import EnvironmentProblem


def parse_hostport(text: str, what: str = "address", allow_zero: bool = False) -> tuple[str, int]:
    """allow_zero: port 0 = any free port (a listener reports the one it got)."""
    t = text.strip()
    if t.startswith("["):
        host, sep, port = t[1:].partition("]:")
    else:
        host, sep, port = t.rpartition(":")
    if not sep or not host or not port.isdigit() or not (0 if allow_zero else 1) <= int(port) < 65536:
        raise EnvironmentProblem(f"{what} {text!r} is not HOST:PORT (e.g. 127.0.0.1:18515 or [::1]:18515)")
    return host, int(port)


def format_hostport(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
