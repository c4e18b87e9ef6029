"""One colour per verdict, for every table: a rich Text, never markup."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rdmacheck.output.console import styled
from rdmacheck.words import Verdict

if TYPE_CHECKING:
    from rich.text import Text

STYLE = {Verdict.PASS: "bold green", Verdict.FAIL: "bold red", Verdict.SKIP: "yellow"}


def verdict_text(verdict: str) -> Text:
    return styled(verdict, STYLE.get(verdict, ""))
