"""The endpoint manager's state machine, driven through every interleaving that matters for one
endpoint pair. QPs come from a bookkeeping fabric (pure logic; the lab runs the real one) and
handshakes go through a gate the test opens and answers by hand, so the order is exact."""
import queue
import threading
import time

import pytest

from rdmacheck.errors import DeadlineExceeded
from rdmacheck.handshake.messages import QPInfo
from rdmacheck.simopen.manager import (CONNECTED, CONNECTING, IDLE, Backoff, EndpointKey, EndpointManager,
                                       HandshakeFailed)


class BookFabric:
    """QPs as records: a QP connects once, a destroyed QP is never used again."""

    def __init__(self, name: str, generation: int = 1, first_qpn: int = 100):
        self.name, self.generation, self.next = name, generation, first_qpn
        self.live: dict[int, int | None] = {}  # qpn -> peer qpn it is connected to
        self.destroyed: set[int] = set()

    def create(self) -> int:
        self.next += 1
        self.live[self.next] = None
        return self.next

    def info(self, qp: int) -> QPInfo:
        return QPInfo(name=self.name, generation=self.generation, device="dev0", port=1, gid="::1", lid=0,
                      mtu=1024, qpn=qp, psn=0)

    def connect(self, qp: int, peer: QPInfo) -> None:
        assert qp not in self.destroyed, f"connect on destroyed QP {qp}"
        assert self.live[qp] is None, f"QP {qp} connected twice (to {self.live[qp]}, then {peer.qpn})"
        self.live[qp] = peer.qpn

    def destroy(self, qp: int) -> None:
        assert qp not in self.destroyed, f"QP {qp} destroyed twice"
        self.destroyed.add(qp)
        del self.live[qp]


class Gate:
    """A dialer whose handshakes wait until the test answers them."""

    def __init__(self):
        self.sent: queue.Queue = queue.Queue()

    def __call__(self, key, local, timeout):
        box: queue.Queue = queue.Queue()
        self.sent.put((key, local, box))
        result = box.get(timeout=timeout)
        if isinstance(result, Exception):
            raise result
        return result

    def next(self, timeout=2.0):
        return self.sent.get(timeout=timeout)


KA = EndpointKey("dev0", "B", "dev0", 0)  # A's key for its endpoint to B
KB = EndpointKey("dev0", "A", "dev0", 0)


def side(name, policy="reuse", generation=1, first_qpn=100):
    fab, gate = BookFabric(name, generation, first_qpn), Gate()
    return EndpointManager(fab, gate, policy=policy, backoff=Backoff(first=0.001, cap=0.002)), fab, gate


def in_thread(fn, *args):
    out: dict = {}

    def run():
        try:
            out["value"] = fn(*args)
        except Exception as e:  # noqa: BLE001
            out["error"] = e
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, out


