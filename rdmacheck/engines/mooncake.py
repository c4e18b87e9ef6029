"""Real Mooncake engines, one venv per release (pinned, installed once, cached), or a Python an
engine developer points at (`--engine-python`: their own build).

The engine side (mooncake_side.py) runs under the engine's Python with rdmacheck on PYTHONPATH: it
needs only rdmacheck's standard-library modules (driver, pattern), never pyverbs.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from rdmacheck.engines.engine import (
    Engine,
    build_once,
    check_release,
    engines_dir,
    marker_of,
    release_key,
    run_step,
)
from rdmacheck.errors import EnvironmentProblem, RdmacheckError

DISTRIBUTION = "mooncake-transfer-engine-non-cuda"
# What set-up installs and `mooncake matrix` runs by default: the last release before the simultaneous
# open fix (PR #1733), the first with it, the first with the ready-ACK's successor fixes, the current one.
DEFAULT_RELEASES = ("0.3.10", "0.3.10.post1", "0.3.12.post1", "0.3.13.post1")


def _venv(release: str) -> Path:
    return engines_dir() / release


def _reported_release(python: Path) -> str:
    """The installed engine distribution's version, asked of that Python (an own build may have none)."""
    code = ("import importlib.metadata as m, importlib.util as u\n"
            "assert u.find_spec('mooncake.engine'), 'no module mooncake.engine'\n"
            "for d in ('mooncake-transfer-engine-non-cuda', 'mooncake-transfer-engine'):\n"
            "    try: print(m.version(d)); break\n"
            "    except m.PackageNotFoundError: pass\n"
            "else: print('unversioned')\n")
    try:
        out = subprocess.run([str(python), "-c", code], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise EnvironmentProblem(f"cannot run engine Python {python}: {e}") from None
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise EnvironmentProblem(f"{python} cannot import mooncake.engine: {last}")
    return out.stdout.strip()


def engine_for(spec: str) -> Engine:
    """A release ('0.3.10', installed by set-up) or a path to a Python with an engine."""
    if "/" in spec:
        python = Path(spec)
        if not python.exists():
            raise EnvironmentProblem(f"engine Python {spec} does not exist")
        return Engine(python, _reported_release(python))
    python = _venv(spec) / "bin" / "python"
    if not (_venv(spec) / ".installed").exists():
        raise EnvironmentProblem(f"Mooncake engine {spec} is not installed in {_venv(spec)} (install it: "
                             f"rdmacheck engines install mooncake=={spec}; scripts/setup.sh installs "
                             f"{', '.join(DEFAULT_RELEASES)} and NIXL's; `rdmacheck engines list` shows what is here)")
    return Engine(python, spec)


def default_engine() -> Engine:
    """This interpreter's engine (the `[mooncake]` extra), else the newest release set-up installed."""
    import importlib.util  # noqa: PLC0415
    import sys  # noqa: PLC0415

    if importlib.util.find_spec("mooncake") is not None:
        return Engine(Path(sys.executable), _reported_release(Path(sys.executable)))
    found = installed()
    if not found:
        raise EnvironmentProblem(f"no Mooncake engine: pip install 'rdmacheck[mooncake]', or rdmacheck mooncake engines "
                             f"--install {DEFAULT_RELEASES[-1]} (scripts/setup.sh installs {', '.join(DEFAULT_RELEASES)})")
    return found[-1]


def installed() -> list[Engine]:
    root = engines_dir()
    if not root.is_dir():
        return []
    # A Mooncake venv is marked with its bare release (other kinds with `kind==release`).
    found = [Engine(d / "bin" / "python", d.name) for d in root.iterdir() if marker_of(d) == d.name]
    return sorted(found, key=lambda e: release_key(e.release))


def install(release: str, base_python: str = "/usr/bin/python3", say=print) -> Engine:
    """A venv with exactly that release (no dependencies: the engine module needs none); idempotent.
    Nothing to `say`: the wheel needs no change."""
    check_release("Mooncake", release, DEFAULT_RELEASES[-1])
    venv = _venv(release)
    build_once(venv, release, lambda: _build(venv, release, base_python))
    return Engine(venv / "bin" / "python", release)


def _build(venv: Path, release: str, base_python: str) -> None:
    what = f"installing Mooncake {release}"
    run_step(what, [base_python, "-m", "venv", "--clear", str(venv)])
    run_step(what, [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "--no-deps",
                    f"{DISTRIBUTION}=={release}"])
    reported = _reported_release(venv / "bin" / "python")
    if reported != release:
        raise RdmacheckError(f"the venv for Mooncake {release} reports {reported}")
