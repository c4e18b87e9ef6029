"""The CLI's consoles: errors to stderr, tables to stdout at a readable width. Both are safe by
construction: markup and highlighting are off, so text that came from a peer, a file, an etcd value or an
engine (`[/x]`, `[bold]`) is printed as it is, never parsed; control characters in any string they print
(an escape sequence in a finding) are shown escaped. What rdmacheck styles itself is a rich Text made by
`styled` (its text escaped the same way)."""

from __future__ import annotations

import os
import re
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

# C0 controls but tab and newline, DEL, C1 controls: a terminal acts on them (escape sequences, carriage
# returns that overwrite a line), so text from outside never reaches it with them.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def printable(text: str) -> str:
    """`text` with every control character but tab and newline shown as \\xNN."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(text))


def styled(text: Any, style: str = "") -> Text:
    """rdmacheck's own styling of a piece of text (a verdict's colour, a dim hint): a Text, never markup."""
    from rich.text import Text  # noqa: PLC0415

    return Text(printable(str(text)), style=style)


def line(*parts: Any) -> Text:
    """One line of pieces, each a string (made printable) or a Text made by `styled`."""
    from rich.text import Text  # noqa: PLC0415

    out = Text()
    for p in parts:
        out.append_text(p if isinstance(p, Text) else Text(printable(str(p))))
    return out


def safe_console(**kw: Any) -> Console:
    """A rich Console with markup and highlighting off by default, whose every string is made printable."""
    from rich.console import Console  # noqa: PLC0415

    class SafeConsole(Console):
        def render_str(self, text: str, **options: Any):  # every str a print or a table cell renders
            return super().render_str(printable(text), **{**options, "markup": False, "highlight": False})

    return SafeConsole(markup=False, highlight=False, **kw)


class _StderrConsole:
    """The stderr console, made at its first use: a process that never prints through it (a fleet
    agent, whose lines are plain text for a log) never imports rich, ~0.2 s of emulated CPU per
    process in the lab, where eight agents start on two vCPUs."""

    def __init__(self) -> None:
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            self._console = safe_console(stderr=True)
        return getattr(self._console, name)


err: Console = _StderrConsole()  # type: ignore[assignment]


def out_console() -> Console:
    """stdout console; when piped or on a dumb terminal (CI logs, the lab's serial console) rich
    would squeeze tables to 80 columns: use $COLUMNS or 150 instead."""
    if sys.stdout.isatty() and os.environ.get("TERM", "dumb") not in ("dumb", "unknown"):
        return safe_console()
    cols = os.environ.get("COLUMNS", "")
    return safe_console(width=int(cols) if cols.isdigit() else 150, height=50)
