"""An installed engine (a Python that runs one engine's side) and what every adapter's install shares:
one venv per kind and release under engines_dir(), built in steps with deadlines, never left half-built."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rdmacheck.errors import BadInput, EnvironmentProblem, RdmacheckError

DEFAULT_ENGINES_DIR = "/var/tmp/rdmacheck-engines"
PROJECT_ROOT = Path(__file__).resolve().parents[2]  # the directory holding the rdmacheck package
INSTALL_TIMEOUT = 600.0
MARKER = ".installed"


def engines_dir() -> Path:
    """Where the engines' venvs are; their `bin/python` runs as whoever runs rdmacheck (root included), so a
    directory that another user could have made or can write is refused, naming RDMACHECK_ENGINES_DIR (under
    a world-writable parent such as /var/tmp, whoever creates it first would choose what later runs)."""
    d = Path(os.environ.get("RDMACHECK_ENGINES_DIR") or DEFAULT_ENGINES_DIR)
    check_trusted(d)
    return d


def check_trusted(d: Path) -> None:
    try:
        st = d.stat()
    except FileNotFoundError:
        return  # nothing there to run yet: made 0755 by its first install (make_engines_dir)
    except OSError as e:
        raise EnvironmentProblem(f"the engines directory {d} (RDMACHECK_ENGINES_DIR): {e.strerror or e}") from None
    me = os.geteuid()
    if st.st_uid not in (0, me):
        raise EnvironmentProblem(f"the engines directory {d} belongs to uid {st.st_uid}, not to you or root: its "
                                 "Pythons would run as you; set RDMACHECK_ENGINES_DIR to a directory of your own")
    if st.st_mode & 0o022:
        raise EnvironmentProblem(f"the engines directory {d} is writable by others (mode {st.st_mode & 0o777:o}): "
                                 "anyone could replace its Pythons; chmod go-w it or set RDMACHECK_ENGINES_DIR")


def make_engines_dir() -> Path:
    """engines_dir(), created 0755 by its owner if it does not exist (never group- or world-writable)."""
    d = Path(os.environ.get("RDMACHECK_ENGINES_DIR") or DEFAULT_ENGINES_DIR)
    if not d.exists():
        d.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.chmod(d, 0o755)
    return engines_dir()


@dataclass(frozen=True)
class Engine:
    """A Python that runs one engine's side (`module`), and the release it reports."""
    python: Path
    release: str
    kind: str = "mooncake"
    module: str = "rdmacheck.engines.mooncake_side"

    @property
    def label(self) -> str:
        """Mooncake's releases keep their bare number (the `mooncake` commands' outputs); others say their kind."""
        return self.release if self.kind == "mooncake" else f"{self.kind} {self.release}"

    @property
    def spec(self) -> str:
        return f"{self.kind}=={self.release}"

    def env(self) -> dict[str, str]:
        """What the engine side's process needs on top of os.environ."""
        path = os.environ.get("PYTHONPATH")
        return {"PYTHONPATH": f"{PROJECT_ROOT}{os.pathsep}{path}" if path else str(PROJECT_ROOT)}


def release_key(release: str) -> tuple:
    """PEP 440 order (0.3.9 < 0.3.10 < 0.3.10.post1 < 0.3.11); a name otherwise sorts first (by name)."""
    from packaging.version import InvalidVersion, Version  # noqa: PLC0415

    try:
        return (1, Version(release), "")
    except InvalidVersion:
        return (0, Version("0"), release)


def check_release(kind: str, release: str, example: str) -> None:
    from packaging.version import InvalidVersion, Version  # noqa: PLC0415

    try:
        ok = str(Version(release)) == release  # exactly as PyPI names it: no spaces, no other spelling
    except InvalidVersion:
        ok = False
    if not ok:
        raise BadInput(f"{kind} release {release!r} is not a release number as PyPI spells it (e.g. {example})")


def run_step(what: str, cmd: list[str], env: dict[str, str] | None = None) -> str:
    """One install step under INSTALL_TIMEOUT; its last error line if it fails."""
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=INSTALL_TIMEOUT,
                             env={**os.environ, **env} if env else None)
    except subprocess.TimeoutExpired:
        raise RdmacheckError(f"{what}: {' '.join(cmd[:3])} took over {INSTALL_TIMEOUT:.0f} s") from None
    except OSError as e:
        raise EnvironmentProblem(f"{what}: {e}") from None
    if out.returncode != 0:
        last = (out.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise EnvironmentProblem(f"{what}: {last}")
    return out.stdout


def build_once(venv: Path, marker: str, build: Callable[[], None]) -> bool:
    """Run `build` unless the venv is marked built; a failed build leaves nothing behind. True if built now."""
    if (venv / MARKER).exists():
        return False
    make_engines_dir()
    try:
        build()
    except BaseException:
        shutil.rmtree(venv, ignore_errors=True)
        raise
    (venv / MARKER).write_text(marker + "\n")
    return True


def marker_of(venv: Path) -> str | None:
    try:
        return (venv / MARKER).read_text().strip()
    except OSError:
        return None


def installed_of(kind: str, module: str) -> list[Engine]:
    """Every release of a kind installed under engines_dir() (venvs named `<kind>-<release>`), oldest first."""
    root = engines_dir()
    if not root.is_dir():
        return []
    found = [Engine(d / "bin" / "python", marker_of(d).split("==", 1)[1], kind, module)
             for d in root.iterdir() if (marker_of(d) or "").startswith(f"{kind}==")]
    return sorted(found, key=lambda e: release_key(e.release))


def engine_in(kind: str, title: str, release: str, module: str) -> Engine:
    """The installed release of a kind, or why not (naming the install command)."""
    venv = engines_dir() / f"{kind}-{release}"
    if marker_of(venv) != f"{kind}=={release}":
        raise EnvironmentProblem(f"{title} {release} is not installed in {venv} (install it: rdmacheck engines install "
                                 f"{kind}=={release})")
    return Engine(venv / "bin" / "python", release, kind, module)
