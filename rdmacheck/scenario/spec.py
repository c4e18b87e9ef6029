"""Scenario files (TOML): the grid of cells, how each runs, faults, and expectations.

Every key is checked; an error names the file, the key and what was expected. The schema is
documented in docs/matrix.md ("Scenario files").
"""

from __future__ import annotations

import itertools
import json
import tomllib
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from rdmacheck.errors import EnvironmentProblem, RdmacheckError
from rdmacheck.expectations import Expectation
from rdmacheck.findings import FINDINGS, is_known
from rdmacheck.output.files import read_text_input
from rdmacheck.faults import Faults
from rdmacheck.scenario.cell import SIGNALS, CellSpec
from rdmacheck.units import parse_size
from rdmacheck.words import (
    Mode,
    Restart,
    Strategy,
    Verdict,
    resolve_mode,
    resolve_strategy,
    values,
)

if TYPE_CHECKING:
    from rdmacheck.verbs.devices import DeviceInfo

# What a cell of a scenario does unless the file says otherwise (small: the matrix is many cells).
SCENARIO_BASE = CellSpec(device="auto", rounds=2, buffer_size=1 << 20, length=64 << 10)
# [run] and [timeouts] keys -> CellSpec fields
MATCH_KEYS = ("device", "provider", "mode", "strategy", "restart")  # what an [[expect]] matches a cell on
RUN_KEYS = {"rounds": "rounds", "buffer_size": "buffer_size", "length": "length", "restart_signal": "restart_signal",
            "restart_delay": "restart_delay", "gid_index": "gid_index", "inject": "inject"}
TIMEOUT_KEYS = {"start": "start_timeout", "round": "round_timeout", "io": "io_timeout",
                "reconnect": "reconnect_timeout"}


class ScenarioError(RdmacheckError):
    exit_code = 2


@dataclass
class Scenario:
    """A grid (devices x modes x strategies x restart sides) of cells that share `base`."""
    name: str
    description: str = ""
    source: str = "(built in)"
    devices: list[str] = field(default_factory=lambda: ["auto"])
    target_devices: list[str] = field(default_factory=list)
    modes: list[Mode] = field(default_factory=lambda: [Mode.AUTO])
    strategies: list[Strategy] = field(default_factory=lambda: [Strategy.RESET, Strategy.RECREATE])
    restarts: list[Restart] = field(default_factory=lambda: [Restart.INITIATOR, Restart.TARGET])
    base: CellSpec = SCENARIO_BASE
    expectations: list[Expectation] = field(default_factory=list)

    def cells(self, present: list[DeviceInfo]) -> list[CellSpec]:
        """Every distinct cell on the devices present (`auto` devices, modes and strategies resolved)."""
        by_name = {d.name: d for d in present}
        devices: list[tuple[DeviceInfo, str | None]] = []
        for i, name in enumerate(self.devices):
            if name == "auto":
                devices += [(d, None) for d in auto_devices(present)]
                continue
            if name not in by_name:
                raise EnvironmentProblem(f"{self.source}: no RDMA device named {name!r}; devices here: "
                                         f"{', '.join(by_name) or 'none'}")
            devices.append((by_name[name], self.target_devices[i] if self.target_devices else None))
        cells: list[CellSpec] = []
        for (dev, tdev), mode, strategy, restart in itertools.product(devices, self.modes, self.strategies,
                                                                      self.restarts):
            cell = replace(self.base, device=dev.name, target_device=tdev, provider=dev.provider,
                           mode=resolve_mode(mode, dev), strategy=resolve_strategy(strategy, dev), restart=restart,
                           scenario=self.name)
            if cell not in cells:
                cells.append(cell)
        return cells

    def to_toml(self) -> str:
        """This scenario as a file `parse_scenario` reads back to an equal Scenario (the lab runs it)."""
        b = self.base
        lines = ["[scenario]", f"name = {_q(self.name)}", f"description = {_q(self.description)}", "", "[grid]",
                 f"devices = {_ql(self.devices)}"]
        if self.target_devices:
            lines.append(f"target_devices = {_ql(self.target_devices)}")
        lines += [f"modes = {_ql(self.modes)}", f"strategies = {_ql(self.strategies)}",
                  f"restart = {_ql(self.restarts)}", "", "[run]"]
        for key, name in RUN_KEYS.items():
            v = getattr(b, name)
            if isinstance(v, Faults):
                v = tuple(v.specs())
            if v is not None:
                lines.append(f"{key} = {_ql(v) if isinstance(v, tuple) else _q(v)}")
        lines += ["", "[timeouts]"] + [f"{key} = {_q(getattr(b, name))}" for key, name in TIMEOUT_KEYS.items()]
        for e in self.expectations:
            lines += ["", "[[expect]]", f"verdict = {_q(e.verdict)}", f"reason = {_q(e.reason)}"]
            if e.findings:
                lines.append(f"findings = {_ql(e.findings)}")
            lines += [f"{k} = {_q(e.value(k))}" for k in MATCH_KEYS if e.value(k) is not None]
        return "\n".join(lines) + "\n"


