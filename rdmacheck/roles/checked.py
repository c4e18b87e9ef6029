"""What an initiator's `verified` / `verify_failed` event says of one write: checked by the target in its
own memory (after the READ back ordered behind it), or not, and how long the reconnect took."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WriteChecked:
    ok: bool
    finding: str | None = None
    step: str | None = None
    detail: str | None = None
    reconnect_ms: float | None = None  # from the initiator's ready (or `start_ts`, if later) to the check

    @classmethod
    def of(cls, result: dict, ready: dict, start_ts: float | None = None) -> WriteChecked:
        """`start_ts`: when re-establishment could begin (a probe that ended after the ready)."""
        if result["event"] != "verified":
            return cls(False, result.get("finding"), result.get("step"), result.get("detail"))
        start = max(ready["ts"], start_ts or 0.0)
        return cls(True, reconnect_ms=round((result["ts"] - start) * 1000, 3))
