"""Sizes on the command line: 4096, 64K, 64KiB, 256M, 256MiB, 4G (powers of two)."""

from __future__ import annotations

import re

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*(\d+)\s*([KMGT]?)(i?B)?\s*", str(text), re.IGNORECASE)
    if not m:
        raise ValueError(f"{text!r} is not a size (e.g. 4096, 64KiB, 256MiB, 4GiB)")
    n = int(m.group(1)) * _UNITS[m.group(2).upper()]
    if n <= 0:
        raise ValueError(f"size must be positive, got {text!r}")
    return n


def format_size(n: int) -> str:
    for unit, mult in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= mult and n % mult == 0:
            return f"{n // mult} {unit}"
    return f"{n} B"
