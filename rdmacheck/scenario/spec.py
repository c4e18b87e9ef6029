"""Scenario files (TOML): the grid of cells, how each runs, faults, and expectations.

Every key is checked; an error names the file, the key and what was expected. The schema is
documented in README.md ("Scenario files").
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from rdmacheck.errors import RdmacheckError
from rdmacheck.report.expectations import MATCH_KEYS, VERDICTS, Expectation
from rdmacheck.units import parse_size

MODES = ("oob", "cm", "auto")
STRATEGIES = ("reset", "recreate", "auto")
RESTARTS = ("initiator", "target")
SIGNALS = ("KILL", "TERM")


class ScenarioError(RdmacheckError):
    exit_code = 2


@dataclass
class Scenario:
    name: str
    description: str = ""
    source: str = "(built in)"
    devices: list[str] = field(default_factory=lambda: ["auto"])
    target_devices: list[str] = field(default_factory=list)
    modes: list[str] = field(default_factory=lambda: ["auto"])
    strategies: list[str] = field(default_factory=lambda: ["reset", "recreate"])
    restarts: list[str] = field(default_factory=lambda: ["initiator", "target"])
    rounds: int = 2
    buffer_size: int = 1 << 20
    length: int = 64 << 10
    restart_signal: str = "KILL"
    restart_delay: float = 0.0
    gid_index: int | None = None
    start_timeout: float = 60.0
    round_timeout: float = 60.0
    io_timeout: float = 30.0
    reconnect_timeout: float = 30.0
    expectations: list[Expectation] = field(default_factory=list)


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
    sc.modes = grid.choice_list("modes", MODES, sc.modes)
    sc.strategies = grid.choice_list("strategies", STRATEGIES, sc.strategies)
    sc.restarts = grid.choice_list("restart", RESTARTS, sc.restarts)
    if sc.target_devices and len(sc.target_devices) != len(sc.devices):
        raise grid.fail("target_devices", f"one target device per entry of devices ({len(sc.devices)})",
                        sc.target_devices)
    grid.check_unknown()

    run = _Reader(src, doc.get("run", {}), "run")
    sc.rounds = run.positive("rounds", int, sc.rounds)
    sc.buffer_size = run.size("buffer_size", sc.buffer_size)
    sc.length = run.size("length", sc.length)
    sc.restart_signal = run.get("restart_signal", str, f"one of {', '.join(SIGNALS)}", sc.restart_signal)
    if sc.restart_signal not in SIGNALS:
        raise run.fail("restart_signal", f"one of {', '.join(SIGNALS)}", sc.restart_signal)
    sc.restart_delay = run.positive("restart_delay", float, sc.restart_delay)
    sc.gid_index = run.get("gid_index", int, "a GID index (integer)", None)
    if sc.length > sc.buffer_size:
        raise run.fail("length", f"at most buffer_size ({sc.buffer_size})", sc.length)
    run.check_unknown()

    t = _Reader(src, doc.get("timeouts", {}), "timeouts")
    sc.start_timeout = t.positive("start", float, sc.start_timeout)
    sc.round_timeout = t.positive("round", float, sc.round_timeout)
    sc.io_timeout = t.positive("io", float, sc.io_timeout)
    sc.reconnect_timeout = t.positive("reconnect", float, sc.reconnect_timeout)
    t.check_unknown()

    expect = doc.get("expect", [])
    if not isinstance(expect, list):
        raise ScenarioError(f"{src}: expectations are an array of tables: [[expect]]")
    for i, e in enumerate(expect):
        r = _Reader(src, e, f"[expect] #{i + 1}")
        verdict = r.get("verdict", str, f"one of {', '.join(VERDICTS)}")
        if verdict not in VERDICTS:
            raise r.fail("verdict", f"one of {', '.join(VERDICTS)}", verdict)
        match = {k: r.get(k, str, "a name") for k in MATCH_KEYS}
        reason = r.get("reason", str, "text", "")
        r.check_unknown()
        if not any(match.values()):
            raise ScenarioError(f"{src}: [[expect]] #{i + 1} matches every cell: give at least one of "
                                f"{', '.join(MATCH_KEYS)}")
        sc.expectations.append(Expectation(verdict=verdict, reason=reason, **match))
    return sc


def load_scenario(path: Path | str) -> Scenario:
    p = Path(path)
    if not p.exists():
        builtin = resources.files("rdmacheck.scenarios").joinpath(f"{p.name.removesuffix('.toml')}.toml")
        if builtin.is_file():
            return parse_scenario(builtin.read_text(), f"{p.name} (built in)")
        raise ScenarioError(f"{path}: no such scenario file (built-in ones: {', '.join(builtin_names())})")
    return parse_scenario(p.read_text(), str(p))


def builtin_names() -> list[str]:
    return sorted(f.name.removesuffix(".toml") for f in resources.files("rdmacheck.scenarios").iterdir()
                  if f.name.endswith(".toml"))
