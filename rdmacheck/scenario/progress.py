"""Live progress: a rich status line on a terminal, plain lines otherwise (CI logs stay readable)."""

from __future__ import annotations

import sys
import time
from typing import Protocol

from rich.console import Console
from rich.live import Live
from rich.text import Text

from rdmacheck.output.console import line, safe_console, styled
from rdmacheck.scenario.result import CellResult
from rdmacheck.words import Verdict


class Progress(Protocol):
    def cell_start(self, index: int, total: int, label: str) -> None: ...
    def step(self, text: str) -> None: ...
    def cell_done(self, cell: CellResult) -> None: ...
    def close(self) -> None: ...


def _done_line(cell: CellResult) -> str:
    extra = cell.finding or cell.skip_reason or ""
    expected = "" if cell.met is not False else f" (expected {cell.expected})"
    return f"{cell.verdict}{expected} {cell.duration_s:.1f}s {extra}".rstrip()


class PlainProgress:
    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.t0 = time.monotonic()
        self.prefix = ""

    def _print(self, text: str) -> None:
        print(f"[{time.monotonic() - self.t0:6.1f}s] {text}", file=self.stream, flush=True)

    def cell_start(self, index: int, total: int, label: str) -> None:
        self.prefix = f"cell {index + 1}/{total} {label}"
        self._print(f"{self.prefix}: start")

    def step(self, text: str) -> None:
        self._print(f"{self.prefix}: {text}")

    def cell_done(self, cell: CellResult) -> None:
        self._print(f"{self.prefix}: {_done_line(cell)}")

    def close(self) -> None:
        pass


class RichProgress:
    """One live line (cells done/total, current cell and step, elapsed) above the finished cells."""

    def __init__(self, console: Console):
        self.console = console
        self.t0 = time.monotonic()
        self.live = Live(Text(""), console=console, refresh_per_second=4, transient=True)
        self.live.start()
        self.state = ("", 0, 0, "")

    def _render(self) -> None:
        label, index, total, step = self.state
        self.live.update(line(styled(f"[{index}/{total} done] ", "bold"), styled(label, "cyan"), f"  {step}  ",
                              styled(f"{time.monotonic() - self.t0:.0f}s", "dim")))

    def cell_start(self, index: int, total: int, label: str) -> None:
        self.state = (label, index, total, "starting")
        self._render()

    def step(self, text: str) -> None:
        self.state = (*self.state[:3], text)
        self._render()

    def cell_done(self, cell: CellResult) -> None:
        style = {Verdict.PASS: "green", Verdict.FAIL: "red", Verdict.SKIP: "yellow"}[cell.verdict]
        self.console.print(styled(cell.verdict, style), f"{self.state[0]} {_done_line(cell)[len(cell.verdict):]}")

    def close(self) -> None:
        self.live.stop()


def make_progress(plain: bool) -> Progress:
    err = safe_console(stderr=True)
    if plain or not err.is_terminal or err.is_dumb_terminal:
        return PlainProgress()
    return RichProgress(err)
