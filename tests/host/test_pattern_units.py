import pytest

from rdmacheck.pattern import BLOCK, first_mismatch, pattern
from rdmacheck.units import format_size, parse_size


def test_pattern_is_deterministic_and_seed_dependent():
    assert pattern(1, 10000) == pattern(1, 10000)
    assert pattern(1, 10000) != pattern(2, 10000)
    assert len(pattern(3, 5)) == 5


def test_every_block_is_distinct_so_misplaced_blocks_fail():
    p = pattern(9, 4 * BLOCK)
    blocks = {p[i:i + BLOCK] for i in range(0, len(p), BLOCK)}
    assert len(blocks) == 4


def test_first_mismatch_locates_the_byte():
    a = pattern(5, 3 * BLOCK)
    b = bytearray(a)
    b[BLOCK + 7] ^= 0xFF
    mm = first_mismatch(a, bytes(b))
    assert mm.offset == BLOCK + 7 and mm.differing_bytes == 1
    assert mm.expected == a[BLOCK + 7] and mm.found == b[BLOCK + 7]
    assert first_mismatch(a, a) is None


def test_a_stale_buffer_from_another_round_fails():
    assert first_mismatch(pattern(1, 8192), pattern(2, 8192)) is not None


@pytest.mark.parametrize("text,n", [("4096", 4096), ("64K", 65536), ("64KiB", 65536), ("256MiB", 256 << 20),
                                    ("4G", 4 << 30), ("1 MiB", 1 << 20)])
def test_parse_size(text, n):
    assert parse_size(text) == n


@pytest.mark.parametrize("text", ["", "abc", "0", "-1", "1.5M", "10X"])
def test_parse_size_rejects(text):
    with pytest.raises(ValueError):
        parse_size(text)


def test_format_size():
    assert format_size(256 << 20) == "256 MiB" and format_size(1000) == "1000 B"


def test_check_pattern_agrees_with_the_full_comparison_across_chunk_boundaries():
    from rdmacheck.pattern import CHECK_CHUNK, check_pattern, first_mismatch, pattern

    n = 2 * CHECK_CHUNK + 5000
    good = pattern(7, n)
    assert check_pattern(7, good) is None
    for off in (0, 17, CHECK_CHUNK - 1, CHECK_CHUNK, 2 * CHECK_CHUNK + 4999):
        bad = bytearray(good)
        bad[off] ^= 0xFF
        got = check_pattern(7, bytes(bad))
        assert got is not None and got.offset == off == first_mismatch(good, bytes(bad)).offset
        assert (got.expected, got.found) == (good[off], bad[off])
    assert check_pattern(8, good).offset == 0  # another round's seed: the first header differs
    small = pattern(3, 100)
    assert check_pattern(3, small) is None and check_pattern(3, small[:50] + b"x" + small[51:]).offset == 50


def test_check_pattern_on_data_smaller_than_one_chunk():
    from rdmacheck.pattern import check_pattern, pattern

    assert check_pattern(3, b"") is None
    for n in (1, 4095, 4097, 65536):
        data = bytearray(pattern(3, n))
        assert check_pattern(3, bytes(data)) is None
        data[n // 2] ^= 0xFF
        got = check_pattern(3, bytes(data))
        assert got is not None and got.offset == n // 2 and got.differing_bytes == 1
