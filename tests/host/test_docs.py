"""The docs cannot drift from the CLI: the generated pages are current, every `rdmacheck ...` command
line shown in README.md and docs/ names commands and options that exist, and the README stays a
front door."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from rdmacheck.cli.app import every_command
from rdmacheck.cli.reestablish import local_app, role_app

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
GENERATED = {"cli.md"}  # made from the app itself: its lines are checked by being regenerated
CMD = re.compile(r"^(?:\$ |.*&& )?(?:\S*/)?(rdmacheck [^#|>]*)")


def _command_lines() -> list[tuple[str, str]]:
    """Command lines in fenced code and in `code spans` (prose that names rdmacheck is not one)."""
    out = []
    for page in PAGES:
        if page.name in GENERATED:
            continue
        fenced = False
        for n, line in enumerate(page.read_text().splitlines(), 1):
            if line.startswith("```"):
                fenced = not fenced
                continue
            for code in [line.strip()] if fenced else re.findall(r"`([^`]+)`", line):
                m = CMD.match(code.strip())
                if not m:
                    continue
                for part in m.group(1).split(" -- "):  # `lab run -- rdmacheck ...`: the guest's too
                    part = part.strip()
                    if part.startswith("rdmacheck ") and not part.startswith("rdmacheck: "):
                        out.append((f"{page.name}:{n}", part))
    return out


LINES = _command_lines()


def _resolve(words: list[str]):
    """The click command a line names, and the words left; None for a word that names no command."""
    cmd = typer.main.get_command(every_command())
    rest = list(words)
    while rest and hasattr(cmd, "commands"):
        word = rest[0]
        if word.startswith("-") or not re.fullmatch(r"[a-z][a-z-]*", word):
            break
        if word not in cmd.commands:
            return None, rest
        cmd = cmd.commands[word]
        rest.pop(0)
    if cmd.name == "reestablish":
        if "--local" in rest:
            cmd = typer.main.get_command(local_app)
            rest.remove("--local")
        elif any(w.startswith("--role") for w in rest):
            cmd = typer.main.get_command(role_app)
    return cmd, rest


def _options(cmd) -> set[str]:
    names = {"--help"}
    for p in cmd.params:
        names.update(getattr(p, "opts", []))
        names.update(getattr(p, "secondary_opts", []))
    return names


def test_docs_show_command_lines():
    assert len(LINES) > 40, LINES  # the walker finds them: a regex gone wrong would pass silently


@pytest.mark.parametrize("where,line", LINES, ids=[w for w, _ in LINES])
def test_every_shown_command_line_parses(where, line):
    words = line.split()[1:]
    cmd, rest = _resolve(words)
    assert cmd is not None, f"{where}: `{line}`: no command {rest[0]!r}"
    flags = {m for w in rest for m in re.findall(r"(?<![\w-])(--?[a-zA-Z][a-zA-Z0-9-]*)", w.split("=")[0])}
    unknown = sorted(f for f in flags if f not in _options(cmd))
    assert unknown == [], f"{where}: `{line}`: {cmd.name} has no option {', '.join(unknown)}"


def test_the_walker_catches_an_unknown_option_and_command():
    cmd, rest = _resolve(["matrix", "--no-such"])
    assert "--no-such" not in _options(cmd) and "--lab" in _options(cmd)
    assert _resolve(["no-such-command"])[0] is None
    assert "--restart" in _options(_resolve(["reestablish", "--local", "-d", "x"])[0])


def test_generated_pages_are_current():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "gen_docs.py"), "--check"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_readme_is_a_front_door():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 250
    links = re.findall(r"\]\((docs/[^)#]+)", "\n".join(lines))
    assert links and all((ROOT / link).exists() for link in links), links


RELEASE = re.compile(r"(?:(mooncake|nixl)==|--engines? )([0-9][0-9A-Za-z.]*(?:,[^\s]+)?)")


def _releases(line: str) -> set[str]:
    """kind==release for every engine release a command line names (`--engine(s) R1,R2`: Mooncake's bare ones)."""
    out = set()
    for kind, value in RELEASE.findall(line):
        for item in value.split(","):
            k, sep, r = item.partition("==")
            out.add(f"{k}=={r}" if sep else f"{kind or 'mooncake'}=={item}")
    return out


def test_every_engine_release_a_page_runs_is_one_set_up_or_the_page_installs():
    """Copying a command from the docs works right after set-up: the releases it names are the ones set-up
    installs, or ones an `rdmacheck engines install` line earlier on the same page installs (results of other
    releases can still be shown and discussed)."""
    from rdmacheck.engines.catalog import default_specs

    bad = []
    installed_by: dict[str, set[str]] = {}
    for where, line in LINES:
        page = where.split(":")[0]
        named = _releases(line)
        if line.startswith("rdmacheck engines install"):
            installed_by.setdefault(page, set()).update(named)
            continue
        missing = named - set(default_specs()) - installed_by.get(page, set())
        if missing:
            bad.append(f"{where}: {line[:80]} names {sorted(missing)}")
    assert bad == []


def test_the_release_finder_reads_every_spelling():
    assert _releases("rdmacheck engines matrix -d rxe0 --engines mooncake==0.3.11,nixl==0.10.1") == \
        {"mooncake==0.3.11", "nixl==0.10.1"}
    assert _releases("rdmacheck mooncake matrix -d rxe0 --engines 0.3.10,0.3.10.post1") == \
        {"mooncake==0.3.10", "mooncake==0.3.10.post1"}
    assert _releases("rdmacheck mooncake simopen -d rxe0 --engine 0.3.10") == {"mooncake==0.3.10"}


def _tour() -> list[tuple[str, str]]:
    """The README tour's command lines with what the page says of each (its comment and the comment lines
    after it), in order."""
    text = (ROOT / "README.md").read_text()
    block = text.split("## A tour without RDMA hardware", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    out: list[tuple[str, str]] = []
    for line in block.splitlines():
        code, _, said = line.partition("#")
        if code.strip():
            out.append((code.strip(), said.strip()))
        elif out:
            out[-1] = (out[-1][0], f"{out[-1][1]} {said.strip()}")
    return out


@pytest.mark.skipif(Path("/sys/class/infiniband").exists(), reason="the tour's exit codes are a host's without RDMA")
def test_the_readme_tour_runs_here_as_it_says():
    """Every tour line that runs on a host without RDMA is run, in order, from the project's root (where a
    reader is after set-up): its exit code is the one the page says (`exit N`, else 0), and a quoted error line
    is the one printed. The lab's line and the benchmark are run by the lab suite and benchmarks/."""
    ran = 0
    for code, said in _tour():
        if "lab run" in code or "benchmarks/" in code:
            continue
        r = subprocess.run(["bash", "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
        m = re.search(r"exit (\d+)", said)
        assert r.returncode == (int(m.group(1)) if m else 0), (code, said, r.stdout[-500:], r.stderr[-500:])
        quoted = re.search(r"(rdmacheck: error: .*)$", said)
        if quoted:
            assert quoted.group(1) in r.stderr, (code, r.stderr)
        ran += 1
    assert ran >= 5


HOST_RUNNABLE = ("doctor", "devices", "engines list", "report", "metadata --help", "lab status")


@pytest.mark.skipif(Path("/sys/class/infiniband").exists(), reason="run as on a host without RDMA")
def test_every_concrete_host_runnable_line_of_the_docs_runs_without_a_crash():
    """Lines of every page a reader can run on a host without RDMA right after set-up (no placeholder to fill):
    each ends with a verdict or one clear error (exit 0, 1 or 2), never an internal error."""
    ran = []
    for where, line in LINES:
        words = line.split()[1:]
        concrete = not re.search(r"[A-Z]{2,}|\[|\.\.\.|\\|<", line)
        if not concrete or not any(" ".join(words).startswith(c) for c in HOST_RUNNABLE):
            continue
        r = subprocess.run([sys.executable, "-m", "rdmacheck", *words], cwd=ROOT, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode in (0, 1, 2) and "internal error" not in r.stderr, (where, line, r.stderr[-500:])
        ran.append(line)
    assert len(ran) >= 5, ran
