"""NVIDIA NIXL (UCX underneath) releases, one venv per release, for the engine tests.

The wheel (`nixl-cu12`) bundles its own libibverbs, which looks for providers in the wheel builder's
directory: the host's providers (rxe, siw, mlx5, erdma, ...) register into the host's libibverbs only,
and UCX then finds "no devices". The install keeps the wheel's file as `<name>.bundled` and links the
host's libibverbs in its place, in that venv only (measured: UCX then opens rxe0 and moves data over
rc_verbs). Releases before 1.4 import torch at the top of their API: the install adds PyTorch's CPU
build for them and says so. UCX has no iWARP transport: NIXL runs on RoCE/InfiniBand devices only.
"""

from __future__ import annotations

import ctypes.util
import subprocess
from pathlib import Path

from rdmacheck.engines.engine import (
    Engine,
    build_once,
    check_release,
    engine_in,
    engines_dir,
    installed_of,
    run_step,
)
from rdmacheck.errors import EnvironmentProblem, RdmacheckError

KIND = "nixl"
DISTRIBUTION = "nixl-cu12"
MODULE = "rdmacheck.engines.nixl_side"
DEFAULT_RELEASES = ("1.5.1",)
TORCH = "torch==2.13.0"  # the CPU build; only for releases whose API imports torch
HOST_LIBIBVERBS = ("/usr/lib/x86_64-linux-gnu/libibverbs.so.1", "/usr/lib64/libibverbs.so.1",
                   "/usr/lib/aarch64-linux-gnu/libibverbs.so.1")
IWARP = False  # UCX: "unsupported transport type iWARP"


def _venv(release: str) -> Path:
    return engines_dir() / f"{KIND}-{release}"


def _marker(release: str) -> str:
    return f"{KIND}=={release}"


def installed() -> list[Engine]:
    return installed_of(KIND, MODULE)


def engine_for(release: str) -> Engine:
    return engine_in(KIND, "NIXL", release, MODULE)


def host_libibverbs() -> Path:
    for p in HOST_LIBIBVERBS:
        if Path(p).exists():
            return Path(p)
    found = ctypes.util.find_library("ibverbs")
    if found and Path(found).is_absolute():
        return Path(found)
    raise EnvironmentProblem("no libibverbs.so.1 on this host (install rdma-core: apt install ibverbs-providers)")


def install(release: str, base_python: str = "/usr/bin/python3", say=print) -> Engine:
    check_release("NIXL", release, DEFAULT_RELEASES[-1])
    venv = _venv(release)
    build_once(venv, _marker(release), lambda: _build(venv, release, base_python, say))
    return Engine(venv / "bin" / "python", release, KIND, MODULE)


def _imports(python: Path) -> str:
    """'' if the release's API imports, else the last line of why not."""
    out = subprocess.run([str(python), "-c", "import nixl_cu12._api"], capture_output=True, text=True, timeout=300)
    return "" if out.returncode == 0 else (out.stderr.strip().splitlines() or ["(no output)"])[-1]


def _build(venv: Path, release: str, base_python: str, say) -> None:
    what = f"installing NIXL {release}"
    pip = [str(venv / "bin" / "pip"), "install", "-q", "--disable-pip-version-check", "--no-deps"]
    run_step(what, [base_python, "-m", "venv", "--clear", str(venv)])
    run_step(what, [*pip, f"{DISTRIBUTION}=={release}", "numpy"])
    python = venv / "bin" / "python"
    libs = list(venv.glob(f"lib/python3*/site-packages/{DISTRIBUTION.replace('-', '_')}.libs/libibverbs-*.so*"))
    host = host_libibverbs()
    for lib in libs:
        if lib.suffix == ".bundled":
            continue
        lib.rename(lib.with_name(lib.name + ".bundled"))
        lib.symlink_to(host)
        say(f"NIXL {release}: the wheel's {lib.name} now points at this host's {host} (so UCX sees its providers)")
    why = _imports(python)
    if "No module named 'torch'" in why:
        say(f"NIXL {release}: its API imports torch; adding PyTorch's CPU build ({TORCH})")
        run_step(what, [*pip[:-1], TORCH])  # with its dependencies
        why = _imports(python)
    if why:
        raise EnvironmentProblem(f"{what}: import nixl_cu12._api fails: {why}")
    reported = run_step(what, [str(python), "-c", f"import importlib.metadata as m; print(m.version({DISTRIBUTION!r}))"])
    if reported.strip() != release:
        raise RdmacheckError(f"the venv for NIXL {release} reports {reported.strip()}")
