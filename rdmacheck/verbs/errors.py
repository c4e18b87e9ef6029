"""Errors of the verbs layer: every failure names the step, the errno and the attributes used."""

from __future__ import annotations

import errno as errno_mod
import os

from rdmacheck.errors import RdmacheckError


def _fmt_attrs(attrs: dict) -> str:
    def fmt(k, v):
        if k in ("dest_qpn", "qpn") and isinstance(v, int):
            return f"{k}={v:#x}"
        return f"{k}={v}"
    return " ".join(fmt(k, v) for k, v in attrs.items() if v is not None)


TRANSIENT_ERRNOS = (errno_mod.ENETUNREACH, errno_mod.EHOSTUNREACH, errno_mod.ENETDOWN)


class VerbsError(RdmacheckError):
    """A verbs call failed: step (e.g. 'modify QP to RTR'), errno, and the attributes it used."""

    def __init__(self, step: str, err: int | None, attrs: dict | None = None, detail: str = ""):
        self.step = step
        self.errno = err
        self.attrs = dict(attrs or {})
        name = errno_mod.errorcode.get(err, "?") if err else None
        why = f"{os.strerror(err)} (errno {err} {name})" if err else (detail or "failed")
        text = f"{step} failed: {why}"
        if self.attrs:
            text += f" [{_fmt_attrs(self.attrs)}]"
        super().__init__(text)

    @property
    def transient(self) -> bool:
        """Worth retrying: the path is down for now (a link outage), or the local TCP port rdma_cm
        picked for an iWARP connection is still held by an earlier connection's socket (siw, seen after
        many restarts in a namespace: 2 of 491 rounds, 1 of 84 fleet connects); a new CM id picks
        another port. Not a wrong attribute."""
        return self.errno in TRANSIENT_ERRNOS or (self.step == "rdma_connect" and self.errno == errno_mod.EADDRINUSE)

    @property
    def finding(self) -> str:
        from rdmacheck.findings import verbs_failure  # noqa: PLC0415

        return verbs_failure(self.step, self.errno)

    def to_dict(self) -> dict:
        return {"step": self.step, "errno": self.errno, "attrs": self.attrs, "message": str(self)}


class CompletionError(RdmacheckError):
    """A work completion came back with an error status (e.g. RETRY_EXC_ERR: the peer is gone)."""

    def __init__(self, op: str, status: str, wr_id: int, after_s: float):
        self.op = op
        self.status = status
        self.after_s = after_s
        super().__init__(f"{op} completed with {status} (wr_id {wr_id}) after {after_s * 1000:.0f} ms")


def errno_of(exc: BaseException) -> int | None:
    code = getattr(exc, "error_code", None)
    return code if isinstance(code, int) and code > 0 else None
