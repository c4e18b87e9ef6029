"""Each finding names only what was seen: one written predicate per identifier (rdmacheck/findings.py,
docs/findings.md), the decisions that pick among them tested on what they are given, and the code
emits no identifier that is not defined, nor defines one it never emits."""
import ast
from pathlib import Path

import pytest

from rdmacheck.findings import FINDINGS, data_check_finding, deadline_finding, is_known

ROOT = Path(__file__).resolve().parents[2] / "rdmacheck"


def _emitted() -> dict[str, str]:
    """finding identifiers written as literals where a finding is set: finding=..., x.finding = ...,
    finding = ..., findings = [...], and in a returned (finding, detail) pair."""
    out = {}
    for path in ROOT.rglob("*.py"):
        if path.name == "findings.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            values = []
            if isinstance(node, ast.keyword) and node.arg in ("finding", "findings"):
                values = [node.value]
            elif isinstance(node, ast.Assign):
                names = [t.attr if isinstance(t, ast.Attribute) else getattr(t, "id", "") for t in node.targets]
                if any(n in ("finding", "findings", "REUSE_REFUSED", "REUSE_STALLED", "HOST_DOWN") for n in names):
                    values = [node.value]
            for c in (c for v in values for c in _results(v)):
                if isinstance(c.value, str) and c.value:
                    out[c.value] = f"{path.relative_to(ROOT.parent)}:{c.lineno}"
    return out


def _results(expr) -> list[ast.Constant]:
    """The constants an expression can evaluate to (not those it only looks up or compares)."""
    if isinstance(expr, ast.Constant):
        return [expr]
    if isinstance(expr, ast.IfExp):
        return _results(expr.body) + _results(expr.orelse)
    if isinstance(expr, ast.BoolOp):
        return [c for v in expr.values for c in _results(v)]
    if isinstance(expr, (ast.List, ast.Tuple)):
        return [c for e in expr.elts for c in _results(e)]
    return []


EMITTED = _emitted()


def test_every_emitted_finding_is_defined():
    unknown = {f: where for f, where in EMITTED.items() if not is_known(f)}
    assert unknown == {}


def test_every_defined_finding_is_emitted_somewhere():
    own = (ROOT / "findings.py").read_text()
    text = "\n".join(p.read_text() for p in ROOT.rglob("*.py") if p.name != "findings.py")
    text += own[own.index("def data_check_finding"):]  # the decisions emit too; the definitions do not count
    dead = [f for f in FINDINGS if f'"{f}"' not in text and f"'{f}'" not in text]
    assert dead == [], "defined but never emitted: drop them or emit them"


@pytest.mark.parametrize("target_ok,readback_ok,after_reset,expected", [
    (True, True, False, None),
    (False, False, False, "data-never-arrived"),
    (False, False, True, "reuse-silent-loss"),
    (False, True, False, "target-check-mismatch"),  # the READ saw it: arrived; the check raced or was late
    (False, True, True, "target-check-mismatch"),
    (True, False, False, "readback-mismatch"),
    (None, False, False, "readback-mismatch"),  # no target check (an engine's role): the READ decides
    (None, True, False, None),
])
def test_the_data_check_names_what_both_checks_saw(target_ok, readback_ok, after_reset, expected):
    assert data_check_finding(target_ok, readback_ok, after_reset) == expected


@pytest.mark.parametrize("step,after_reset,expected", [
    ("write", True, "write-stalled"), ("read back", True, "read-stalled"), ("verify on target", True, "deadline"),
    ("write", False, "deadline"), ("read back", False, "deadline"),
])
def test_the_step_that_timed_out_decides_the_finding(step, after_reset, expected):
    assert deadline_finding(step, after_reset) == expected


def test_an_engine_restart_cell_never_invents_a_readback_mismatch():
    """A failed run with no failed round (a role gone before any round) is rounds-missing, not a
    data finding nobody saw."""
    from rdmacheck.enginematrix import cells
    from rdmacheck.enginematrix.plan import EngineMatrixPlan
    from rdmacheck.mooncake.reestablish_result import MooncakePlan, MooncakeResult

    res = MooncakeResult(MooncakePlan(host="h", engine=type("E", (), {"release": "r", "label": "r", "kind": "mooncake"})(), rounds=3),
                         error="the engine target exited")
    orig = cells.run_mooncake
    cells.run_mooncake = lambda plan: res
    try:
        cell = cells.mooncake_restart(EngineMatrixPlan([], "h"), res.plan.engine, "restart-initiator", Path("/tmp"),
                                      None)
    finally:
        cells.run_mooncake = orig
    assert cell.findings == ["rounds-missing"]
