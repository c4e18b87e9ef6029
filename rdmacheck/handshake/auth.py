"""Optional shared-token authentication of handshake messages.

Without a token anyone who reaches the target's port can re-point its QP at their own and then
read or write the exposed buffer through its rkey. With one, every request carries
`auth = {"nonce", "ts", "mac"}`: an HMAC-SHA256 over the message (canonical JSON without `auth`),
the nonce and the timestamp. The listener checks the MAC, a clock window and that the nonce was
not seen before, so an old handshake cannot be replayed.
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

from rdmacheck.errors import EnvironmentProblem

WINDOW_S = 30.0  # accepted clock skew / message age
NONCE_CACHE = 100_000


class AuthError(ValueError):
    """The message is not authenticated; str() is the reason given to the peer and the log."""


def load_token(token: str | None, token_file: Path | None) -> bytes | None:
    """--token, --token-file, or $RDMACHECK_TOKEN (in that order); None = no authentication."""
    if token_file:
        try:
            text = token_file.read_text().strip()
        except OSError as e:
            raise EnvironmentProblem(f"--token-file {token_file}: {e.strerror}") from None
    else:
        text = token or os.environ.get("RDMACHECK_TOKEN", "")
    if not text:
        return None
    if len(text) < 16:
        raise EnvironmentProblem("the handshake token must be at least 16 characters")
    return text.encode()


def _mac(key: bytes, envelope: dict, nonce: str, ts: float) -> str:
    body = json.dumps({k: v for k, v in envelope.items() if k != "auth"}, sort_keys=True, separators=(",", ":"))
    return hmac.new(key, f"{nonce}|{ts:.6f}|{body}".encode(), hashlib.sha256).hexdigest()


def sign(key: bytes, envelope: dict) -> dict:
    nonce = secrets.token_hex(16)
    ts = round(time.time(), 6)
    return {**envelope, "auth": {"nonce": nonce, "ts": ts, "mac": _mac(key, envelope, nonce, ts)}}


@dataclass
class Verifier:
    key: bytes
    window: float = WINDOW_S
    _seen: OrderedDict = field(default_factory=OrderedDict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, envelope: dict) -> None:
        auth = envelope.get("auth")
        if not isinstance(auth, dict):
            raise AuthError("handshake not authenticated: this target requires a token (--token)")
        nonce, ts, mac = auth.get("nonce"), auth.get("ts"), auth.get("mac")
        if not (isinstance(nonce, str) and 8 <= len(nonce) <= 64 and isinstance(ts, (int, float))
                and not isinstance(ts, bool) and isinstance(mac, str) and len(mac) == 64):
            raise AuthError("malformed handshake authentication")
        if not (isinstance(ts, float) and math.isfinite(ts) or isinstance(ts, int) and abs(ts) < 1 << 53):
            raise AuthError("malformed handshake authentication (the timestamp is not a finite time)")
        if not hmac.compare_digest(mac, _mac(self.key, envelope, nonce, float(ts))):
            raise AuthError("handshake authentication failed: wrong token")
        if abs(time.time() - ts) > self.window:
            raise AuthError(f"handshake authentication expired (older than {self.window:g} s, or clocks disagree)")
        with self._lock:
            if nonce in self._seen:
                raise AuthError("replayed handshake (nonce already used)")
            self._seen[nonce] = ts
            while len(self._seen) > NONCE_CACHE:
                self._seen.popitem(last=False)
