"""Prometheus text exposition (node_exporter's textfile collector), label values escaped."""

from __future__ import annotations

from pathlib import Path
from rdmacheck.output.files import write_text_atomic
from rdmacheck.output.outcome import PromLines


def escape_label(value: str) -> str:
    """A label value as the exposition format requires: backslash, double quote and newline escaped."""
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def labels(**kv: str) -> str:
    return ",".join(f'{k}="{escape_label(v)}"' for k, v in kv.items())


def gauge_help(name: str, text: str) -> list[str]:
    return [f"# HELP {name} {text}", f"# TYPE {name} gauge"]


def write_prom(result: PromLines, path: Path) -> None:
    """Atomically, as node_exporter's textfile collector requires (it may read at any moment)."""
    write_text_atomic(path, result.prom_text())