def _q(v) -> str:
    """A TOML scalar: JSON's spelling of strings, ints and floats is TOML's too."""
    return json.dumps(str(v) if isinstance(v, str) else v)


def _ql(vs) -> str:
    return "[" + ", ".join(_q(str(v)) for v in vs) + "]"


def auto_devices(present: list[DeviceInfo]) -> list[DeviceInfo]:
    """One device per provider, among those with an IPv4 address in this network namespace."""
    chosen: dict[str, DeviceInfo] = {}
    for d in present:
        if any("." in a for p in d.ports for a in p.netdev_ips) and d.provider not in chosen:
            chosen[d.provider] = d
    return list(chosen.values())


class _Reader:
    """Typed access to one table of the file, with errors that name file and key."""

    def __init__(self, src: str, table: dict, path: str):
        self.src, self.table, self.path = src, table, path
        self.used: set[str] = set()

    def fail(self, key: str, expected: str, got=None) -> ScenarioError:
        shown = "" if got is None else f", got {got!r}"
        return ScenarioError(f"{self.src}: [{self.path}] {key}: expected {expected}{shown}")

    def get(self, key: str, kind, expected: str, default=None):
        self.used.add(key)
        if key not in self.table:
            return default
        v = self.table[key]
        if kind is float and type(v) is int:
            v = float(v)
        if not isinstance(v, kind) or isinstance(v, bool) and kind is not bool:
            raise self.fail(key, expected, v)
        return v

    def choice_list(self, key: str, allowed: tuple[str, ...] | None, default: list[str]) -> list[str]:
        what = f"a list of {', '.join(allowed)}" if allowed else "a list of names"
        v = self.get(key, list, what, default)
        if not v or not all(isinstance(x, str) and (allowed is None or x in allowed) for x in v):
            raise self.fail(key, what, v)
        return v

    def size(self, key: str, default: int) -> int:
        v = self.get(key, (str, int), "a size such as 65536 or \"256MiB\"")
        if v is None:
            return default
        try:
            return parse_size(str(v))
        except ValueError as e:
            raise self.fail(key, "a size such as 65536 or \"256MiB\"", v) from e

    def positive(self, key: str, kind, default):
        """ints must be >= 1; floats (seconds) >= 0."""
        v = self.get(key, kind, "a positive number", default)
        if v < (1 if kind is int else 0):
            raise self.fail(key, "a positive number", v)
        return v

    def check_unknown(self) -> None:
        extra = sorted(set(self.table) - self.used)
        if extra:
            raise ScenarioError(f"{self.src}: [{self.path}] unknown key {extra[0]!r}; "
                                f"known keys: {', '.join(sorted(self.used))}")


SECTIONS = ("scenario", "grid", "run", "timeouts", "expect")


