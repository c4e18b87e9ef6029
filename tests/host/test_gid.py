import pytest

from rdmacheck.verbs.gid import GidEntry, default_gid, gid_ip, is_zero_gid, normalize_gid


def test_ipv4_mapped_gid_gives_ipv4():
    assert gid_ip("0000:0000:0000:0000:0000:ffff:7f00:0001") == "127.0.0.1"


def test_link_local_gid_gives_ipv6_and_zero_gid_none():
    assert gid_ip("fe80:0000:0000:0000:0200:00ff:fe00:0000") == "fe80::200:ff:fe00:0"
    assert gid_ip("0000:0000:0000:0000:0000:0000:0000:0000") is None
    assert gid_ip("not a gid") is None


def test_normalize_accepts_mooncake_byte_form_and_short_ipv6():
    full = "0000:0000:0000:0000:0000:ffff:0a4d:0001"
    assert normalize_gid("00:00:00:00:00:00:00:00:00:00:ff:ff:0a:4d:00:01") == full
    assert normalize_gid("::ffff:10.77.0.1") == full
    with pytest.raises(ValueError):
        normalize_gid("zz::1::2")


def test_default_gid_prefers_rocev2_ipv4_then_skips_zero():
    table = [
        GidEntry(0, "fe80:0000:0000:0000:0200:00ff:fe00:0000", "RoCE v1", "eth0", "fe80::200:ff:fe00:0"),
        GidEntry(1, "fe80:0000:0000:0000:0200:00ff:fe00:0000", "RoCE v2", "eth0", "fe80::200:ff:fe00:0"),
        GidEntry(2, "0000:0000:0000:0000:0000:0000:0000:0000", "RoCE v2", "eth0", None),
        GidEntry(3, "0000:0000:0000:0000:0000:ffff:0a00:0001", "RoCE v2", "eth0", "10.0.0.1"),
    ]
    assert default_gid(table).index == 3
    assert default_gid(table[:3]).index == 1
    assert default_gid([table[2]]) is None
    assert is_zero_gid(table[2].gid)
