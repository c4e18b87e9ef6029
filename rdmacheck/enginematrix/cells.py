"""One runner per (engine kind, scenario): the table CELLS says what applies to which engine, so a third
engine adds rows here, not branches. Each runner runs one cell in fresh processes and says what it saw."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from rdmacheck.enginematrix.plan import SCENARIOS, EngineMatrixPlan
from rdmacheck.enginematrix.result import EngineCell
from rdmacheck.engines.engine import Engine
from rdmacheck.engines.catalog import adapter
from rdmacheck.engines.pair import PairPlan, run_pair
from rdmacheck.engines.peer_loss import LOSS_SCENARIOS, run_loss
from rdmacheck.engines.race import RacePlan, run_race
from rdmacheck.mooncake.forced_open import ForcedOpenPlan, run_forced_open
from rdmacheck.mooncake.reestablish import run_mooncake
from rdmacheck.mooncake.reestablish_result import MooncakePlan
from rdmacheck.words import Verdict

# plan, engine, scenario, the cell's log dir, the etcd URL (etcd-restart) -> the cell
CellRunner = Callable[[EngineMatrixPlan, Engine, str, Path, "str | None"], EngineCell]


def mooncake_restart(plan: EngineMatrixPlan, engine: Engine, scenario: str, d: Path, etcd: str | None) -> EngineCell:
    """A restart against rdmacheck's Mooncake-dialect peer (or engine against engine in etcd mode)."""
    kw: dict = dict(engine_role="target", restart="initiator")
    if scenario == "restart-target":
        kw = dict(engine_role="initiator", restart="target")
    elif scenario == "etcd-restart":
        kw.update(both_engines=True, metadata=etcd)
    res = run_mooncake(MooncakePlan(host=plan.host, engine=engine, device=plan.device, rounds=plan.rounds + 1,
                                    length=plan.length, step_timeout=30.0,
                                    engine_transfer_timeout=plan.engine_transfer_timeout, log_dir=d, **kw))
    findings = list(dict.fromkeys(r.finding for r in res.rounds if r.finding))  # each once, in order
    findings += ["engine-not-on-rdma"] if res.not_on_rdma else []
    if res.verdict == Verdict.FAIL and not findings:  # every failed round names its finding: rounds are missing
        findings = ["rounds-missing"]
    ok = sum(r.ok for r in res.rounds)
    log = res.engine_log
    evidence = [f"{ok}/{res.plan.rounds} rounds verified (round 0 before any restart)",
                f"engine logged: re-establish x{log.get('reestablish', 0)}, retiring x{log.get('retired', 0)}, "
                f"ready ACK x{log.get('ready_ack', 0)}"]
    evidence += [f"round {r.index}: {r.error}" for r in res.rounds if r.error][:2]
    evidence += res.engine_errors[:2]
    if res.not_on_rdma:
        evidence.insert(0, res.not_on_rdma)
    if res.error:
        evidence.append(res.error[:200])
    return EngineCell(engine.label, scenario, res.verdict, findings, evidence, res.duration_s, res.to_dict(),
                      engine=engine.kind)


def engine_pair(plan: EngineMatrixPlan, engine: Engine, scenario: str, d: Path, etcd: str | None) -> EngineCell:
    """Engine against engine (engines/pair.py): restarts, remove and re-add; peer loss (engines/peer_loss.py)."""
    pair_plan = PairPlan(engine, scenario, plan.host, plan.device, plan.rounds, plan.length,
                         float(plan.engine_transfer_timeout), dead_peer_timeout=plan.dead_peer_timeout,
                         inflight_rounds=plan.inflight_rounds, log_dir=d)
    res = run_loss(pair_plan) if scenario in LOSS_SCENARIOS else run_pair(pair_plan)
    ok = sum(r.ok for r in res.rounds)
    evidence = [f"{ok}/{res.rounds_planned} rounds verified in the engines' own memory (round 0: "
                f"{res.rounds[0].action if res.rounds else 'start'})"]
    evidence += [f"round {r.index} ({r.action}): {r.probe}" for r in res.rounds if r.probe][:3]
    if res.backend_params:
        evidence.append("UCX backend: " + ", ".join(f"{k}={v}" for k, v in sorted(res.backend_params.items())))
    acts = [r.action_ms for r in res.rounds[1:] if r.action_ms is not None]
    if acts:
        evidence.append(f"{res.rounds[-1].action}: {min(acts):.0f}-{max(acts):.0f} ms before the next transfer")
    inflight = sorted({r.inflight for r in res.rounds if r.inflight})
    if inflight:
        shown = [r for r in res.rounds if r.in_flight_at_remove is not None]
        evidence.append(f"a WRITE was in flight at the remove in {res.inflight_shown} of {len(shown)} rounds "
                        f"({res.inflight_wanted} wanted; {res.posting}); the posted WRITEs then ended: "
                        f"{'; '.join(inflight)}")
        evidence += [f"round {r.index}: {r.at_remove}" for r in shown if r.in_flight_at_remove][:2]
    evidence += [f"round {r.index}: {r.error[:200]}" for r in res.rounds if r.error][:2]
    evidence += res.engine_log[:4]
    if res.skip_reason:
        evidence.insert(0, f"not tested: {res.skip_reason}")
    if res.error:
        evidence.append(res.error[:200])
    return EngineCell(engine.label, scenario, res.verdict, res.findings(), evidence, res.duration_s, res.to_dict(),
                      engine=engine.kind)


