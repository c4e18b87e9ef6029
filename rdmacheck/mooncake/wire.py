"""Mooncake's handshake framing: <u64 LE length><u8 type><JSON text "\n">, one message per TCP
connection; the length counts the type byte and the text. The server answers with the same type
and shuts down its write side. Observed on mooncake-transfer-engine-non-cuda 0.3.13.post1.
"""

from __future__ import annotations

import json
import socket
import struct
import time

from rdmacheck.handshake.wire import FrameError, decode_body, recv_exact

CONNECTION, METADATA, NOTIFY, PROBE = 0, 1, 2, 3
KINDS = {CONNECTION: "connection", METADATA: "metadata", NOTIFY: "notify", PROBE: "probe"}
MAX_MESSAGE = 1 << 20  # the engine's default cap
HEADER = struct.Struct("<Q")


def encode(kind: int, obj: dict) -> bytes:
    body = bytes([kind]) + (json.dumps(obj, separators=(",", ":")) + "\n").encode()
    if len(body) > MAX_MESSAGE:
        raise FrameError(f"{KINDS[kind]} message of {len(body)} bytes exceeds the cap of {MAX_MESSAGE}")
    return HEADER.pack(len(body)) + body


def decode(body: bytes) -> tuple[int, dict]:
    """(type, JSON object) of one message body; an empty text is an empty object."""
    kind = body[0]
    if kind not in KINDS:
        raise FrameError(f"unknown message type {kind} (0 connection, 1 metadata, 2 notify, 3 probe)")
    text = body[1:].strip()
    return kind, (decode_body(text) if text else {})


def read_message(sock: socket.socket, deadline: float, what: str) -> tuple[int, dict]:
    (length,) = HEADER.unpack(recv_exact(sock, HEADER.size, deadline, what))
    if not 1 <= length <= MAX_MESSAGE:
        raise FrameError(f"declared message length {length} is outside [1, {MAX_MESSAGE}]")
    return decode(recv_exact(sock, length, deadline, what))


def request(host: str, port: int, kind: int, obj: dict, timeout: float) -> dict:
    """Send one message on a new connection and return the reply's JSON (same type required)."""
    deadline = time.monotonic() + timeout
    what = f"the {KINDS[kind]} reply from {host}:{port}"
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except socket.timeout:
        raise TimeoutError(f"timed out connecting to {host}:{port} for a {KINDS[kind]} request") from None
    with sock:
        sock.settimeout(max(0.001, deadline - time.monotonic()))
        sock.sendall(encode(kind, obj))
        got, reply = read_message(sock, deadline, what)
    if got != kind:
        raise FrameError(f"{host}:{port} answered a {KINDS[kind]} request with a {KINDS[got]} message")
    return reply
