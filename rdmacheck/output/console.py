"""The CLI's consoles: errors to stderr, tables to stdout at a readable width."""

from __future__ import annotations

import os
import sys

from rich.console import Console

err = Console(stderr=True)


def out_console() -> Console:
    """stdout console; when piped or on a dumb terminal (CI logs, the lab's serial console) rich
    would squeeze tables to 80 columns: use $COLUMNS or 150 instead."""
    if sys.stdout.isatty() and os.environ.get("TERM", "dumb") not in ("dumb", "unknown"):
        return Console()
    cols = os.environ.get("COLUMNS", "")
    return Console(width=int(cols) if cols.isdigit() else 150, height=50)
