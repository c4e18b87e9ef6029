"""What one handshake connection can make a target do is bounded before any QP is created: one peer
name per connection, at most MAX_PEERS names; and the Mooncake peer keeps bounded state too."""
from rdmacheck.handshake.messages import QPInfo, Reject
from rdmacheck.handshake.server import Session
from rdmacheck.mooncake import peer as mc_peer
from rdmacheck.roles.config import RoleConfig
from rdmacheck.roles.events import EventLog
from rdmacheck.roles.target import MAX_PEERS, TargetRole
from rdmacheck.words import Role


def _qp(name: str) -> QPInfo:
    return QPInfo(name=name, generation=1, device="rxe0", port=1, gid="fe80::1", lid=0, mtu=1024, qpn=17, psn=1)


def _target() -> TargetRole:
    t = TargetRole(RoleConfig(role=Role.TARGET, device="rxe0", name="target"), EventLog("target", "t", 1))
    t.dev, t.mode = object(), "oob"  # the limits are checked before anything touches the device
    return t


def test_one_connection_connects_one_peer_name():
    t = _target()
    session = Session(peer_addr="127.0.0.1:1", sock=None, state={"peer": "first"})
    reply = t._connect(session, _qp("second"), "oob")
    assert isinstance(reply, Reject) and "one peer" in reply.reason and t.peers == {}


def test_a_target_keeps_at_most_max_peers_names():
    t = _target()
    t.peers = {f"p{i}": object() for i in range(MAX_PEERS)}
    reply = t._connect(Session(peer_addr="127.0.0.1:1", sock=None), _qp("one-more"), "oob")
    assert isinstance(reply, Reject) and "too many peers" in reply.reason and reply.transient
    assert len(t.peers) == MAX_PEERS


def test_the_mooncake_peer_keeps_a_bounded_number_of_descriptors_and_dialects():
    p = mc_peer.MooncakePeer.__new__(mc_peer.MooncakePeer)  # its state only: no device, no socket
    import threading

    p.segments, p.dialects, p.lock = {}, {}, threading.Lock()
    p.descriptor = lambda: type("D", (), {"to_json": lambda self: {}})()
    for i in range(mc_peer.MAX_PEERS + 10):
        p.dialect(f"10.0.0.{i}:1")
    assert len(p.dialects) == mc_peer.MAX_PEERS
    assert "10.0.0.0:1" not in p.dialects and f"10.0.0.{mc_peer.MAX_PEERS + 9}:1" in p.dialects