def parse_scenario(text: str, src: str) -> Scenario:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{src}: not valid TOML: {e}") from None
    unknown = sorted(set(doc) - set(SECTIONS))
    if unknown:
        raise ScenarioError(f"{src}: unknown section [{unknown[0]}]; known sections: {', '.join(SECTIONS)}")
    for sec in SECTIONS[:-1]:
        if sec in doc and not isinstance(doc[sec], dict):
            raise ScenarioError(f"{src}: [{sec}] must be a table")
    meta = _Reader(src, doc.get("scenario", {}), "scenario")
    name = meta.get("name", str, "a name")
    if not name:
        raise meta.fail("name", "a name (required)")
    sc = Scenario(name=name, description=meta.get("description", str, "text", ""), source=src)
    meta.check_unknown()

    grid = _Reader(src, doc.get("grid", {}), "grid")
    sc.devices = grid.choice_list("devices", None, sc.devices)
    sc.target_devices = grid.get("target_devices", list, "a list of device names", [])
    sc.modes = [Mode(v) for v in grid.choice_list("modes", values(Mode), sc.modes)]
    sc.strategies = [Strategy(v) for v in grid.choice_list("strategies", values(Strategy), sc.strategies)]
    sc.restarts = [Restart(v) for v in grid.choice_list("restart", values(Restart), sc.restarts)]
    if sc.target_devices and len(sc.target_devices) != len(sc.devices):
        raise grid.fail("target_devices", f"one target device per entry of devices ({len(sc.devices)})",
                        sc.target_devices)
    grid.check_unknown()

    b = sc.base
    run = _Reader(src, doc.get("run", {}), "run")
    signal = run.get("restart_signal", str, f"one of {', '.join(SIGNALS)}", b.restart_signal)
    if signal not in SIGNALS:
        raise run.fail("restart_signal", f"one of {', '.join(SIGNALS)}", signal)
    inject = run.get("inject", list, "a list of faults such as \"kill-at:after-rtr\"", b.inject.specs())
    try:
        inject = Faults.parse(f if isinstance(f, str) else repr(f) for f in inject)
    except ValueError as e:
        raise run.fail("inject", str(e)) from None
    b = replace(b, rounds=run.positive("rounds", int, b.rounds), buffer_size=run.size("buffer_size", b.buffer_size),
                length=run.size("length", b.length), restart_signal=signal,
                restart_delay=run.positive("restart_delay", float, b.restart_delay),
                gid_index=run.get("gid_index", int, "a GID index (integer)", None), inject=inject)
    if b.length > b.buffer_size:
        raise run.fail("length", f"at most buffer_size ({b.buffer_size})", b.length)
    run.check_unknown()

    t = _Reader(src, doc.get("timeouts", {}), "timeouts")
    sc.base = replace(b, **{name: t.positive(key, float, getattr(b, name)) for key, name in TIMEOUT_KEYS.items()})
    t.check_unknown()

    expect = doc.get("expect", [])
    if not isinstance(expect, list):
        raise ScenarioError(f"{src}: expectations are an array of tables: [[expect]]")
    for i, e in enumerate(expect):
        r = _Reader(src, e, f"[expect] #{i + 1}")
        verdict = r.get("verdict", str, f"one of {', '.join(values(Verdict))}")
        if verdict not in values(Verdict):
            raise r.fail("verdict", f"one of {', '.join(values(Verdict))}", verdict)
        match = {k: r.get(k, str, "a name") for k in MATCH_KEYS}
        reason = r.get("reason", str, "text", "")
        findings = r.get("findings", list, "a list of finding identifiers", [])
        r.check_unknown()
        if not any(match.values()):
            raise ScenarioError(f"{src}: [[expect]] #{i + 1} matches every cell: give at least one of "
                                f"{', '.join(MATCH_KEYS)}")
        findings = r.get("findings", list, "a list of finding identifiers", [])
        bad = [f for f in findings if not isinstance(f, str) or not is_known(f)]
        if bad:
            raise r.fail("findings", f"identifiers of findings ({', '.join(sorted(FINDINGS))}, or STEP-failed-ERRNO)",
                         bad[0])
        if verdict == Verdict.FAIL and not findings:
            raise r.fail("findings", "the findings this FAIL accepts (any other finding is a regression)")
        if verdict != Verdict.FAIL and findings:
            raise r.fail("findings", "no findings: only a FAIL rule names them", findings)
        sc.expectations.append(Expectation.of(Verdict(verdict), reason, tuple(findings), **match))
    return sc


def load_scenario(path: Path | str) -> Scenario:
    p = Path(path)
    if not p.exists():
        builtin = resources.files("rdmacheck.scenarios").joinpath(f"{p.name.removesuffix('.toml')}.toml")
        if builtin.is_file():
            return parse_scenario(builtin.read_text(), f"{p.name} (built in)")
        raise ScenarioError(f"{path}: no such scenario file (built-in ones: {', '.join(builtin_names())})")
    return parse_scenario(read_text_input(p, "the scenario file"), str(p))


def builtin_names() -> list[str]:
    return sorted(f.name.removesuffix(".toml") for f in resources.files("rdmacheck.scenarios").iterdir()
                  if f.name.endswith(".toml"))
