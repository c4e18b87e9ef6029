"""The end of every command that judges: the results file, JUnit, T-one, Prometheus, the table,
and the exit code (0 when the result is ok, 1 otherwise), written once for every Outcome."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, Optional

import typer

from rdmacheck.errors import EXIT_FAIL
from rdmacheck.output.console import out_console
from rdmacheck.output.files import check_output_dir, check_output_file
from rdmacheck.output.outcome import Outcome
from rdmacheck.output.write import write_outputs


def check_outputs(json_path: Optional[Path] = None, junit: Optional[Path] = None, tone: Optional[Path] = None,
                  prom: Optional[Path] = None, html: Optional[Path] = None) -> None:
    """Before anything runs, so a bad path never costs a run: each output can be written."""
    for path, option in ((json_path, "--json"), (junit, "--junit"), (prom, "--prom"), (html, "--html")):
        if path:
            check_output_file(path, option)
    if tone:
        check_output_dir(tone, "--tone")


def finish(result: Outcome, render: Optional[Callable[[Any, Any], None]], json_path: Optional[Path] = None,
           junit: Optional[Path] = None, tone: Optional[Path] = None, prom: Optional[Path] = None,
           html: Optional[Path] = None, ok: Optional[bool] = None) -> NoReturn:
    """Write what was asked, render (None: quiet), exit by the result (`ok`: by this, when the result is one
    part of the verdict, as a fleet service's last run is)."""
    write_outputs(result, json_path, junit, tone, prom, html)
    if render is not None:
        render(result, out_console())
    raise typer.Exit(0 if (result.ok if ok is None else ok) else EXIT_FAIL)
