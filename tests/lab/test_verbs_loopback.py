"""Real verbs on rxe0: two RC QPs on one device, one RDMA WRITE, bytes checked in the target MR."""
import os

from rdmacheck.verbs.rc import Buffer, Device, QPTuning, QueuePair, RemoteQP
from tests.conftest import require_device


def _remote(qp: QueuePair, dev: Device) -> RemoteQP:
    return RemoteQP(qpn=qp.qpn, psn=qp.psn, gid=dev.gid.gid, lid=dev.lid, mtu=dev.active_mtu)


def test_rxe_loopback_write_lands_in_receiver_mr():
    require_device("rxe0")
    dev = Device.open("rxe0")
    assert dev.gid.type == "RoCE v2" and dev.gid.ip == "169.254.30.1"
    a, b = QueuePair.create(dev, QPTuning()), QueuePair.create(dev, QPTuning())
    a.connect(_remote(b, dev))
    b.connect(_remote(a, dev))
    assert a.state() == "RTS" and b.state() == "RTS"
    src, dst = Buffer(dev, 1 << 16), Buffer(dev, 1 << 16)
    payload = os.urandom(1 << 16)
    src.write(0, payload)
    assert dst.read(0, 1 << 16) != payload
    a.transfer("write", src, 0, dst.addr, dst.rkey, 1 << 16, deadline_s=10, chunk=4096)
    assert dst.read(0, 1 << 16) == payload
    for x in (a, b):
        x.destroy()
    for m in (src, dst):
        m.close()
    dev.close()


def test_devices_json_lists_rxe0_and_siw0_active_with_a_rocev2_ipv4_gid():
    import json

    from tests.conftest import rdmacheck

    require_device("rxe0")
    r = rdmacheck("devices", "--json")
    assert r.returncode == 0, r.stderr
    devs = {d["name"]: d for d in json.loads(r.stdout)["devices"]}
    assert {"rxe0", "siw0"} <= set(devs)
    assert devs["rxe0"]["provider"] == "rxe" and devs["siw0"]["node_type"] == "RNIC"
    for name in ("rxe0", "siw0"):
        assert devs[name]["ports"][0]["state"] == "ACTIVE"
    gids = devs["rxe0"]["ports"][0]["gids"]
    assert any(g["type"] == "RoCE v2" and g["ip"] == "169.254.30.1" for g in gids), gids


def test_netlink_sees_each_device_ports_netdev_and_addresses_as_the_rdma_and_ip_tools_do():
    """The netdevs and addresses a role finds in-process are the ones `rdma link` and `ip addr` print."""
    import json
    import subprocess

    from rdmacheck.verbs import netlink

    require_device("siw0")
    shown = json.loads(subprocess.run(["rdma", "-j", "link", "show"], capture_output=True, text=True,
                                      check=True).stdout)
    expected = {f'{link["ifname"]}/{link["port"]}': link["netdev"] for link in shown if link.get("netdev")}
    found = netlink.rdma_links()
    assert found == expected and found["siw0/1"] == "sw0" and found["rxe0/1"] == "rx0", (found, expected)
    for netdev in set(expected.values()):
        out = json.loads(subprocess.run(["ip", "-j", "addr", "show", "dev", netdev], capture_output=True, text=True,
                                        check=True).stdout)
        assert netlink.addresses(netdev) == [a["local"] for link in out for a in link.get("addr_info", [])]
    assert "169.254.10.1" in netlink.addresses("sw0")
