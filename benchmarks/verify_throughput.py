"""Benchmark (not a test): how fast the data check runs on this host - generating the pattern and
comparing 256 MiB (the seed test's size) against it. Goal >= 1 GB/s.

    .venv/bin/python benchmarks/verify_throughput.py [MiB]
"""
import sys
import time

from rdmacheck.pattern import check_pattern, new_seed, pattern

GOAL = 1e9
n = int(sys.argv[1] if len(sys.argv) > 1 else 256) << 20
seed = new_seed()
t0 = time.perf_counter()
data = pattern(seed, n)
t1 = time.perf_counter()
received = bytes(bytearray(data))  # a copy, as a buffer read back from an MR is
t2 = time.perf_counter()
assert check_pattern(seed, bytes(received)) is None
t3 = time.perf_counter()
gen, check = n / (t1 - t0), n / (t3 - t2)
print(f"{n >> 20} MiB: pattern generation {gen / 1e9:.2f} GB/s; verify (check_pattern: regenerate per MiB + compare) {check / 1e9:.2f} GB/s; "
      f"goal >= {GOAL / 1e9:.0f} GB/s: ratio {check / GOAL:.2f} -> {'met' if check >= GOAL else 'MISSED'}")
