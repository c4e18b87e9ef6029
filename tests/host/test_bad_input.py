"""Bad input is exit 2 with one line naming what was wrong, never an internal error (exit 70): every
file-, path- and URL-taking option of every command (from the click params themselves) is fed a
table of bad values, with the commands' work replaced by recorders (tests/host/test_options_reach.py)
so that a value that slips through is seen as a run, not as a failure of something else."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from rdmacheck.cli.app import main
from tests.host.test_options_reach import Case, _command, _patch, cases

IN_FILES = {"--token-file", "--etcd-ca", "--etcd-cert", "--etcd-key"}  # --scenario: below (the table's
# harness replaces scenario loading, so scenario files are fed unpatched in test_positional_files...)
OUT_FILES = {"--junit", "--prom"}  # and --json where it names a file (not a flag)
OUT_DIRS = {"--tone"}
URLS = {"--metadata"}


def _bad_values(flag: str, tmp: Path) -> list[tuple[str, str]]:
    """(what, value) pairs that must be refused for this option."""
    afile, adir = tmp / "a-file", tmp / "a-dir"
    binary, empty = tmp / "binary", tmp / "empty"
    afile.write_text("x\n")
    adir.mkdir(exist_ok=True)
    binary.write_bytes(b"\x7fELF\x00\x01\xff\xfe")
    empty.write_text("")
    if flag in IN_FILES:
        bad = [("missing", str(tmp / "missing")), ("directory", str(adir)), ("binary", str(binary))]
        return bad + ([("empty", str(empty))] if flag == "--token-file" else [])
    if flag in OUT_FILES or flag == "--json":
        return [("directory", str(adir)), ("under a file", str(afile / "x.out"))]
    if flag in OUT_DIRS:
        return [("an existing file", str(afile)), ("under a file", str(afile / "d"))]
    if flag in URLS:
        return [("port out of range", "etcd://127.0.0.1:99999"), ("no port", "etcd://127.0.0.1"),
                ("another scheme", "http://127.0.0.1:2379")]
    return []


def _table() -> list[tuple[Case, str]]:
    rows = []
    for case in cases():
        for p in _command(case.path).params:
            flags = [f for f in getattr(p, "opts", []) if f in IN_FILES | OUT_FILES | OUT_DIRS | URLS | {"--json"}]
            if not flags or getattr(p, "is_flag", False):
                continue
            rows.append((case, flags[0]))
    return rows


ROWS = _table()


def _run(case: Case, args: list[str], tmp: Path, monkeypatch, capsys) -> tuple[int, str]:
    _patch(monkeypatch, case)
    monkeypatch.chdir(tmp)
    monkeypatch.setattr(sys, "argv", ["rdmacheck", *case.path, *args])
    monkeypatch.setattr("tempfile.gettempdir", lambda: str(tmp))  # where an internal error's traceback would go
    with pytest.raises(SystemExit) as ex:
        main()
    return ex.value.code, capsys.readouterr().err


def test_the_table_covers_the_commands():
    names = {(" ".join(c.path), f) for c, f in ROWS}
    assert ("report", "--junit") in names and ("fleet run", "--prom") in names and ("run", "--tone") in names
    assert ("metadata ls", "--metadata") in names and ("reestablish --local", "--token-file") in names
    assert len(ROWS) >= 30, names


@pytest.mark.parametrize("case,flag", ROWS, ids=[f"{' '.join(c.path)} {f} ({'/'.join(c.base)[:30]})" for c, f in ROWS])
def test_bad_values_are_one_line_and_exit_2(case, flag, tmp_path, monkeypatch, capsys):
    base = [a.replace("{results}", str(tmp_path / "results.json")) for a in case.base]
    (tmp_path / "results.json").write_text('{"schema_version": 1, "command": "x", "cells": []}')
    if flag == "--metadata":  # the option may be in the base already: replace its value
        base = [a for i, a in enumerate(base) if a != "--metadata" and (i == 0 or base[i - 1] != "--metadata")]
    if "--" in base:  # lab run: options before the command
        i = base.index("--")
        base = base[i + 2:] + base[:i + 2]
    for what, value in _bad_values(flag, tmp_path):
        code, err = _run(case, [flag, value, *base] if "--" not in base else [flag, value, *base], tmp_path,
                         monkeypatch, capsys)
        assert code == 2, f"{flag} {what}: exit {code}: {err}"
        assert flag in err or value in err, f"{flag} {what}: the error does not name it: {err}"
        assert "internal error" not in err and "Traceback" not in err
        assert not list(tmp_path.glob("rdmacheck-internal-error-*")), f"{flag} {what}: a traceback file"
        ours = [line for line in err.splitlines() if line.startswith("rdmacheck: error:")]
        assert len(ours) <= 1, err


@pytest.mark.parametrize("args,named", [
    (("report", "{dir}"), "is a directory"),
    (("report", "{list}"), "not an object"),
    (("report", "{maybe}"), "'MAYBE' is not one of"),
    (("run", "{dir}"), "is a directory"),
    (("run", "{binary}"), "binary"),
    (("matrix", "--scenario", "{dir}"), "is a directory"),
    (("matrix", "--scenario", "{binary}"), "binary"),
    (("reestablish", "--local", "-d", "dev0", "--scenario", "{dir}"), "is a directory"),
    (("reestablish", "--local", "-d", "dev0", "--scenario", "{empty}"), "name"),
    (("mooncake", "engines", "--install", "not-a-version"), "--install"),
    (("fleet", "run", "--metadata", "etcd://127.0.0.1:1", "--expect", "2", "--pairing", "star"), "star"),
    (("fleet", "run", "--metadata", "etcd://127.0.0.1:1", "--expect", "2", "--pairing", "file:{dir}"), "directory"),
    (("reestablish",), "--local"),
], ids=["report-dir", "report-list", "report-verdict", "run-dir", "run-binary", "matrix-scenario-dir",
        "matrix-scenario-binary", "local-scenario-dir", "local-scenario-empty", "engines-version", "pairing-star",
        "pairing-file-dir", "bare-reestablish"])
def test_positional_files_are_checked_too(args, named, tmp_path, monkeypatch, capsys):
    (tmp_path / "d").mkdir()
    (tmp_path / "list.json").write_text("[]")
    (tmp_path / "maybe.json").write_text('{"schema_version": 1, "command": "x", "cells": [{"device": "d", '
                                         '"provider": "p", "mode": "oob", "strategy": "reset", "restart": '
                                         '"target", "verdict": "MAYBE"}]}')
    (tmp_path / "bin").write_bytes(b"\x00\x01\x02")
    (tmp_path / "empty.toml").write_text("")
    subst = {"{dir}": str(tmp_path / "d"), "{list}": str(tmp_path / "list.json"), "{empty}": str(tmp_path / "empty.toml"),
             "{maybe}": str(tmp_path / "maybe.json"), "{binary}": str(tmp_path / "bin")}
    argv = [a.replace(k, v) for a in args for k, v in [next(((k, v) for k, v in subst.items() if k in a), ("", ""))]]
    monkeypatch.setattr(sys, "argv", ["rdmacheck", *argv])
    with pytest.raises(SystemExit) as ex:
        main()
    err = capsys.readouterr().err
    assert ex.value.code == 2 and named in err and "internal error" not in err, err


def test_doctor_metadata_of_another_scheme_is_usage(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["rdmacheck", "doctor", "--metadata", "http://x"])
    with pytest.raises(SystemExit) as ex:
        main()
    assert ex.value.code == 2 and "--metadata" in capsys.readouterr().err
