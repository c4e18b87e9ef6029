"""The end of every command that judges: the results file, JUnit, T-one, Prometheus, the table,
and the exit code (0 when the result is ok, 1 otherwise), written once for every Outcome."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, Optional

import typer

from rdmacheck.errors import EXIT_FAIL, BadInput
from rdmacheck.output.console import out_console
from rdmacheck.output.files import (
    check_output_dir,
    check_output_file,
    write_json_atomic,
    write_text_atomic,
)
from rdmacheck.output.junit import write_junit
from rdmacheck.output.outcome import Outcome
from rdmacheck.output.prom import write_prom
from rdmacheck.output.tone import write_tone


def check_outputs(json_path: Optional[Path] = None, junit: Optional[Path] = None, tone: Optional[Path] = None,
                  prom: Optional[Path] = None, html: Optional[Path] = None) -> None:
    """Before anything runs, so a bad path never costs a run: each output can be written."""
    for path, option in ((json_path, "--json"), (junit, "--junit"), (prom, "--prom"), (html, "--html")):
        if path:
            check_output_file(path, option)
    if tone:
        check_output_dir(tone, "--tone")


def write_results_file(path: Path, result: Outcome) -> None:
    """A result that keeps its own JSON text as it grows (a fleet's: every pair serialized once) writes
    that; any other its to_dict()."""
    own = getattr(result, "json_text", None)
    if own is not None:
        write_text_atomic(path, own())
    else:
        write_json_atomic(path, result.to_dict())


def write_outputs(result: Outcome, json_path: Optional[Path] = None, junit: Optional[Path] = None,
                  tone: Optional[Path] = None, prom: Optional[Path] = None, html: Optional[Path] = None) -> None:
    """The results file first (the others are made from the same result); a path that fails now
    (disk full, removed folder) is one line naming it."""
    for path, option, write in ((json_path, "--json", lambda p: write_results_file(p, result)),
                                (junit, "--junit", lambda p: write_junit(result, p)),
                                (tone, "--tone", lambda p: write_tone(result, p)),
                                (prom, "--prom", lambda p: write_prom(result, p)),  # type: ignore[arg-type]
                                (html, "--html", lambda p: write_text_atomic(p, result.html_text()))):  # type: ignore
        if path:
            try:
                write(path)
            except OSError as e:
                raise BadInput(f"{option} {path} could not be written: {e.strerror or e}") from None


def finish(result: Outcome, render: Optional[Callable[[Any, Any], None]], json_path: Optional[Path] = None,
           junit: Optional[Path] = None, tone: Optional[Path] = None, prom: Optional[Path] = None,
           html: Optional[Path] = None) -> NoReturn:
    """Write what was asked, render (None: quiet), exit by the result."""
    write_outputs(result, json_path, junit, tone, prom, html)
    if render is not None:
        render(result, out_console())
    raise typer.Exit(0 if result.ok else EXIT_FAIL)
