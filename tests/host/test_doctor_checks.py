"""Each doctor check on fixtures (sysfs / dev trees in a temp dir, DeviceInfo values)."""
import os
import resource

import pytest

from rdmacheck.doctor import checks as c
from rdmacheck.doctor.checks import HostPaths
from rdmacheck.verbs.devices import DeviceInfo, PortInfo
from rdmacheck.verbs.gid import GidEntry
from tests.conftest import rdmacheck


@pytest.fixture
def tree(tmp_path):
    (tmp_path / "ib").mkdir()
    (tmp_path / "dev").mkdir()
    (tmp_path / "net" / "eth0").mkdir(parents=True)
    (tmp_path / "net" / "eth0" / "mtu").write_text("1500\n")
    (tmp_path / "modules").write_text("rdma_rxe 131072 0 - Live 0x0\nib_uverbs 167936 1 rdma_rxe, Live 0x0\n")
    lib = tmp_path / "lib" / "libibverbs"
    lib.mkdir(parents=True)
    (lib / "librxe-rdmav34.so").write_text("")
    return HostPaths(sysfs_ib=tmp_path / "ib", dev_ib=tmp_path / "dev", proc_modules=tmp_path / "modules",
                     sysfs_net=tmp_path / "net", provider_glob=str(tmp_path / "lib/libibverbs/lib{provider}-rdmav*.so"))


def test_kernel_support(tree, tmp_path):
    assert c.kernel_support(HostPaths(sysfs_ib=tmp_path / "none")).status == c.FAIL
    assert "rdmacheck lab run" in c.kernel_support(HostPaths(sysfs_ib=tmp_path / "none")).hint
    assert c.kernel_support(tree).status == c.FAIL  # exists but empty
    (tree.sysfs_ib / "rxe0").mkdir()
    ok = c.kernel_support(tree)
    assert ok.status == c.PASS and "rxe0" in ok.reason


def test_uverbs_and_rdma_cm_nodes(tree):
    assert c.uverbs_devices(tree).status == c.FAIL
    assert c.rdma_cm_device(tree).status == c.WARN
    (tree.dev_ib / "uverbs0").write_text("")
    (tree.dev_ib / "rdma_cm").write_text("")
    assert c.uverbs_devices(tree).status == c.PASS and c.rdma_cm_device(tree).status == c.PASS
    if os.geteuid() != 0:  # root can open anything: the permission branch is only testable as a user
        os.chmod(tree.dev_ib / "uverbs0", 0)
        assert c.uverbs_devices(tree).status == c.FAIL


def test_modules(tree, tmp_path):
    ok = c.loaded_modules(tree)
    assert ok.status == c.PASS and "ib_uverbs" in ok.reason and "rdma_rxe" in ok.reason
    assert c.loaded_modules(HostPaths(proc_modules=tmp_path / "nope")).status == c.SKIP
    (tmp_path / "m2").write_text("ext4 1 0 - Live 0x0\n")
    assert c.loaded_modules(HostPaths(proc_modules=tmp_path / "m2")).status == c.WARN


def test_memlock():
    assert c.memlock(64 << 20, (8 << 20, 8 << 20)).status == c.FAIL
    assert "ulimit -l unlimited" in c.memlock(64 << 20, (8 << 20, 8 << 20)).hint
    assert c.memlock(64 << 20, (128 << 20, 128 << 20)).status == c.PASS
    assert c.memlock(1 << 40, (resource.RLIM_INFINITY, resource.RLIM_INFINITY)).status == c.PASS


def test_userspace_and_provider(tree):
    assert c.userspace("44.0-2", False).status == c.FAIL
    assert c.provider_library("rxe", tree).status == c.PASS
    assert c.provider_library("mlx5", tree).status == c.FAIL


def port(**kw):
    base = dict(port=1, state="ACTIVE", phys_state="LINK_UP", link_layer="Ethernet", active_mtu=1024, max_mtu=4096,
                lid=0, speed="1x 2.5 Gb/s", netdev="eth0", netdev_ips=["10.0.0.1"], gids=[])
    return PortInfo(**{**base, **kw})


def test_port_state():
    assert c.port_state("rxe0", port()).status == c.PASS
    down = c.port_state("rxe0", port(state="DOWN", phys_state="DISABLED"))
    assert down.status == c.FAIL and "ip link set eth0 up" in down.hint


def test_mtu():
    assert c.mtu_check("rxe0", port(), 1500, False).status == c.PASS
    assert "mtu 9000" in c.mtu_check("rxe0", port(), 1500, False).hint
    assert c.mtu_check("rxe0", port(active_mtu=4096), 9000, False).status == c.PASS
    bad = c.mtu_check("rxe0", port(active_mtu=4096), 1500, False)
    assert bad.status == c.WARN and "allows 1024" in bad.reason
    assert c.mtu_check("rxe0", port(), None, False).status == c.SKIP


def test_gid_index_is_named_for_users():
    gids = [GidEntry(0, "fe80:0000:0000:0000:0200:00ff:fe00:0000", "RoCE v2", "eth0", "fe80::200:ff:fe00:0"),
            GidEntry(1, "0000:0000:0000:0000:0000:ffff:0a00:0001", "RoCE v2", "eth0", "10.0.0.1")]
    ok = c.gid_check("rxe0", port(gids=gids), False)
    assert ok.status == c.PASS and "index 1 carries 10.0.0.1" in ok.reason and "NCCL_IB_GID_INDEX=1" in ok.reason
    bad = c.gid_check("rxe0", port(gids=gids[:1]), False)
    assert bad.status == c.FAIL and "valid indexes: 0" in bad.reason and "assign an IPv4 address" in bad.hint
    assert c.gid_check("siw0", port(), True).status == c.PASS
    assert c.gid_check("siw0", port(netdev_ips=[]), True).status == c.FAIL


def test_mr_size():
    dev = DeviceInfo("x", "rxe", "CA", "InfiniBand", "0", "0", 100, 1 << 20, 16, [])
    assert c.mr_size(dev, 1 << 30).status == c.FAIL and c.mr_size(dev, 4096).status == c.PASS


def test_doctor_cli_on_a_host_without_rdma():
    if os.path.isdir("/sys/class/infiniband"):
        pytest.skip("this host has RDMA support")
    r = rdmacheck("doctor", "--json")
    assert r.returncode == 1
    import json
    d = json.loads(r.stdout)
    assert d["healthy"] is False and d["checks"][0]["status"] == "FAIL"
    assert "rdmacheck lab" in d["checks"][0]["hint"]
    assert "Traceback" not in r.stderr


def test_iwarp_netdev_in_another_namespace_is_a_skip():
    assert c.gid_check("siw2", port(netdev=None, netdev_ips=[]), True).status == c.SKIP
