"""DLSlime releases (`dlslime` on PyPI: RC READ/WRITE over endpoints connected by exchanging their info), one venv
per release, for the engine tests. The wheel is a CPU build linking the host's libibverbs; its Python
dependencies (pydantic, redis, httpx, ...) serve its peer agent and caches, which the side does not use, so the
install takes the wheel alone (`--no-deps`) and proves the import."""

from __future__ import annotations

from rdmacheck.engines.engine import (
    Engine,
    build_once,
    check_release,
    engine_in,
    engines_dir,
    installed_of,
    run_step,
)
from rdmacheck.errors import RdmacheckError

KIND = "dlslime"
DISTRIBUTION = "dlslime"
MODULE = "rdmacheck.engines.dlslime_side"
DEFAULT_RELEASES = ("0.1.23",)
IWARP = False  # not tried on siw (the lab's rows are on rxe0)


def installed() -> list[Engine]:
    return installed_of(KIND, MODULE)


def engine_for(release: str) -> Engine:
    return engine_in(KIND, "DLSlime", release, MODULE)


def install(release: str, base_python: str = "/usr/bin/python3", say=print) -> Engine:
    check_release("DLSlime", release, DEFAULT_RELEASES[-1])
    venv = engines_dir() / f"{KIND}-{release}"
    what = f"installing DLSlime {release}"

    def build() -> None:
        run_step(what, [base_python, "-m", "venv", "--clear", str(venv)])
        run_step(what, [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "--no-deps",
                        f"{DISTRIBUTION}=={release}"])
        reported = run_step(what, [str(venv / "bin" / "python"), "-c", "import dlslime, importlib.metadata as m; "
                                   f"print(m.version({DISTRIBUTION!r}))"])
        if reported.strip() != release:
            raise RdmacheckError(f"the venv for DLSlime {release} reports {reported.strip()}")

    build_once(venv, f"{KIND}=={release}", build)
    return Engine(venv / "bin" / "python", release, KIND, MODULE)
