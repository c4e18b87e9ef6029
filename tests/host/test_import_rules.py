"""The house rules of the code, walked with ast: imports point down the layers (a feature never
imports a peer or a feature above it; output/ imports no feature), no module imports itself back
through others, and a verdict is spelled only by the Verdict enum."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "rdmacheck"

# Lowest first. A unit (a top-level module or package of rdmacheck) may import only units of lower
# layers; units of one layer are peers and never import each other.
LAYERS: list[set[str]] = [
    {"__init__", "errors", "units", "findings", "words", "pattern", "scenarios", "faults", "interrupts"},
    {"expectations", "output"},
    {"verbs"},
    {"handshake", "metadata", "lab"},
    {"endpoint"},
    {"roles"},
    {"engines"},  # real transfer engines as processes: install, spawn, the line protocol, engine-neutral scenarios
    {"scenario", "simopen", "bench", "mooncake"},  # features
    {"soak", "fleet", "doctor", "enginematrix"},  # features built on the features below (the runner, mooncake)
    {"cli"},
    {"__main__"},
]
RANK = {u: i for i, layer in enumerate(LAYERS) for u in layer}
VERDICTS = {"PASS", "FAIL", "SKIP"}


def _modules() -> dict[str, Path]:
    mods = {}
    for f in ROOT.rglob("*.py"):
        parts = f.relative_to(ROOT.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        mods[name] = f
    return mods


MODULES = _modules()


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every rdmacheck import, at any depth (lazy imports count)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and \
                (node.module == "rdmacheck" or node.module.startswith("rdmacheck.")):
            for alias in node.names:  # `from rdmacheck.x import y`: y may be a module of its own
                sub = f"{node.module}.{alias.name}"
                out.append((node.lineno, sub if sub in MODULES else node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("rdmacheck.")]
    return out


def test_every_unit_has_a_layer():
    assert {_unit(m) for m in MODULES} - set(RANK) == set(), "give the new unit a layer in LAYERS"


def test_imports_point_down_the_layers():
    bad = []
    for mod, path in MODULES.items():
        here = _unit(mod)
        for line, target in _imports(path):
            there = _unit(target)
            if there != here and RANK[there] >= RANK[here]:
                bad.append(f"{path.relative_to(ROOT.parent)}:{line}: {here} (layer {RANK[here]}) imports "
                           f"{target} (layer {RANK[there]})")
    assert bad == []


def test_output_imports_no_feature():
    allowed = LAYERS[0] | {"output"}
    bad = [f"{mod} imports {t}" for mod, path in MODULES.items() if _unit(mod) == "output"
           for _, t in _imports(path) if _unit(t) not in allowed]
    assert bad == []


def test_no_import_circles():
    graph = {m: {t for _, t in _imports(p) if t in MODULES and t != m} for m, p in MODULES.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    circles = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(sorted(comp))

    for m in graph:
        if m not in index:
            visit(m)
    # A package's __init__ importing its own submodules (cli registers its commands) is no circle.
    circles = [c for c in circles if not all(x == "rdmacheck.cli" or x.startswith("rdmacheck.cli.") for x in c)]
    assert circles == []


def test_verdicts_are_spelled_only_by_the_enum():
    bad = []
    for mod, path in MODULES.items():
        if mod == "rdmacheck.words":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in VERDICTS:
                bad.append(f"{path.relative_to(ROOT.parent)}:{node.lineno}: {node.value!r}")
    assert bad == []


def test_the_rules_catch_what_they_forbid(tmp_path):
    """The walker sees a lazy import, a from-import of a module, and a verdict literal."""
    src = tmp_path / "m.py"
    src.write_text("def f():\n    from rdmacheck.scenario import result\n    return 'PASS'\n")
    assert _imports(src) == [(2, "rdmacheck.scenario.result")]
    assert any(isinstance(n, ast.Constant) and n.value == "PASS" for n in ast.walk(ast.parse(src.read_text())))