def mooncake_simopen(plan: EngineMatrixPlan, engine: Engine, scenario: str, d: Path, etcd: str | None) -> EngineCell:
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
    if res.not_on_rdma:
        evidence.insert(0, res.not_on_rdma)
    return EngineCell(engine.label, scenario, res.verdict, res.findings(), evidence, res.duration_s, res.to_dict(),
                      engine=engine.kind)


def race(plan: EngineMatrixPlan, engine: Engine, scenario: str, d: Path, etcd: str | None, *,
         engine_log: bool = False) -> EngineCell:
    """Two engines writing to each other at one instant. `engine_log`: quote the engine's own log lines too
    (NIXL's: UCX's transport, errors; Mooncake's are in the trials)."""
    res = run_race(RacePlan(engine, plan.host, plan.device, plan.race_trials, plan.race_threads, plan.length,
                            plan.hang_after, step_timeout=150.0, log_dir=d))
    evidence = [f"{res.rates()} ({plan.race_threads} write call(s) per engine, watchdog {plan.hang_after:g} s)"]
    if res.not_on_rdma:
        evidence.insert(0, res.not_on_rdma)
    hung = [t for t in res.trials if t.outcome == "hang"]
    if hung:
        evidence.append("hung trials: every blocked call on both engines; last engine lines: "
                        + " / ".join(sorted({s.last_log_line for s in hung[0].sides})))
    passed = [t for t in res.trials if t.outcome == "pass"]
    if passed:
        evidence.append(f"passing trials: data verified on both sides ({len(passed)} trials)")
    evidence += sorted({line for t in res.trials for line in t.engine_log if "listening on" not in line})[:3]
    if engine_log:
        evidence += adapter(engine).evidence(sorted(d.glob("*.log")), 3)
    return EngineCell(engine.label, scenario, res.verdict, res.findings(), evidence, res.duration_s, res.to_dict(),
                      engine=engine.kind)


# Mooncake's restart cells are against rdmacheck's Mooncake-dialect peer; NIXL's are engine against engine.
CELLS: dict[tuple[str, str], CellRunner] = {
    ("mooncake", "restart-initiator"): mooncake_restart,
    ("mooncake", "restart-target"): mooncake_restart,
    ("mooncake", "simopen"): mooncake_simopen,
    ("mooncake", "race"): race,
    ("mooncake", "etcd-restart"): mooncake_restart,
    ("nixl", "restart-initiator"): engine_pair,
    ("nixl", "restart-target"): engine_pair,
    ("nixl", "race"): partial(race, engine_log=True),
    ("nixl", "remove-readd"): engine_pair,
    ("nixl", "remove-readd-inflight"): engine_pair,
    ("nixl", "dead-peer"): engine_pair,
    ("nixl", "dead-peer-errmode-none"): engine_pair,
    ("nixl", "next-peer"): engine_pair,
    ("nixl", "stale-descriptor"): engine_pair,
    # DLSlime: an endpoint is one connection made by both sides at once, so a peer is never re-added alone
    # (remove-readd does not apply); a restart reconnects both ends.
    ("dlslime", "restart-initiator"): engine_pair,
    ("dlslime", "restart-target"): engine_pair,
    ("dlslime", "race"): partial(race, engine_log=True),
}


def applies(kind: str) -> tuple[str, ...]:
    """The scenarios that apply to an engine kind, in SCENARIOS' order."""
    return tuple(s for s in SCENARIOS if (kind, s) in CELLS)


MOONCAKE_SCENARIOS = applies("mooncake")  # `mooncake matrix`
