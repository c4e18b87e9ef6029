"""Findings: what a FAIL saw, each under a stable identifier that results, expectations and CI
jobs match on (`[[expect]] findings = [...]`), with a one-line summary of what was observed.
A summary never names a cause that was not observed; what was seen in a given run goes in the
round's `detail`."""

from __future__ import annotations

import errno as errno_mod
import re

FINDINGS: dict[str, str] = {
    # fleet (a pair test across two hosts' agents)
    "host-down": "a host's agent lease expired (or it never joined): its pairs were not run",
    "target-not-ready": "the pair's target never said it listens (its registration gives no address, or it put no ready key)",
    "target-failed": "the pair's target role could not start, or exited before its pair was over (its agent's error is in the detail)",
    "round-refused": "an agent refused the round's pair settings (out of bounds or unreadable: listed in the detail)",
    # re-establishment
    "reuse-refused": "the provider refused to reuse the reset QP (the reconnect of a QP that was reset failed)",
    "reuse-silent-loss": "after a QP reset, a WRITE completed with success, and after a READ on the same QP both the "
                         "target's check of its memory and the READ back found other bytes",
    "write-stalled": "after a QP reset, the QP reconnected but its RDMA WRITE never completed",
    "read-stalled": "after a QP reset, the QP reconnected and its RDMA WRITE completed, but the READ back never did",
    "silent-reset": "the modify to RESET returned success but a query shows the QP was not reset",
    "survivor-silent": "the survivor reported no re-establishment although data moved",
    # data
    "data-never-arrived": "a WRITE completed with success, and after a READ on the same QP both the target's check of "
                          "its memory and the READ back found other bytes",
    "write-failed": "the initiator's RDMA WRITE returned an error (a failed completion or post)",
    "readback-mismatch": "the data read back differs from what was written (and the target's own check of its "
                         "memory, where there was one, found the pattern)",
    "target-check-mismatch": "the READ back (ordered behind the WRITE on the same QP) returned the pattern, but the "
                             "target's check of its memory, made after that READ completed, found other bytes",
    "no-data-verified": "a round would have passed without any data verified",
    # the run
    "deadline": "a bounded wait ran out (the step names what was waited for)",
    "role-crashed": "a role process failed or exited while it was waited for",
    "rounds-missing": "fewer rounds ran than were planned",
    "no-evidence": "the run checked nothing (zero rounds, trials or pairs, or too few samples to judge): never a PASS",
    "kill-step-not-reached": "the process to be killed at a protocol step never reached it",
    "no-recovery-after-link-down": "after the link came back, no data was verified again",
    "name-taken-over": "while a role's etcd lease had lapsed, another process claimed its name",
    "cm-loop-died": "the target's rdma_cm event loop stopped: it could not accept connections any more",
    # a real Mooncake engine (mooncake simopen / race / matrix)
    "engine-answer-withheld": "in a forced simultaneous open, the engine did not answer rdmacheck's Connection "
                              "request while its own Connection request waited for rdmacheck's answer",
    "engine-second-endpoint": "in a simultaneous open, the engine answered with QPs other than the ones it offered "
                              "in its own request (two endpoints for one NIC path pair)",
    "engine-rejected": "the engine answered a Connection request with a rejection (reply_msg)",
    "engine-write-hung": "an engine transfer call had not returned at the deadline (the engine was then killed)",
    "engine-write-failed": "an engine transfer call returned an error",
    "engine-not-on-rdma": "the engine's own log shows its transfers on no RDMA transport of the device under test "
                          "(shared memory, TCP, another device, or no transport named): verified data proves "
                          "nothing about RDMA there",
    "write-back-failed": "after the simultaneous open, a write to the engine failed or its data was not in the "
                         "engine's memory",
    "engine-never-rehandshook": "the restarted peer received no Connection request from the engine",
    "engine-port-unavailable": "a restarted engine could not bind its pinned handshake port",
    "engine-peer-add-failed": "an engine refused to add or remove its peer (NIXL: add_remote_agent or "
                              "remove_remote_agent raised)",
    "engine-restart-failed": "a restarted engine exited or had not said it was ready by the deadline",
    "engine-name-changed": "a restarted engine came back under another name although its handshake port was pinned",
    "engine-dead-peer-write-accepted": "a write to a peer that had been SIGKILLed (the writer not told) was "
                                       "reported done",
    "engine-survivor-broken": "after its write to a SIGKILLed peer, the survivor's transfers with another live peer "
                              "failed or their data was not verified",
    "engine-next-peer-failed": "after one peer was SIGKILLed without being removed, a new peer's transfers with the "
                               "survivor failed or their data was not verified",
    "engine-stale-write-accepted": "after the peer restarted with a new registration, a write through descriptors of "
                                   "the old one was reported done, yet its data was not in the new peer's memory",
    "engine-write-failed-after-rehandshake": "the restarted peer was handshaken again, yet the engine's write failed",
    # security
    "reply-unauthenticated": "with a token, a reply whose MAC was missing, wrong or bound to another request",
}


def data_check_finding(target_ok: bool | None, readback_ok: bool, after_reset: bool = False) -> str | None:
    """What a round's data check saw, once the READ back (ordered behind the WRITE on its QP) has
    completed and then the target checked its memory (None: no target check, e.g. an engine's role):
    lost data only when both found other bytes; a target check that alone failed is a disagreement."""
    if target_ok is False and not readback_ok:
        return "reuse-silent-loss" if after_reset else "data-never-arrived"
    if target_ok is False:
        return "target-check-mismatch"
    if not readback_ok:
        return "readback-mismatch"
    return None


def deadline_finding(step: str, after_reset: bool = False) -> str:
    """The step that timed out decides: after a QP reset a stalled WRITE or READ is the reset's
    finding; anything else (and any step without a reset) is a deadline naming the step."""
    if after_reset and step in ("write", "read back"):
        return "write-stalled" if step == "write" else "read-stalled"
    return "deadline"


def verbs_failure(step: str, errno: int | None) -> str:
    """The identifier of a failed verbs or rdma_cm call: its step and errno name, e.g.
    `modify-qp-to-rtr-failed-einval` (these are open-ended, one per step and errno)."""
    name = errno_mod.errorcode.get(errno, str(errno)).lower() if errno else ""
    slug = re.sub(r"[^a-z0-9]+", "-", step.lower()).strip("-")
    return f"{slug}-failed" + (f"-{name}" if name else "")


def summary(finding: str | None) -> str:
    """`id: summary` for a known finding, the identifier alone for an open-ended one."""
    if not finding:
        return ""
    known = FINDINGS.get(finding)
    return f"{finding}: {known}" if known else finding


def is_known(finding: str) -> bool:
    return finding in FINDINGS or bool(re.fullmatch(r"[a-z0-9-]+-failed(-[a-z0-9]+)?", finding))
