"""Optional shared-token authentication of handshake messages.

Without a token anyone who reaches the target's port can re-point its QP at their own and then
read or write the exposed buffer through its rkey. With one, every message in both directions
carries `auth = {"nonce", "ts", "bind", "mac"}`: an HMAC-SHA256 over the message (canonical JSON
without `auth`), the nonce, the timestamp and what it is bound to:
- a request that changes anything (connect, verify) is bound to the target process's generation
  (`gen:<n>`, learnt from a signed Ping first), so a message captured from one target process is
  refused by its restarted successor, whose nonce cache is new;
- a reply is bound to the nonce of the request it answers (`re:<nonce>`), so a forged or replayed
  reply (say `VerifyResult ok=true`) fails the initiator's check: a finding, never a PASS.
The listener also checks a clock window and that a request's nonce was not seen before.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import os
import secrets
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from rdmacheck.errors import BadInput
from rdmacheck.output.files import read_text_input

WINDOW_S = 30.0  # accepted clock skew / message age
NONCE_CACHE = 100_000


class AuthError(ValueError):
    """The message is not authenticated; str() is the reason given to the peer and the log."""


def load_token(token: str | None, token_file: Path | None) -> bytes | None:
    """--token, --token-file, or $RDMACHECK_TOKEN; None = no authentication. Both options at once, or an
    empty token (option or file), is refused: neither may silently turn authentication off."""
    if token is not None and token_file is not None:
        raise BadInput("give --token or --token-file, not both")
    if token_file is not None:
        text, where = read_text_input(token_file, "--token-file").strip(), f"--token-file {token_file}"
    elif token is not None:
        text, where = token.strip(), "--token"
    else:
        text, where = os.environ.get("RDMACHECK_TOKEN", "").strip(), "$RDMACHECK_TOKEN"
        if not text:
            return None
    if not text:
        raise BadInput(f"{where} is empty: an empty token would turn authentication off")
    if len(text) < 16:
        raise BadInput(f"{where}: the handshake token must be at least 16 characters")
    return text.encode()


# Requests that change the target's state: they must be bound to its generation.
BOUND_KINDS = ("connect", "verify")


def _mac(key: bytes, envelope: dict, nonce: str, ts: float, bind: str) -> str:
    body = json.dumps({k: v for k, v in envelope.items() if k != "auth"}, sort_keys=True, separators=(",", ":"))
    return hmac.new(key, f"{nonce}|{ts:.6f}|{bind}|{body}".encode(), hashlib.sha256).hexdigest()


def sign(key: bytes, envelope: dict, bind: str = "") -> dict:
    """The envelope with its `auth` block; `bind`: gen:<target generation> or re:<request nonce>."""
    nonce = secrets.token_hex(16)
    ts = round(time.time(), 6)
    return {**envelope, "auth": {"nonce": nonce, "ts": ts, "bind": bind, "mac": _mac(key, envelope, nonce, ts, bind)}}


def nonce_of(envelope: dict) -> str | None:
    auth = envelope.get("auth")
    return auth.get("nonce") if isinstance(auth, dict) and isinstance(auth.get("nonce"), str) else None


def _fields(envelope: dict) -> tuple[str, float, str, str]:
    auth = envelope.get("auth")
    if not isinstance(auth, dict):
        raise AuthError("handshake not authenticated: this target requires a token (--token)")
    nonce, ts, mac, bind = auth.get("nonce"), auth.get("ts"), auth.get("mac"), auth.get("bind", "")
    if not (isinstance(nonce, str) and 8 <= len(nonce) <= 64 and isinstance(ts, (int, float))
            and not isinstance(ts, bool) and isinstance(mac, str) and len(mac) == 64 and isinstance(bind, str)
            and len(bind) <= 80):
        raise AuthError("malformed handshake authentication")
    if not (isinstance(ts, float) and math.isfinite(ts) or isinstance(ts, int) and abs(ts) < 1 << 53):
        raise AuthError("malformed handshake authentication (the timestamp is not a finite time)")
    return nonce, float(ts), mac, bind


def check_reply(key: bytes, envelope: dict, request_nonce: str) -> None:
    """A reply must carry a MAC made with the token and bound to the request it answers."""
    nonce, ts, mac, bind = _fields(envelope)
    if bind != f"re:{request_nonce}" or not hmac.compare_digest(mac, _mac(key, envelope, nonce, ts, bind)):
        raise AuthError("the reply is not authenticated by the token for this request (forged or replayed)")


@dataclass
class Verifier:
    """The listener's side: checks requests, signs replies. `generation`: this target process's
    (a state-changing request must be bound to it); None = nothing is bound (simopen peers)."""
    key: bytes
    generation: int | None = None
    window: float = WINDOW_S
    _seen: OrderedDict = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def sign_reply(self, reply: dict, request: dict) -> dict:
        return sign(self.key, reply, f"re:{nonce_of(request) or ''}")

    def check(self, envelope: dict) -> None:
        nonce, ts, mac, bind = _fields(envelope)
        if not hmac.compare_digest(mac, _mac(self.key, envelope, nonce, ts, bind)):
            raise AuthError("handshake authentication failed: wrong token")
        if (self.generation is not None and envelope.get("type") in BOUND_KINDS
                and bind != f"gen:{self.generation}"):
            raise AuthError(f"the {envelope.get('type')} is bound to another target process ({bind or 'unbound'}; "
                            f"this one is gen:{self.generation}): replayed from an earlier target?")
        if abs(time.time() - ts) > self.window:
            raise AuthError(f"handshake authentication expired (older than {self.window:g} s, or clocks disagree)")
        with self._lock:
            if nonce in self._seen:
                raise AuthError("replayed handshake (nonce already used)")
            self._seen[nonce] = ts
            while len(self._seen) > NONCE_CACHE:
                self._seen.popitem(last=False)
