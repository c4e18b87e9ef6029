"""Framing: a 4-byte big-endian length, then that many bytes of UTF-8 JSON (one object).

A hard size cap is checked before anything is allocated, so a hostile length costs nothing.
"""

from __future__ import annotations

import json
import math
import socket
import struct
import time

MAX_FRAME = 64 * 1024
HEADER = struct.Struct(">I")
MAX_DEPTH = 8


class FrameError(Exception):
    """The bytes on the wire are not a valid frame; the message says what was wrong."""


class PeerClosed(FrameError):
    """The peer closed the connection (cleanly, at a frame boundary, or mid-frame)."""


def encode(obj: dict, max_size: int = MAX_FRAME) -> bytes:
    body = json.dumps(obj, separators=(",", ":")).encode()
    if len(body) > max_size:
        raise FrameError(f"frame of {len(body)} bytes exceeds the cap of {max_size}")
    return HEADER.pack(len(body)) + body


MAX_DIGITS = 20  # an integer field holds at most a u64 (Python would parse 4300 digits, slowly)


def _no_constant(name: str):
    raise FrameError(f"frame holds a non-finite number ({name})")


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise FrameError(f"frame holds a number of {len(text)} digits (at most {MAX_DIGITS})")
    return int(text)


def _float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise FrameError(f"frame holds a non-finite number ({text[:20]})")
    return v


def _object(pairs: list) -> dict:
    obj = {}
    for k, v in pairs:
        if k in obj:
            raise FrameError(f"frame repeats the duplicate key {k[:40]!r}")
        obj[k] = v
    return obj


def _check_shape(obj) -> None:
    """Depth (iteratively: no recursion to exhaust) and text that is not valid Unicode (lone surrogates)."""
    todo = [(obj, 1)]
    while todo:
        v, level = todo.pop()
        if level > MAX_DEPTH and isinstance(v, (dict, list)):
            raise FrameError(f"frame nests deeper than {MAX_DEPTH} levels")
        items = list(v.items()) if isinstance(v, dict) else [(None, x) for x in v] if isinstance(v, list) else []
        for k, x in items:
            for text in (k, x):
                if isinstance(text, str) and any("\ud800" <= c <= "\udfff" for c in text):
                    raise FrameError("frame holds a lone UTF-16 surrogate (\\uD800-\\uDFFF), not text")
            if isinstance(x, (dict, list)):
                todo.append((x, level + 1))


def decode_body(body: bytes) -> dict:
    """One JSON object, or a FrameError saying why not: everything json accepts that a handshake must
    not (NaN/Infinity, duplicate keys, numbers beyond a u64, lone surrogates, deep nesting) included."""
    try:
        obj = json.loads(body.decode("utf-8"), parse_constant=_no_constant, parse_int=_int, parse_float=_float,
                         object_pairs_hook=_object)
    except RecursionError:
        raise FrameError(f"frame nests deeper than {MAX_DEPTH} levels (the decoder's recursion limit)") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise FrameError(f"frame is not UTF-8 JSON: {str(e)[:80]}") from None
    if not isinstance(obj, dict):
        raise FrameError(f"frame must hold a JSON object, not {type(obj).__name__}")
    _check_shape(obj)
    return obj


def recv_exact(sock: socket.socket, n: int, deadline: float, what: str) -> bytes:
    chunks = []
    got = 0
    while got < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"timed out waiting for {what}")
        sock.settimeout(left)
        try:
            chunk = sock.recv(min(n - got, 65536))
        except socket.timeout:
            raise TimeoutError(f"timed out waiting for {what}") from None
        if not chunk:
            raise PeerClosed("peer closed the connection" + (f" after {got} of {n} bytes of {what}" if got else ""))
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frame(sock: socket.socket, deadline: float, max_size: int = MAX_FRAME, what: str = "a frame") -> dict:
    (length,) = HEADER.unpack(recv_exact(sock, HEADER.size, deadline, what))
    if length == 0:
        raise FrameError("empty frame")
    if length > max_size:
        raise FrameError(f"declared frame length {length} exceeds the cap of {max_size}")
    return decode_body(recv_exact(sock, length, deadline, what))


def send_frame(sock: socket.socket, obj: dict, deadline: float) -> None:
    data = encode(obj)
    sock.settimeout(max(0.001, deadline - time.monotonic()))
    try:
        sock.sendall(data)
    except socket.timeout:
        raise TimeoutError("timed out sending a frame") from None
