"""What an engine-against-engine scenario saw: rounds of transfers, each checked in the receiving engine's memory."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

from rdmacheck.words import Verdict


@dataclass
class Transfer:
    """One direction of one round: the writer writes, reads it back (ordered behind the write), the
    receiver checks its own memory."""
    writer: str  # "initiator" / "target"
    write_ms: float | None = None
    readback_ok: bool | None = None
    receiver_ok: bool | None = None
    detail: str = ""


@dataclass
class PairRound:
    index: int
    action: str  # what happened before the transfers: "start", "restart initiator", "remove+add", ...
    ok: bool = False
    finding: str | None = None
    error: str = ""
    action_ms: float | None = None  # the restart's start or the remove+add, in ms
    inflight: str = ""  # remove-and-re-add with a transfer in flight: how the posted transfer ended
    in_flight_at_remove: bool | None = None  # its posted transfer's state, asked right before the remove
    at_remove: str = ""  # what the remover said of its transfers at the remove, in its words
    probe: str = ""  # a transfer the engine should refuse (to a dead peer, through stale descriptors): what it did
    probe_ms: float | None = None  # how long that transfer took to end (fail, or be reported done)
    transfers: list[Transfer] = field(default_factory=list)


@dataclass
class PairResult:
    scenario: str
    engine: str  # the engine's label (`nixl 1.5.1`, `0.3.13.post1`)
    device: str
    rounds_planned: int
    rounds: list[PairRound] = field(default_factory=list)
    error: str = ""
    engine_log: list[str] = field(default_factory=list)  # the engines' own lines that explain a result
    duration_s: float = 0.0
    not_on_rdma: str = ""  # why the engines' logs do not show RDMA on the device under test ("": they do)
    untested: str = ""  # why the scenario's condition could not be set up (a SKIP saying so), e.g. no error mode
    backend_params: dict[str, str] = field(default_factory=dict)  # NIXL's UCX backend, as the engine reported it
    inflight_wanted: int = 0  # remove-readd-inflight: rounds that must show a WRITE in flight at the remove
    posting: str = ""  # remove-readd-inflight: how the initiator posted its WRITEs, in its words

    @property
    def inflight_shown(self) -> int:
        return sum(bool(r.in_flight_at_remove) for r in self.rounds)

    @property
    def condition_shown(self) -> bool:
        """remove-readd-inflight tests a remove with a WRITE in flight: `inflight_wanted` rounds (at least one)
        show it was; only those count."""
        return not self.scenario.endswith("-inflight") or self.inflight_shown >= max(1, self.inflight_wanted)

    @property
    def verdict(self) -> Verdict:
        """PASS: every planned round verified (on RDMA, where the engine's log can show it). SKIP: all of that,
        but the condition the scenario is named after never arose (remove-readd-inflight: no WRITE was in
        flight at any remove): it was not tested, and the result says so instead of passing it."""
        if self.untested and not self.error:
            return Verdict.SKIP
        played = len(self.rounds) == self.rounds_planned or (self.inflight_wanted and self.condition_shown)
        complete = played and not self.error and not self.not_on_rdma
        if not complete or not all(r.ok for r in self.rounds):
            return Verdict.FAIL
        return Verdict.PASS if self.condition_shown else Verdict.SKIP

    @property
    def skip_reason(self) -> str:
        if self.untested and self.verdict == Verdict.SKIP:
            return self.untested
        if self.verdict != Verdict.SKIP:
            return ""
        asked = [r for r in self.rounds if r.in_flight_at_remove is not None]
        if self.inflight_shown:
            return (f"a WRITE was in flight at the remove in {self.inflight_shown} of {len(asked)} rounds, "
                    f"{self.inflight_wanted} wanted")
        return (f"nothing was in flight at the remove: every WRITE posted before it was already done, in each of "
                f"{len(asked)} rounds (the engine's own transfer states, asked right before the remove)"
                + (f"; {self.posting}" if self.posting else ""))

    @property
    def ok(self) -> bool:
        return self.verdict == Verdict.PASS

    def findings(self) -> list[str]:
        """Each round's finding once, in order; a FAIL with none is missing rounds (or no evidence at all)."""
        found = list(Counter(r.finding for r in self.rounds if r.finding))
        if self.not_on_rdma:
            found.append("engine-not-on-rdma")
        if self.verdict == Verdict.FAIL and not found:
            found = ["rounds-missing"] if self.rounds else ["no-evidence"]
        return found

    def to_dict(self) -> dict:
        return {**asdict(self), "verdict": self.verdict, "findings": self.findings(), "skip_reason": self.skip_reason}
