"""Device facts read in-process over netlink (the lab test compares them with rdma and ip on real
devices), and which verbs failures are worth a retry."""
import pytest


def test_netlink_addresses_are_what_ip_addr_lists_and_a_missing_netdev_is_an_oserror():
    import json
    import socket
    import subprocess

    from rdmacheck.verbs import netlink

    for _, netdev in socket.if_nameindex():
        out = json.loads(subprocess.run(["ip", "-j", "addr", "show", "dev", netdev], capture_output=True, text=True,
                                        check=True).stdout)
        assert netlink.addresses(netdev) == [a["local"] for link in out for a in link.get("addr_info", [])]
    assert "127.0.0.1" in netlink.addresses("lo")
    with pytest.raises(OSError):
        netlink.addresses("no-such-netdev0")


def test_a_netlink_answer_that_does_not_parse_is_refused_not_misread(monkeypatch):
    from rdmacheck.verbs import netlink

    monkeypatch.setattr(netlink, "_ask", lambda *a, **k: [(b"", {})])  # a device without its index
    with pytest.raises(netlink.NetlinkError, match="does not parse: KeyError"):
        netlink.rdma_links()
    monkeypatch.undo()

    assert netlink._attrs(netlink._attr(3, b"\x01\x00\x00\x00") + netlink._attr(51, b"eth0\x00")) == {
        3: b"\x01\x00\x00\x00", 51: b"eth0\x00"}
    with pytest.raises(netlink.NetlinkError):
        netlink._attrs(b"\x02\x00\x03\x00")


def test_only_a_path_outage_or_a_connect_whose_local_port_is_held_is_retried():
    import errno

    from rdmacheck.verbs.cm import CmError
    from rdmacheck.verbs.errors import VerbsError

    assert CmError("rdma_connect", errno.EADDRINUSE).transient
    assert VerbsError("rdma_resolve_addr", errno.ENETUNREACH).transient
    assert not CmError("rdma_bind_addr", errno.EADDRINUSE).transient  # a listener's port in use: say so
    assert not CmError("rdma_connect", errno.EINVAL).transient
