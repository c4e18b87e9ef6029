"""`mooncake reestablish`: its plan and what it found, round by round."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from rdmacheck.engines.mooncake import Engine
from rdmacheck.output.outcome import Case
from rdmacheck.words import Verdict

P2P = "P2PHANDSHAKE"


@dataclass
class MooncakePlan:
    host: str  # the IP both sides name themselves by ('<ip>:<port>', P2P handshake)
    engine: Engine
    device: str = "rxe0"
    engine_role: str = "target"  # the engine's role; rdmacheck's peer takes the other
    both_engines: bool = False  # the other side is an engine too (the seed test: engine against engine)
    metadata: str = P2P  # or an etcd URL: the engine's metadata mode, where a name is local_hostname
    restart: str = "initiator"  # the side SIGKILLed and restarted under its pinned name every round
    rounds: int = 3
    length: int = 1 << 20
    initiator_port: int = 17100  # handshake ports, pinned: a restarted side keeps its name
    target_port: int = 17200
    step_timeout: float = 60.0
    engine_transfer_timeout: int = 10  # MC_TRANSFER_TIMEOUT (s): how long an engine's sync call may block
    log_dir: Path = Path("rdmacheck-logs/mooncake")

    def who(self, role: str) -> str:
        """'engine' or 'rdmacheck' for a role."""
        return "engine" if (role == self.engine_role or self.both_engines) else "rdmacheck"

    @property
    def etcd(self) -> bool:
        return self.metadata != P2P


@dataclass
class MooncakeRound:
    index: int
    ok: bool = False
    restarted_name: str = ""  # the restarted side's name: the same every round
    start_s: float | None = None  # spawn -> ready of the restarted side
    first_write_ms: float | None = None  # its ready -> the first write done (handshake included)
    target_ok: bool = False
    readback_ok: bool = False
    target_verify: str = ""  # what the check found (the seed, or the first mismatch)
    readback: str = ""
    error: str | None = None
    finding: str | None = None  # the finding's identifier: what the engine did, when it explains a failure
    finding_detail: str | None = None  # what was seen, in words

    @property
    def finding_text(self) -> str | None:
        return f"{self.finding}: {self.finding_detail}" if self.finding and self.finding_detail else self.finding


@dataclass
class MooncakeResult:
    plan: MooncakePlan
    rounds: list[MooncakeRound] = field(default_factory=list)
    engine_log: dict[str, int] = field(default_factory=dict)
    engine_errors: list[str] = field(default_factory=list)
    rdmacheck_events: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    not_on_rdma: str = ""  # why the engine's log does not show RDMA on the device under test ("": it does)
    duration_s: float = 0.0

    TONE_CASE = "rdmacheck-mooncake-reestablish"

    @property
    def verdict(self) -> str:
        ok = not self.error and bool(self.rounds) and len(self.rounds) == self.plan.rounds and \
            all(r.ok for r in self.rounds) and not self.not_on_rdma
        return Verdict.PASS if ok else Verdict.FAIL

    @property
    def ok(self) -> bool:
        return self.verdict == Verdict.PASS

    def cases(self) -> list[Case]:
        """One per planned round; a run that stopped early fails the rounds it never reached."""
        p = self.plan
        cls = f"rdmacheck.mooncake.{p.device}.engine-{p.engine_role}"
        cases = []
        for i in range(p.rounds):
            r = next((x for x in self.rounds if x.index == i), None)
            case = Case(id=f"round-{i}", classname=cls, name=f"restart-{p.restart}.round-{i}",
                        time_s=((r.start_s or 0.0) + (r.first_write_ms or 0.0) / 1000) if r else 0.0,
                        logs=str(p.log_dir))
            if r is None:
                case.failure, case.failure_type = f"not reached: {self.error or 'the run stopped'}", "not reached"
            elif not r.ok:
                case.failure = r.finding_text or r.error or "verification failed"
                case.failure_type = "verify" if r.error is None else "error"
                case.failure_text = f"target: {r.target_verify}\nread back: {r.readback}"
            cases.append(case)
        if self.not_on_rdma:
            cases.append(Case(id="rdma-evidence", classname=cls, name="engine-log-shows-rdma", time_s=0.0,
                              logs=str(p.log_dir),
                              failure=self.not_on_rdma, failure_type="engine-not-on-rdma"))
        return cases

    def to_dict(self) -> dict:
        d = asdict(self)
        d["plan"]["log_dir"] = str(self.plan.log_dir)
        d["verdict"] = self.verdict
        return d
