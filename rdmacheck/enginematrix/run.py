"""`rdmacheck engines matrix` (and `mooncake matrix`, its Mooncake rows): engines x releases x scenarios,
one cell per combination that applies (BY_KIND), each in fresh engine processes, judged against the shipped
expectations (expected.py).

Scenarios:
  restart-initiator  the engine is the target; rdmacheck's initiator is SIGKILLed and comes back under
                     its name every round (P2P handshake): the engine's passive re-establishment
  restart-target     the engine is the initiator; rdmacheck's target is killed and comes back: does
                     the engine notice and handshake again?
  simopen            a simultaneous open forced on the engine (forced_open.py)
  race               two engines writing to each other at one instant (race.py)
  etcd-restart       the seed test: engine against engine in the engine's etcd metadata mode, the
                     initiator engine killed and restarted under its name (local_hostname)
NIXL (engine against engine, engines/pair.py): restart-initiator, restart-target, race, remove-readd
(remove the peer's agent and add it again at once) and remove-readd-inflight (with a WRITE in flight).
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rdmacheck.engines.mooncake import Engine
from rdmacheck.engines.pair import PairPlan, engine_evidence, run_pair
from rdmacheck.mooncake.engine_matrix_result import EngineCell, EngineMatrixResult
from rdmacheck.mooncake.expected import expectation_for
from rdmacheck.mooncake.forced_open import ForcedOpenPlan, run_forced_open
from rdmacheck.mooncake.race import RacePlan, run_race
from rdmacheck.mooncake.reestablish import run_mooncake
from rdmacheck.mooncake.reestablish_result import MooncakePlan
from rdmacheck.words import Verdict

SCENARIOS = ("restart-initiator", "restart-target", "simopen", "race", "etcd-restart", "remove-readd",
             "remove-readd-inflight")
# What applies to each engine. NIXL's restart cells are engine against engine (engines/pair.py): the survivor
# removes the dead agent and adds the new one; Mooncake's are against rdmacheck's Mooncake-dialect peer.
BY_KIND = {"mooncake": ("restart-initiator", "restart-target", "simopen", "race", "etcd-restart"),
           "nixl": ("restart-initiator", "restart-target", "race", "remove-readd", "remove-readd-inflight")}
MOONCAKE_SCENARIOS = BY_KIND["mooncake"]  # `mooncake matrix`


@dataclass
class EngineMatrixPlan:
    engines: list[Engine]
    host: str
    device: str = "rxe0"
    scenarios: tuple[str, ...] = SCENARIOS
    rounds: int = 2  # restart cells: restarts; simopen: fresh engines
    endpoints: int = 2  # simopen: rdmacheck segments forced at once
    race_trials: int = 6
    race_threads: int = 1
    length: int = 1 << 20
    answer_timeout: float = 5.0
    hang_after: float = 5.0
    engine_transfer_timeout: int = 5
    etcd: str | None = None  # an etcd URL for etcd-restart; None: a throwaway local etcd
    log_dir: Path = Path("rdmacheck-logs/mooncake-matrix")
    command: str = "mooncake matrix"
    on_cell: Callable[[EngineCell], None] = field(default=lambda cell: None)


def _restart(plan: EngineMatrixPlan, engine: Engine, scenario: str, d: Path, etcd: str | None) -> EngineCell:
    kw: dict = dict(engine_role="target", restart="initiator")
    if scenario == "restart-target":
        kw = dict(engine_role="initiator", restart="target")
    elif scenario == "etcd-restart":
        kw.update(both_engines=True, metadata=etcd)
    res = run_mooncake(MooncakePlan(host=plan.host, engine=engine, device=plan.device, rounds=plan.rounds + 1,
                                    length=plan.length, step_timeout=30.0,
                                    engine_transfer_timeout=plan.engine_transfer_timeout, log_dir=d, **kw))
    findings = list(dict.fromkeys(r.finding for r in res.rounds if r.finding))  # each once, in order
    if res.verdict == Verdict.FAIL and not findings:  # every failed round names its finding: rounds are missing
        findings = ["rounds-missing"]
    ok = sum(r.ok for r in res.rounds)
    log = res.engine_log
    evidence = [f"{ok}/{res.plan.rounds} rounds verified (round 0 before any restart)",
                f"engine logged: re-establish x{log.get('reestablish', 0)}, retiring x{log.get('retired', 0)}, "
                f"ready ACK x{log.get('ready_ack', 0)}"]
    evidence += [f"round {r.index}: {r.error}" for r in res.rounds if r.error][:2]
    evidence += res.engine_errors[:2]
    if res.error:
        evidence.append(res.error[:200])
    return EngineCell(engine.label, scenario, res.verdict, findings, evidence, res.duration_s, res.to_dict())


def _pair(plan: EngineMatrixPlan, engine: Engine, scenario: str, d: Path) -> EngineCell:
    res = run_pair(PairPlan(engine, scenario, plan.host, plan.device, plan.rounds, plan.length,
                            float(plan.engine_transfer_timeout), log_dir=d))
    ok = sum(r.ok for r in res.rounds)
    evidence = [f"{ok}/{res.rounds_planned} rounds verified in both engines' memory (round 0 before any "
                f"{'restart' if scenario.startswith('restart') else 'remove+add'})"]
    acts = [r.action_ms for r in res.rounds[1:] if r.action_ms is not None]
    if acts:
        evidence.append(f"{res.rounds[-1].action}: {min(acts):.0f}-{max(acts):.0f} ms before the next transfer")
    inflight = sorted({r.inflight for r in res.rounds if r.inflight})
    if inflight:
        evidence.append(f"the write in flight at the remove: {'; '.join(inflight)}")
    evidence += [f"round {r.index}: {r.error[:200]}" for r in res.rounds if r.error][:2]
    evidence += res.engine_log[:4]
    if res.error:
        evidence.append(res.error[:200])
    return EngineCell(engine.label, scenario, res.verdict, res.findings(), evidence, res.duration_s, res.to_dict(),
                      engine=engine.kind)


def _simopen(plan: EngineMatrixPlan, engine: Engine, d: Path) -> EngineCell:
    res = run_forced_open(ForcedOpenPlan(engine, plan.host, plan.device, plan.endpoints, plan.rounds, plan.length,
                                         plan.answer_timeout, engine_transfer_timeout=plan.engine_transfer_timeout,
                                         log_dir=d))
    hs = [h for r in res.rounds for h in r.handshakes]
    answered = [h.engine_answer_ms for h in hs if not h.engine_answer_error and h.engine_answer_ms is not None]
    evidence = [f"{len(answered)}/{len(hs)} of rdmacheck's requests answered while the engine's own waited"
                + (f" (in {min(answered):.0f}-{max(answered):.0f} ms)" if answered else
                   f" (none within {plan.answer_timeout:g} s)"),
                f"engine writes: {'; '.join(sorted({h.engine_write for h in hs}))}"[:200],
                f"verified: {sum(h.data_ok for h in hs)}/{len(hs)} engine->rdmacheck, "
                f"{sum(h.write_back_ok for h in hs)}/{len(hs)} rdmacheck->engine"]
    evidence += sorted({line for r in res.rounds for line in r.engine_log if "listening on" not in line})[:4]
    evidence += [f"round {r.index}: {r.error}" for r in res.rounds if r.error][:2]
    return EngineCell(engine.label, "simopen", res.verdict, res.findings(), evidence, res.duration_s, res.to_dict())


def _race(plan: EngineMatrixPlan, engine: Engine, d: Path) -> EngineCell:
    res = run_race(RacePlan(engine, plan.host, plan.device, plan.race_trials, plan.race_threads, plan.length,
                            plan.hang_after, step_timeout=150.0, log_dir=d))
    evidence = [f"{res.rates()} ({plan.race_threads} write call(s) per engine, watchdog {plan.hang_after:g} s)"]
    hung = [t for t in res.trials if t.outcome == "hang"]
    if hung:
        evidence.append("hung trials: every blocked call on both engines; last engine lines: "
                        + " / ".join(sorted({s.last_log_line for s in hung[0].sides})))
    passed = [t for t in res.trials if t.outcome == "pass"]
    if passed:
        evidence.append(f"passing trials: data verified on both sides ({len(passed)} trials)")
    evidence += sorted({line for t in res.trials for line in t.engine_log if "listening on" not in line})[:3]
    if engine.kind != "mooncake":  # NIXL's own lines (UCX's transport, errors); Mooncake's are in the trials
        evidence += engine_evidence(engine, sorted(d.glob("*.log")))[:3]
    return EngineCell(engine.label, "race", res.verdict, res.findings(), evidence, res.duration_s, res.to_dict(),
                      engine=engine.kind)


def run_cell(plan: EngineMatrixPlan, engine: Engine, scenario: str, etcd: str | None) -> EngineCell:
    d = plan.log_dir / engine.label.replace(" ", "-") / scenario
    t0 = time.monotonic()
    if engine.kind != "mooncake" and scenario != "race":
        cell = _pair(plan, engine, scenario, d)
    elif scenario == "simopen":
        cell = _simopen(plan, engine, d)
    elif scenario == "race":
        cell = _race(plan, engine, d)
    else:
        cell = _restart(plan, engine, scenario, d, etcd)
    cell.duration_s = round(time.monotonic() - t0, 3)
    cell.logs = str(d)
    cell.judge(expectation_for(engine.kind, engine.release, scenario))
    return cell


def run_engine_matrix(plan: EngineMatrixPlan) -> EngineMatrixResult:
    from rdmacheck.metadata.local_etcd import EtcdServer  # noqa: PLC0415

    res = EngineMatrixResult(device=plan.device, releases=[e.label for e in plan.engines],
                             scenarios=list(plan.scenarios),
                             planned=sum(s in BY_KIND[e.kind] for e in plan.engines for s in plan.scenarios),
                             command=plan.command)
    for e in plan.engines:
        skipped = [s for s in plan.scenarios if s not in BY_KIND[e.kind]]
        if skipped:
            res.notes.append(f"{e.label}: {', '.join(skipped)} do not apply (not run)")
    t0 = time.monotonic()
    server = None
    etcd = plan.etcd
    try:
        if "etcd-restart" in plan.scenarios and etcd is None:
            server = EtcdServer(Path(tempfile.mkdtemp(prefix="rdmacheck-etcd-")) / "data").start()
            etcd = server.url
            res.notes.append(f"etcd-restart cells used a throwaway etcd at {etcd}")
        for engine in plan.engines:
            for scenario in [s for s in plan.scenarios if s in BY_KIND[engine.kind]]:
                cell = run_cell(plan, engine, scenario, etcd)
                res.cells.append(cell)
                plan.on_cell(cell)
    finally:
        if server is not None:
            server.remove()
        res.duration_s = round(time.monotonic() - t0, 3)
    return res
