"""What an engine's side process says, declared once (msgspec, strict): its `ready`, each `reply` and each
`wrote`. The engine library runs in that process and may print anything; a line that reads as one of these
events but fails its schema ends that process's part with one line naming the event and the field (a
RoleFailed: the cell's failure, never a crash of the run)."""

from __future__ import annotations

from typing import Annotated, Optional

import msgspec
from msgspec import Meta, Struct

Text = Annotated[str, Meta(max_length=1 << 16)]
Name = Annotated[str, Meta(max_length=512)]
Millis = Annotated[float, Meta(ge=0, le=1e9)]
Address = Annotated[int, Meta(ge=0)]  # a virtual address (msgspec bounds stop at int64)


class Ready(Struct, forbid_unknown_fields=False):
    name: Name
    addr: Address
    length: Optional[Annotated[int, Meta(ge=0)]] = None
    metadata: Optional[Annotated[str, Meta(max_length=1 << 22)]] = None  # NIXL's agent, DLSlime's endpoint: base64
    backend_params: Optional[dict[Name, Text]] = None  # NIXL: its UCX backend's parameters as it reports them


class Reply(Struct, forbid_unknown_fields=False):
    ok: bool
    detail: Text = ""
    ms: Optional[Millis] = None
    metadata: Optional[Annotated[str, Meta(max_length=1 << 22)]] = None  # DLSlime: its new endpoint, after a remove


class Wrote(Struct, forbid_unknown_fields=False):
    ok: bool
    ms: Millis
    target: Optional[int] = None
    slice: Optional[int] = None


SCHEMAS = {"ready": Ready, "reply": Reply, "wrote": Wrote}


def engine_event_problem(ev: dict) -> str | None:
    """Why an engine side's event fails its schema (None: it meets it, or it is not one of the declared)."""
    schema = SCHEMAS.get(ev.get("event"))
    if schema is None:
        return None
    try:
        msgspec.convert(ev, schema, strict=True)
    except msgspec.ValidationError as e:
        return f"its {ev['event']} event: {e}"
    return None
