"""What a real engine did in a forced simultaneous open (`mooncake simopen`).

Findings are read off what was recorded (answers, times, returns, memory checks), never guessed."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

from rdmacheck.findings import data_check_finding
from rdmacheck.words import Verdict


@dataclass
class HeldHandshake:
    """One rdmacheck segment of a forced simultaneous open."""
    segment: str
    engine_request_at_s: float | None = None  # the engine's Connection request arrived (s after the write call)
    engine_request_qpns: list[int] = field(default_factory=list)
    engine_answer_ms: float | None = None  # how long the engine took to answer rdmacheck's request
    engine_answer_qpns: list[int] = field(default_factory=list)
    engine_answer_error: str | None = None  # no answer: the timeout or the error
    engine_reply_msg: str = ""
    answered_at_s: float | None = None  # rdmacheck answered the held request
    ack: str = ""
    our_error: str | None = None
    engine_write: str = ""
    engine_write_ok: bool = False
    engine_readback: str = ""  # the engine READ its write back (ordered behind it) before rdmacheck checked
    engine_readback_ok: bool = False
    data_ok: bool = False
    data: str = ""  # rdmacheck's check of its own memory; empty: not checked
    write_back: str = ""
    write_back_ok: bool = False

    def findings(self) -> list[str]:
        out = []
        if self.engine_request_at_s is None:
            return ["engine-write-hung" if "blocked" in self.engine_write else "engine-write-failed"]
        if self.engine_answer_error:
            out.append("engine-answer-withheld")
        elif self.engine_reply_msg:
            out.append("engine-rejected")
        elif self.engine_answer_qpns != self.engine_request_qpns:
            out.append("engine-second-endpoint")
        if not self.engine_write_ok:
            out.append("engine-write-hung" if "blocked" in self.engine_write else "engine-write-failed")
        elif not self.data:  # never checked (the run stopped first): the round's error says why
            pass
        elif self.engine_readback and not self.engine_readback_ok and \
                not self.engine_readback.startswith("first mismatch"):
            out.append("engine-write-failed")  # its READ back was a transfer call that returned an error, no data
        elif found := data_check_finding(self.data_ok, self.engine_readback_ok):
            out.append(found)
        elif not self.write_back_ok:
            out.append("write-back-failed")
        return out

    @property
    def ok(self) -> bool:
        """Only with evidence: the engine's write READ back, found in rdmacheck's memory, and written back."""
        return (not self.findings() and not self.our_error and self.engine_readback_ok and self.data_ok
                and self.write_back_ok)


@dataclass
class ForcedOpenRound:
    index: int
    engine_name: str = ""
    handshakes: list[HeldHandshake] = field(default_factory=list)
    engine_log: list[str] = field(default_factory=list)  # handshake-related glog lines, counted
    engine_last_line: str = ""
    error: str | None = None

    @property
    def ok(self) -> bool:
        return not self.error and bool(self.handshakes) and all(h.ok for h in self.handshakes)


@dataclass
class ForcedOpenResult:
    release: str
    device: str
    endpoints: int
    rounds_planned: int
    answer_timeout_s: float
    rounds: list[ForcedOpenRound] = field(default_factory=list)
    not_on_rdma: str = ""  # why the engine's log does not show RDMA on the device under test ("": it does)
    duration_s: float = 0.0

    @property
    def verdict(self) -> Verdict:
        ok = bool(self.rounds) and len(self.rounds) == self.rounds_planned and all(r.ok for r in self.rounds) and \
            not self.not_on_rdma
        return Verdict.PASS if ok else Verdict.FAIL

    @property
    def ok(self) -> bool:
        return self.verdict == Verdict.PASS

    def findings(self) -> list[str]:
        seen = Counter(f for r in self.rounds for h in r.handshakes for f in h.findings())
        if not self.rounds:
            seen["no-evidence"] += 1
        if any(r.error for r in self.rounds):
            seen["deadline" if any("deadline" in (r.error or "").lower() or "timed out" in (r.error or "")
                                   for r in self.rounds) else "role-crashed"] += 1
        if self.not_on_rdma:
            seen["engine-not-on-rdma"] += 1
        return list(seen)

    def to_dict(self) -> dict:
        return {**asdict(self), "verdict": self.verdict, "findings": self.findings()}


