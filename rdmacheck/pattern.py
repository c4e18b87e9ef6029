"""The data written each round and how it is checked, byte for byte.

Each 4 KiB block starts with (seed, block index) and continues with bytes derived from the seed,
so a misplaced block, a stale buffer from an earlier round (other seed) or a write that never
arrived all fail the comparison. A new seed every round is what catches a reused QP whose
writes complete but never land.
"""

from __future__ import annotations

import hashlib
import random
import struct
from dataclasses import dataclass

BLOCK = 4096


def new_seed() -> int:
    return random.getrandbits(63)


def pattern(seed: int, length: int) -> bytes:
    body = hashlib.shake_256(seed.to_bytes(8, "little")).digest(BLOCK - 16)
    head = struct.Struct("<QQ")
    blocks = (length + BLOCK - 1) // BLOCK
    return b"".join(head.pack(seed, k) + body for k in range(blocks))[:length]


@dataclass(frozen=True)
class Mismatch:
    offset: int  # first differing byte
    expected: int
    found: int
    differing_bytes: int  # in the compared region


def first_mismatch(expected: bytes, found: bytes) -> Mismatch | None:
    """None when equal; else where they first differ (a memcmp first, a byte scan only on failure)."""
    if expected == found:
        return None
    n = min(len(expected), len(found))
    lo = 0
    step = BLOCK
    while lo < n and expected[lo:lo + step] == found[lo:lo + step]:
        lo += step
    off = next((i for i in range(lo, min(n, lo + step)) if expected[i] != found[i]), n)
    if off >= n:
        return Mismatch(n, -1, -1, abs(len(expected) - len(found)))
    diff = sum(1 for a, b in zip(expected, found) if a != b) if n <= (1 << 20) else -1
    return Mismatch(off, expected[off], found[off], diff)


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()
