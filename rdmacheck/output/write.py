"""Every output of a result, written as it comes: the results file first (the others are made from the same
result), then JUnit, T-one, Prometheus and HTML where asked. A path that fails now (disk full, removed
folder) is one line naming it."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from rdmacheck.errors import BadInput
from rdmacheck.output.files import write_json_atomic, write_text_atomic
from rdmacheck.output.junit import write_junit
from rdmacheck.output.outcome import HtmlPage, Outcome, OwnJson, PromLines
from rdmacheck.output.prom import write_prom
from rdmacheck.output.tone import write_tone


def write_results_file(path: Path, result: Outcome) -> None:
    """A result that keeps its own JSON text writes that; any other its to_dict()."""
    if isinstance(result, OwnJson):
        write_text_atomic(path, result.json_text())
    else:
        write_json_atomic(path, result.to_dict())


def _capable(result: Outcome, capability: type, option: str) -> Outcome:
    if not isinstance(result, capability):
        raise TypeError(f"{type(result).__name__} has no {option} output ({capability.__name__})")
    return result


def write_outputs(result: Outcome, json_path: Optional[Path] = None, junit: Optional[Path] = None,
                  tone: Optional[Path] = None, prom: Optional[Path] = None, html: Optional[Path] = None) -> None:
    for path, option, write in ((json_path, "--json", lambda p: write_results_file(p, result)),
                                (junit, "--junit", lambda p: write_junit(result, p)),
                                (tone, "--tone", lambda p: write_tone(result, p)),
                                (prom, "--prom", lambda p: write_prom(_capable(result, PromLines, "--prom"), p)),
                                (html, "--html", lambda p: write_text_atomic(
                                    p, _capable(result, HtmlPage, "--html").html_text()))):
        if path:
            try:
                write(path)
            except OSError as e:
                raise BadInput(f"{option} {path} could not be written: {e.strerror or e}") from None
