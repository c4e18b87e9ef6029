"""One colour per verdict, for every table."""

from __future__ import annotations

from rdmacheck.words import Verdict

STYLE = {Verdict.PASS: "bold green", Verdict.FAIL: "bold red", Verdict.SKIP: "yellow"}


def verdict_markup(verdict: str) -> str:
    return f"[{STYLE.get(verdict, '')}]{verdict}[/]"
