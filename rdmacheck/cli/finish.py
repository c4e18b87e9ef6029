"""The end of every command that judges: the results file, JUnit, T-one, Prometheus, the table,
and the exit code (0 when the result is ok, 1 otherwise), written once for every Outcome."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, Optional

import typer

from rdmacheck.errors import EXIT_FAIL
from rdmacheck.output.console import out_console
from rdmacheck.output.files import write_json_atomic
from rdmacheck.output.junit import write_junit
from rdmacheck.output.outcome import Outcome
from rdmacheck.output.prom import write_prom
from rdmacheck.output.tone import write_tone


def write_outputs(result: Outcome, json_path: Optional[Path] = None, junit: Optional[Path] = None,
                  tone: Optional[Path] = None, prom: Optional[Path] = None) -> None:
    if json_path:
        write_json_atomic(json_path, result.to_dict())
    if junit:
        write_junit(result, junit)
    if tone:
        write_tone(result, tone)
    if prom:
        write_prom(result, prom)  # type: ignore[arg-type] - only results with prom_text() offer --prom


def finish(result: Outcome, render: Optional[Callable[[Any, Any], None]], json_path: Optional[Path] = None,
           junit: Optional[Path] = None, tone: Optional[Path] = None, prom: Optional[Path] = None) -> NoReturn:
    """Write what was asked, render (None: quiet), exit by the result."""
    write_outputs(result, json_path, junit, tone, prom)
    if render is not None:
        render(result, out_console())
    raise typer.Exit(0 if result.ok else EXIT_FAIL)
