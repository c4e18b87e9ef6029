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
