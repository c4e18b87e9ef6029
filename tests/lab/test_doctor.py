"""rdmacheck doctor on the lab's real rxe and siw devices."""
import json

from tests.conftest import rdmacheck, require_device


def checks_of(out: str, group: str) -> dict:
    return {c["name"]: c for c in json.loads(out)["checks"] if c["group"] == group}


def test_doctor_is_healthy_and_names_the_rocev2_gid_index():
    require_device("rxe0")
    require_device("siw0")
    r = rdmacheck("doctor", "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    host = checks_of(r.stdout, "host")
    assert host["kernel RDMA support"]["status"] == "PASS" and "rxe0" in host["kernel RDMA support"]["reason"]
    assert host["uverbs character devices"]["status"] == "PASS"
    for dev in ("rxe0", "siw0"):
        checks = checks_of(r.stdout, dev)
        assert checks and all(c["status"] == "PASS" for c in checks.values()), checks
    gid = checks_of(r.stdout, "rxe0")["port 1 GID"]["reason"]
    assert "RoCE v2 GID index 1 carries 169.254.30.1" in gid
    assert "rdma_cm uses 169.254.10.1" in checks_of(r.stdout, "siw0")["port 1 GID"]["reason"]


def test_deep_self_test_and_reset_probe():
    require_device("rxe0")
    require_device("siw0")
    rxe = rdmacheck("doctor", "--deep", "-d", "rxe0", "--json", timeout=300)
    assert rxe.returncode == 0, rxe.stdout + rxe.stderr
    c = checks_of(rxe.stdout, "rxe0")
    assert c["self-test"]["status"] == "PASS"
    assert "carries data on this device" in c["reset probe"]["reason"]
    siw = rdmacheck("doctor", "--deep", "-d", "siw0", "--json", timeout=300)
    assert siw.returncode == 0, siw.stdout + siw.stderr
    c = checks_of(siw.stdout, "siw0")
    assert c["self-test"]["status"] == "PASS" and "(cm)" in c["self-test"]["reason"]
    assert "does NOT work here" in c["reset probe"]["reason"]


def test_deep_doctor_over_every_lab_device_is_healthy_siw2_checked_in_its_namespace():
    for dev in ("rxe0", "siw0", "siw1", "siw2"):
        require_device(dev)
    r = rdmacheck("doctor", "--deep", "--json", timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    every = json.loads(r.stdout)["checks"]
    assert all(c["reason"].strip() for c in every), [c for c in every if not c["reason"].strip()]
    siw2 = checks_of(r.stdout, "siw2")
    assert siw2["self-test"]["status"] == "PASS" and "(in network namespace hostb)" in siw2["self-test"]["reason"]
