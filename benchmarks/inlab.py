"""The one way a benchmark runs inside the Soft-RDMA lab from the host: `in_lab(argv)` boots the lab VM and
runs argv there (this project's venv and tree, the same paths); `rerun_inside(__file__, out, ...)` runs the
calling benchmark itself there with `--inside OUT` (OUT shared read-write with the guest for its results)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def in_lab(argv: list[str], timeout: float = 1800, mem: str | None = None, rw: Path | None = None,
           capture: bool = False, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "rdmacheck", "lab", "run", "--timeout", f"{timeout:g}"]
    cmd += ["--mem", mem] if mem else []
    cmd += ["--rw", str(rw)] if rw else []
    return subprocess.run([*cmd, "--", *argv], cwd=ROOT, capture_output=capture, text=True, env=env)


def rerun_inside(script: str, out: Path, *args: str, timeout: float = 1800, mem: str | None = None) -> int:
    """The benchmark `script` (its __file__) run in the lab with `--inside OUT` and its own arguments."""
    return in_lab([sys.executable, str(Path(script).resolve()), *args, "--inside", str(out)], timeout, mem,
                  rw=out).returncode
