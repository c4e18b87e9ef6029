"""What each engine release is expected to do in each `engines matrix` / `mooncake matrix` scenario, from measurements
in the Soft-RDMA lab (rxe0; see docs/mooncake.md, "Which Mooncake releases survive what"). A FAIL rule
names the findings it accepts; a cell with any other finding, or an unexpected PASS, is a regression.
A release not listed (an engine someone built) has no expectation: its cells are judged PASS-or-not."""

from __future__ import annotations

from rdmacheck.expectations import Expectation, expected_for
from rdmacheck.words import Verdict

BEFORE_FIX = ("0.3.10",)  # before PR #1733 ("Fix simultaneous open handshake in RdmaEndpoint")
# The releases whose every cell was measured (docs/mooncake.md, docs/engines.md): the four set-up installs
# (20 of 20 cells, race 12 trials each), and 0.3.10.post2, 0.3.11, 0.3.12, 0.3.13 (`engines matrix`, one run:
# restarts 3 rounds, simopen 2 rounds x 2 endpoints, race 4 trials, etcd-restart 3 rounds: 20 of 20 cells as
# these rules say). Others are installable but judged PASS-or-not.
KNOWN = ("0.3.10", "0.3.10.post1", "0.3.10.post2", "0.3.11", "0.3.12", "0.3.12.post1", "0.3.13", "0.3.13.post1")
NIXL_KNOWN = ("0.10.1", "1.5.1")
NIXL_MEASURED = ("restart-initiator", "restart-target", "race", "remove-readd")