def wait_state(mgr, key, state, timeout=2.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ep = mgr.endpoints.get(key)
        if ep is not None and ep.state == state:
            return ep
        time.sleep(0.001)
    raise AssertionError(f"{key} never reached {state}")


def paired(a, fa, b, fb):
    """Both maps hold one endpoint each, connected to each other."""
    ea, eb = a.endpoints[KA], b.endpoints[KB]
    assert ea.state == eb.state == CONNECTED
    assert fa.live[ea.qp] == eb.qp and fb.live[eb.qp] == ea.qp
    assert ea.peer.qpn == eb.qp and eb.peer.qpn == ea.qp
    assert ea.crossed is None and eb.crossed is None
    return ea, eb


def test_one_side_opens_the_other_answers():
    a, fa, _ = side("A")
    b, fb, _ = side("B", first_qpn=200)
    ta, out = in_thread(a.get, KA, 2.0)
    key, local, box = a.dial.next()
    box.put(b.on_handshake(KB, local))
    ta.join(2)
    ea, eb = paired(a, fa, b, fb)
    assert out["value"] is ea
    assert b.get(KB, 1.0) is eb  # already connected: no handshake
    assert a.stats.sent == 1 and b.stats.sent == 0 and b.stats.answered == 1


def test_both_active_first_each_passive_merges_into_its_connecting_endpoint():
    a, fa, _ = side("A")
    b, fb, _ = side("B", first_qpn=200)
    ta, _ = in_thread(a.get, KA, 2.0)
    tb, _ = in_thread(b.get, KB, 2.0)
    _, a_local, a_box = a.dial.next()
    _, b_local, b_box = b.dial.next()
    assert a.endpoints[KA].state == CONNECTING and b.endpoints[KB].state == CONNECTING
    # Both handshakes cross in the network: each passive side sees its endpoint CONNECTING.
    a_reply = b.on_handshake(KB, a_local)
    b_reply = a.on_handshake(KA, b_local)
    assert a_reply.qpn == b_local.qpn and b_reply.qpn == a_local.qpn  # the same QPs both ways
    a_box.put(a_reply)
    b_box.put(b_reply)
    ta.join(2)
    tb.join(2)
    paired(a, fa, b, fb)
    assert a.stats.merged == b.stats.merged == 1 and a.stats.crossed == b.stats.crossed == 0
    assert len(fa.live) == len(fb.live) == 1  # no second QP on either side


def test_passive_arrives_while_connecting_then_the_reply_is_merged_not_applied_twice():
    a, fa, _ = side("A")
    b, fb, _ = side("B", first_qpn=200)
    eb = b._ensure(KB)  # B has a QP for the endpoint but has not dialed
    ta, _ = in_thread(a.get, KA, 2.0)
    _, a_local, a_box = a.dial.next()
    a.on_handshake(KA, fb.info(eb.qp))  # B's handshake lands while A is CONNECTING
    assert a.endpoints[KA].state == CONNECTED
    a_box.put(b.on_handshake(KB, a_local))  # then A's reply (BookFabric fails a second connect)
    ta.join(2)
    paired(a, fa, b, fb)


def test_duplicate_handshake_is_idempotent():
    a, fa, _ = side("A")
    _, fb, _ = side("B", first_qpn=200)
    peer = fb.info(fb.create())
    first = a.on_handshake(KA, peer)
    again = a.on_handshake(KA, peer)
    assert first == again and a.stats.repeated == 1
    assert len(fa.live) == 1 and fa.live[first.qpn] == peer.qpn


def test_another_peer_qp_means_the_peer_restarted_and_the_qp_is_recreated():
    a, fa, _ = side("A")
    _, fb, _ = side("B", first_qpn=200)
    old = a.on_handshake(KA, fb.info(fb.create()))
    fb.generation = 2
    new = a.on_handshake(KA, fb.info(fb.create()))
    assert new.qpn != old.qpn and old.qpn in fa.destroyed
    assert a.stats.peer_restarts == 1 and a.endpoints[KA].epoch == 1
    assert fa.live == {new.qpn: fb.next}


def test_stale_reply_after_the_peer_restarted_keeps_the_new_pairing():
    a, fa, _ = side("A")
    _, fb_old, _ = side("B", first_qpn=200)
    ta, out = in_thread(a.get, KA, 2.0)
    _, a_local, a_box = a.dial.next()
    # The old B answered (reply in flight), died, and the new B's handshake arrives first.
    stale = fb_old.info(fb_old.create())
    fb_new = BookFabric("B", generation=2, first_qpn=300)
    a.on_handshake(KA, fb_new.info(fb_new.create()))
    a_box.put(stale)
    ta.join(2)
    ep = out["value"]
    assert ep.peer.generation == 2 and fa.live[ep.qp] == fb_new.next
    assert a.stats.stale == 1 and ep.crossed is None


def test_old_generation_handshake_is_refused_after_the_new_one():
    a, _, _ = side("A")
    fb_new = BookFabric("B", generation=2, first_qpn=300)
    a.on_handshake(KA, fb_new.info(fb_new.create()))
    with pytest.raises(HandshakeFailed, match="previous generation"):
        a.on_handshake(KA, BookFabric("B", generation=1).info(7))


def test_reply_for_a_replaced_qp_is_dropped_and_the_handshake_sent_again():
    a, fa, _ = side("A")
    _, fb, _ = side("B", first_qpn=200)
    a.on_handshake(KA, fb.info(fb.create()))  # connected to B's QP 201
    ep = a.endpoints[KA]
    with a.cond:
        a._replace_qp(ep)  # e.g. a restart seen meanwhile: the endpoint is IDLE with a new QP
    ta, out = in_thread(a.get, KA, 2.0)
    _, local1, box1 = a.dial.next()
    with a.cond:
        a._replace_qp(ep)  # replaced again while this handshake is in flight
    box1.put(fb.info(fb.create()))
    _, local2, box2 = a.dial.next()  # sent again, with the new QP
    assert local2.qpn != local1.qpn
    fb.generation = 2
    box2.put(fb.info(fb.create()))
    ta.join(2)
    assert out["value"].state == CONNECTED and a.stats.stale == 1
    assert fa.live[out["value"].qp] == fb.next


def test_handshake_failure_while_a_waiter_waits_hands_over_and_both_get_one_endpoint():
    a, fa, _ = side("A")
    b, fb, _ = side("B", first_qpn=200)
    t1, out1 = in_thread(a.get, KA, 3.0)
    _, _, box = a.dial.next()
    t2, out2 = in_thread(a.get, KA, 3.0)
    deadline = time.monotonic() + 2
    while a.stats.waited == 0 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert a.stats.waited >= 1  # the second caller waits instead of sending its own handshake
    box.put(HandshakeFailed("connection refused"))
    _, local, box2 = a.dial.next()  # exactly one caller sends again
    assert a.dial.sent.empty()
    box2.put(b.on_handshake(KB, local))
    t1.join(2)
    t2.join(2)
    assert out1["value"] is out2["value"] is a.endpoints[KA]
    assert a.stats.retried == 1 and a.stats.sent == 2
    paired(a, fa, b, fb)


def test_a_waiter_gives_up_at_its_deadline_naming_the_endpoint():
    a, _, _ = side("A")
    in_thread(a.get, KA, 5.0)
    a.dial.next()  # first caller's handshake never answered
    t0 = time.monotonic()
    with pytest.raises(DeadlineExceeded, match=r"endpoint dev0->B@dev0#0 to connect"):
        a.get(KA, 0.2)
    assert time.monotonic() - t0 < 1.0


def test_a_dial_that_always_fails_ends_at_the_deadline():
    fab = BookFabric("A")

    def refused(key, local, timeout):
        raise HandshakeFailed("connection refused")
    a = EndpointManager(fab, refused, backoff=Backoff(first=0.005, cap=0.02))
    t0 = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="a handshake for endpoint dev0->B@dev0#0 .last: connection refused"):
        a.get(KA, 0.3)
    assert time.monotonic() - t0 < 1.0
    assert a.endpoints[KA].state == IDLE


