"""Framing: a 4-byte big-endian length, then that many bytes of UTF-8 JSON (one object).

A hard size cap is checked before anything is allocated, so a hostile length costs nothing.
"""

from __future__ import annotations

import json
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


def _depth(obj, level: int = 0) -> int:
    if level > MAX_DEPTH:
        return level
    if isinstance(obj, dict):
        return max((_depth(v, level + 1) for v in obj.values()), default=level + 1)
    if isinstance(obj, list):
        return max((_depth(v, level + 1) for v in obj), default=level + 1)
    return level


def decode_body(body: bytes) -> dict:
    try:
        obj = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise FrameError(f"frame is not UTF-8 JSON: {str(e)[:80]}") from None
    if not isinstance(obj, dict):
        raise FrameError(f"frame must hold a JSON object, not {type(obj).__name__}")
    if _depth(obj) > MAX_DEPTH:
        raise FrameError(f"frame nests deeper than {MAX_DEPTH} levels")
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