RULES: tuple[Expectation, ...] = (
    Expectation.of(Verdict.PASS, "measured: every verified round passes", engine="mooncake", release=KNOWN),
    Expectation.of(Verdict.FAIL, "measured on rxe: the engine never handshakes a restarted target again "
                   "(rxe retries forever with the engine's retry_cnt 7; each write blocks for MC_TRANSFER_TIMEOUT)",
                   ("engine-never-rehandshook",), engine="mooncake", release=KNOWN, scenario="restart-target"),
    Expectation.of(Verdict.FAIL, "measured: 0.3.10 leaves rdmacheck's crossing Connection request unanswered "
                   "while its own request waits; once released, its write returns (3 of 4) or fails at "
                   "MC_TRANSFER_TIMEOUT (1 of 4), and rdmacheck's write back over that endpoint never completes",
                   ("engine-answer-withheld", "write-back-failed", "engine-write-failed"), engine="mooncake", release=BEFORE_FIX,
                   scenario="simopen"),
    # NIXL on rxe0 (UCX rc_verbs), engine against engine, in the lab (docs/engines.md). 1.5.1: restart-initiator,
    # restart-target, remove-readd 3 of 3 rounds verified in both agents' memory in each of four runs (by hand and
    # three engines matrices), race 3/3 and 4/4 trials. 0.10.1: the same, 3 of 3 rounds in each of three runs,
    # race 4/4 (its agents start in ~25 s: torch).
    Expectation.of(Verdict.PASS, "measured (NIXL 1.5.1 and 0.10.1, rxe0): every round and trial verified in both "
                   "agents' memory (3 of 3 rounds per scenario, race 4 of 4)", engine="nixl", release=NIXL_KNOWN,
                   scenario=NIXL_MEASURED),
    # A remove while the posting thread's transfer() runs (1.5.1's thread-safe agent; 0.10.1 has no such mode, and
    # its cell is a SKIP: every WRITE it posts is done before the remove, so no rule). docs/engines.md.
    Expectation.of(Verdict.PASS, "measured (1.5.1, rxe0): removed while a transfer() call ran on the posting thread, "
                   "re-added at once, the next write verified (64 of 64 rounds in each of three runs; 2 of 2 in the full "
                   "engines matrix, 3 of 3 in the lab test)",
                   engine="nixl", release="1.5.1", scenario="remove-readd-inflight"),
    # Peer loss, NIXL 1.5.1 on rxe0 (engines/peer_loss.py; docs/engines.md, "When a peer dies"): three runs (by
    # hand, the lab tests, the full engines matrix).
    Expectation.of(Verdict.PASS, "measured (1.5.1, rxe0, UCX error mode peer): the write to the SIGKILLed peer failed "
                   "with NIXL_ERR_REMOTE_DISCONNECT after 30.9-48.9 s (4 deaths, 3 runs); the survivor's transfers with a third agent and "
                   "with the restarted, re-added peer verified", engine="nixl", release="1.5.1", scenario="dead-peer"),
    Expectation.of(Verdict.FAIL, "measured (1.5.1, rxe0, UCX error mode none): the write to the SIGKILLed peer was "
                   "still in progress after 120 s: the survivor is never told", ("engine-write-hung",),
                   engine="nixl", release="1.5.1", scenario="dead-peer-errmode-none"),
    Expectation.of(Verdict.PASS, "measured (1.5.1, rxe0): a new agent's transfers with the agent whose peer was "
                   "SIGKILLed unannounced verified in both memories", engine="nixl", release="1.5.1",
                   scenario="next-peer"),
    Expectation.of(Verdict.PASS, "measured (1.5.1, rxe0): after the peer's restart a write through the descriptors "
                   "kept from before was refused (NIXL_ERR_NOT_FOUND, 68-109 ms, 4 restarts); fresh descriptors verified",
                   engine="nixl", release="1.5.1", scenario="stale-descriptor"),
    # NIXL 0.10.1's peer loss, rxe0, two runs (the full engines matrices of 2026-12-07, docs/engines.md).
    Expectation.of(Verdict.PASS, "measured (0.10.1, rxe0, UCX error mode peer): the write to the SIGKILLed peer failed "
                   "with NIXL_ERR_REMOTE_DISCONNECT after 33.8-48.4 s (4 deaths, 2 runs); the third agent and the re-added peer "
                   "verified", engine="nixl", release="0.10.1", scenario="dead-peer"),
    Expectation.of(Verdict.FAIL, "measured (0.10.1, rxe0, UCX error mode none): the write to the SIGKILLed peer was "
                   "still in progress after 120 s", ("engine-write-hung",), engine="nixl", release="0.10.1",
                   scenario="dead-peer-errmode-none"),
    Expectation.of(Verdict.PASS, "measured (0.10.1, rxe0): a new agent's transfers with the agent whose peer was "
                   "SIGKILLed unannounced verified in both memories", engine="nixl", release="0.10.1", scenario="next-peer"),
    Expectation.of(Verdict.FAIL, "measured (0.10.1, rxe0): a write through descriptor lists kept from before the "
                   "target's restart killed the initiator (SIGSEGV, exit status -11) instead of failing the call; 1.5.1 "
                   "refuses it (NIXL_ERR_NOT_FOUND)", ("role-crashed",), engine="nixl", release="0.10.1",
                   scenario="stale-descriptor"),
    # DLSlime 0.1.23 on rxe0 (docs/engines.md): restarts 3 of 3 rounds and race 4 of 4 trials in a full run, and
    # the lab test's run (restarts 3 of 3, race 3 of 3).
    Expectation.of(Verdict.PASS, "measured (DLSlime 0.1.23, rxe0): every restart round and race trial verified in "
                   "the receiver's memory (3 of 3 rounds, race 4 of 4)", engine="dlslime", release="0.1.23"),
    Expectation.of(Verdict.FAIL, "measured: two 0.3.10 engines writing to each other at one instant deadlock "
                   "(both first writes block)", ("engine-write-hung",), engine="mooncake", release=BEFORE_FIX, scenario="race"),
)


def expectation_for(engine: str, release: str, scenario: str) -> Expectation | None:
    return expected_for({"engine": engine, "release": release, "scenario": scenario}, RULES)