def test_delete_policy_crosses_the_connections_of_a_simultaneous_open():
    a, fa, _ = side("A", policy="delete")
    b, fb, _ = side("B", policy="delete", first_qpn=200)
    ta, _ = in_thread(a.get, KA, 2.0)
    tb, _ = in_thread(b.get, KB, 2.0)
    _, a_local, a_box = a.dial.next()
    _, b_local, b_box = b.dial.next()
    a_reply = b.on_handshake(KB, a_local)  # B deletes its CONNECTING endpoint, answers from a new QP
    b_reply = a.on_handshake(KA, b_local)
    a_box.put(a_reply)
    b_box.put(b_reply)
    ta.join(2)
    tb.join(2)
    ea, eb = a.endpoints[KA], b.endpoints[KB]
    # A1<->B2 and B1<->A2: each map's QP is paired with a QP the other map no longer holds.
    assert fa.live[ea.qp] != eb.qp and fb.live[eb.qp] != ea.qp
    assert a.stats.deleted == b.stats.deleted == 1 and a.stats.crossed == b.stats.crossed == 1
    assert ea.crossed and eb.crossed and len(set(ea.peer_qpns)) == 2
    assert a.reclaim() == 1 and len(fa.destroyed) == 1  # the reclaimed QP was connected and in use


def test_unknown_policy_is_refused():
    with pytest.raises(Exception, match="passive policy must be one of"):
        EndpointManager(BookFabric("A"), Gate(), policy="merge")


def test_slot_seed_names_writer_round_and_channel_and_a_blank_slot_is_not_round_0():
    from rdmacheck.simopen.peer import seed_fields, slot_seed

    assert seed_fields(slot_seed(0xABCDE, 4_000_000, 65535)) == (0xABCDE, 4_000_000, 65535)
    assert seed_fields(slot_seed(17, 0, 0)) == (17, 0, 0)
    assert seed_fields(0) is None
