"""The CLI's consoles: errors to stderr, tables to stdout at a readable width."""

from __future__ import annotations

import os
import sys

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console


class _StderrConsole:
    """rich's stderr Console, made at its first use: a process that never prints through it (a fleet
    agent, whose lines are plain text for a log) never imports rich, ~0.2 s of emulated CPU per
    process in the lab, where eight agents start on two vCPUs."""

    def __init__(self) -> None:
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console  # noqa: PLC0415

            self._console = Console(stderr=True)
        return getattr(self._console, name)


err: Console = _StderrConsole()  # type: ignore[assignment]


def out_console() -> Console:
    """stdout console; when piped or on a dumb terminal (CI logs, the lab's serial console) rich
    would squeeze tables to 80 columns: use $COLUMNS or 150 instead."""
    from rich.console import Console  # noqa: PLC0415

    if sys.stdout.isatty() and os.environ.get("TERM", "dumb") not in ("dumb", "unknown"):
        return Console()
    cols = os.environ.get("COLUMNS", "")
    return Console(width=int(cols) if cols.isdigit() else 150, height=50)
