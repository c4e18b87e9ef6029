import time

import pytest

from rdmacheck.handshake.auth import AuthError, Verifier, load_token, sign

KEY = b"0123456789abcdef-secret"
MSG = {"v": 1, "type": "ping"}


def test_signed_message_passes_once_and_replay_is_refused():
    v = Verifier(KEY)
    m = sign(KEY, MSG)
    v.check(m)
    with pytest.raises(AuthError, match="replayed"):
        v.check(m)


def test_wrong_token_missing_auth_tampering_and_age():
    v = Verifier(KEY)
    with pytest.raises(AuthError, match="wrong token"):
        v.check(sign(b"another-token-of-16+", MSG))
    with pytest.raises(AuthError, match="requires a token"):
        v.check(MSG)
    m = sign(KEY, {"v": 1, "type": "verify", "seed": 1, "offset": 0, "length": 8})
    m["length"] = 1 << 30
    with pytest.raises(AuthError, match="wrong token"):
        v.check(m)
    old = sign(KEY, MSG)
    old["auth"]["ts"] = time.time() - 3600
    with pytest.raises(AuthError, match="wrong token|expired"):
        v.check(old)
    with pytest.raises(AuthError, match="malformed"):
        v.check({**MSG, "auth": {"nonce": 1, "ts": "x", "mac": "y"}})


def test_expired_but_correctly_signed_message(monkeypatch):
    v = Verifier(KEY, window=1)
    m = sign(KEY, MSG)
    real = time.time
    monkeypatch.setattr(time, "time", lambda: real() + 5)
    with pytest.raises(AuthError, match="expired"):
        v.check(m)


def test_load_token(tmp_path, monkeypatch):
    monkeypatch.delenv("RDMACHECK_TOKEN", raising=False)
    assert load_token(None, None) is None
    (tmp_path / "t").write_text("a-long-enough-token\n")
    assert load_token(None, tmp_path / "t") == b"a-long-enough-token"
    monkeypatch.setenv("RDMACHECK_TOKEN", "from-the-environment!")
    assert load_token(None, None) == b"from-the-environment!"
    with pytest.raises(Exception, match="at least 16"):
        load_token("short", None)
