"""The locked-down mode, on a real etcd with TLS and authentication on (ci/etcd/fleet-rbac.sh, the
documented recipe): an agent's user writes only under its own host's keys; the control keys and
another host's keys refuse it, whatever it tries; the coordinator's user writes the control keys.
(etcd's user tokens travel only over TLS: grpc will not send them on a plain channel.)"""
import os
import subprocess

import pytest

from rdmacheck.fleet import protocol as proto
from rdmacheck.fleet.protocol import PairOutcome
from rdmacheck.fleet.schedule import Pair
from rdmacheck.fleet.store import FleetStore
from rdmacheck.metadata.etcd import (
    EtcdConfig,
    EtcdStore,
    MetadataError,
    parse_metadata_url,
)
from rdmacheck.metadata.local_etcd import EtcdServer
from rdmacheck.words import Verdict
from tests.conftest import ROOT

CERTS = """set -e
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=rdmacheck-test-ca
openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=127.0.0.1
printf 'subjectAltName=IP:127.0.0.1\n' > ext.cnf
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 -extfile ext.cnf
"""


@pytest.fixture
def tls_etcd(tmp_path):
    """A throwaway etcd serving TLS with a CA made here (openssl, from the base system)."""
    r = subprocess.run(["bash", "-c", CERTS], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    (tmp_path / "etcd").mkdir()
    server = EtcdServer(tmp_path / "etcd", tls=(tmp_path / "server.pem", tmp_path / "server.key")).start()
    server.ca = tmp_path / "ca.pem"
    yield server
    server.remove()


def _store(etcd_server, user: str, password: str) -> FleetStore:
    cfg = EtcdConfig(parse_metadata_url(etcd_server.url), cluster="locked", ttl=2, timeout=2.0, user=user,
                     password=password, ca_cert=str(etcd_server.ca))
    return FleetStore(EtcdStore.connect(cfg), patience=1.0)


def test_with_etcd_auth_an_agent_writes_only_its_own_keys(tls_etcd):
    etcd_server = tls_etcd
    env = {**os.environ, "ETCDCTL_ENDPOINTS": f"https://127.0.0.1:{etcd_server.port}",
           "ETCDCTL_CACERT": str(etcd_server.ca)}
    r = subprocess.run(["bash", str(ROOT / "ci/etcd/fleet-rbac.sh"), "locked", "root-pw", "coord-pw", "h1:h1-pw",
                        "h2:h2-pw"], env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    coord, h1 = _store(etcd_server, "coordinator", "coord-pw"), _store(etcd_server, "h1", "h1-pw")
    try:
        coord.publish_leased(proto.COORDINATOR, {"pid": 1})
        coord.put_many({proto.plan_key(0): '{"run": "n", "index": 0, "pairs": [["h2", "h1"]]}'})
        coord.put(proto.ROUND, {"index": 0, "settings": {}, "run": "n", "shards": 1})
        h1.publish_leased(proto.agent_key("h1"), {"host": "h1"})  # its own keys, leased or not
        h1.put(proto.ready_key("h1"), {"run": "n", "round": 0, "addr": ["10.0.0.1", 1]})
        h1.put(proto.result_key(Pair("h2", "h1")), PairOutcome(0, "h2", "h1", Verdict.PASS, reported_by="h1").to_json())
        assert h1.get(proto.ROUND)["index"] == 0 and h1.get(proto.plan_key(0))["pairs"]  # it reads the run's keys
        forged = PairOutcome(0, "h1", "h2", Verdict.FAIL, finding="deadline", reported_by="h2").to_json()
        for name, value in ((proto.END, '{"reason": "forged"}'), (proto.ROUND, "{}"),
                            (proto.result_key(Pair("h1", "h2")), forged), (proto.agent_key("h2"), "{}"),
                            (proto.ready_key("h2"), "{}"), (proto.plan_key(0), '{"pairs": [["h1", "h9"]]}')):
            with pytest.raises(MetadataError, match="(?i)permission denied"):
                h1.put(name, value)
        with pytest.raises(MetadataError, match="(?i)permission denied"):
            h1.delete_prefix(proto.CONTROL)
        assert coord.get(proto.END) is None and coord.get(proto.ROUND)["index"] == 0
        coord.put(proto.END, {"reason": "run complete"})  # the coordinator's own
    finally:
        h1.close()
        coord.close()
