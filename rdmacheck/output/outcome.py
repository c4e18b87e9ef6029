"""The one protocol every result of a command meets, so JUnit, T-one and the exit code are written
once: `ok` (exit 0 or 1), `to_dict()` (the results file), `cases()` (one test case per cell,
round or pair: what CI shows). An output may also have optional capabilities, each its own protocol:
its own JSON text (kept as it grows), Prometheus lines, an HTML page."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass
class Case:
    """One test case. A failure the expectations predict is `skipped` (like pytest's xfail), so CI
    only goes red on a regression; T-one calls a case Pass unless it has a failure."""
    id: str  # unique in its run: T-one's DIR/<id>/test_results.json
    classname: str
    name: str
    time_s: float
    failure: str | None = None  # the message of a <failure>
    failure_type: str = ""
    failure_text: str = ""
    skipped: str | None = None  # the message of a <skipped>
    logs: str | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


class Outcome(Protocol):
    TONE_CASE: str  # T-one's name for the whole run

    @property
    def ok(self) -> bool: ...

    def to_dict(self) -> dict: ...

    def cases(self) -> list[Case]: ...


@runtime_checkable
class OwnJson(Protocol):
    """Keeps its results file's text as it grows (a fleet: every pair serialized once), instead of to_dict()."""
    def json_text(self) -> str: ...


@runtime_checkable
class PromLines(Protocol):
    """Has a Prometheus text exposition (node_exporter's textfile collector)."""
    def prom_text(self) -> str: ...


@runtime_checkable
class HtmlPage(Protocol):
    """Has a self-contained HTML page."""
    def html_text(self) -> str: ...
