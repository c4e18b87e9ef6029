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


_HEAD = struct.Struct("<QQ")


def pattern(seed: int, length: int) -> bytes:
    body = hashlib.shake_256(seed.to_bytes(8, "little")).digest(BLOCK - 16)
    blocks = (length + BLOCK - 1) // BLOCK
    # Repeat one block at memcpy speed, then stamp each block's header in place (fast enough
    # to check the seed test's 256 MiB at well over 1 GB/s; joining per-block bytes was 0.15 GB/s).
    out = bytearray((bytes(16) + body) * blocks)
    pack = _HEAD.pack_into
    for k in range(blocks):
        pack(out, k * BLOCK, seed, k)
    del out[length:]
    return bytes(out)


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


CHECK_CHUNK = 256 * BLOCK  # 1 MiB: regenerated into one reused buffer, so no fresh pages per check


def check_pattern(seed: int, found: bytes) -> Mismatch | None:
    """first_mismatch(pattern(seed, len(found)), found) without building the whole expected pattern:
    fresh memory (page faults) costs more than the comparison itself."""
    if not found:
        return None
    body = hashlib.shake_256(seed.to_bytes(8, "little")).digest(BLOCK - 16)
    found = found if isinstance(found, (bytes, bytearray)) else bytes(found)
    # No bigger than the data: a 64 KiB check building a 1 MiB chunk took 17 ms in the lab guest.
    chunk = bytearray((bytes(16) + body) * min(CHECK_CHUNK // BLOCK, (len(found) + BLOCK - 1) // BLOCK))
    size = len(chunk)
    pack = _HEAD.pack_into
    for start in range(0, len(found), size):
        n = min(size, len(found) - start)
        first = start // BLOCK
        for k in range((n + BLOCK - 1) // BLOCK):
            pack(chunk, k * BLOCK, seed, first + k)
        expected = chunk if n == size else chunk[:n]
        if not found.startswith(expected, start):  # a memcmp in place (memoryview == is item by item)
            mm = first_mismatch(bytes(expected), found[start:start + n])
            assert mm is not None
            return Mismatch(start + mm.offset, mm.expected, mm.found, -1 if len(found) > size else
                            mm.differing_bytes)
    return None


def digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()
