"""Atomic files: readers (a CI job, node_exporter, a person with `cat`) never see half a file,
and what was written survives a crash right after (the file and its directory are fsync'ed)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from rdmacheck.errors import BadInput


def _umask() -> int:
    """This process's umask, read without changing it (Linux's /proc); elsewhere set and put back at once."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_text_atomic(path: Path, text: str | bytes) -> None:
    """Temp file in the same directory, fsync, rename, fsync the directory. The file gets the mode any new
    file gets (0666 less the umask: node_exporter, running as its own user, reads --prom), where mkstemp
    alone would leave it 0600."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(text.encode() if isinstance(text, str) else text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


def write_json_atomic(path: Path, data: dict) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


def read_text_input(path: Path, what: str, limit: int = 64 << 20) -> str:
    """A text file the user named, or BadInput naming it: missing, a directory, unreadable, too
    large, or not UTF-8 text (a binary file)."""
    path = Path(path)
    if path.is_dir():
        raise BadInput(f"{what} {path} is a directory, not a file")
    try:
        with open(path, "rb") as f:
            raw = f.read(limit + 1)
    except FileNotFoundError:
        raise BadInput(f"{what} {path}: no such file") from None
    except OSError as e:
        raise BadInput(f"{what} {path} cannot be read: {e.strerror or e}") from None
    if len(raw) > limit:
        raise BadInput(f"{what} {path} is larger than {limit >> 20} MiB")
    if b"\0" in raw:
        raise BadInput(f"{what} {path} is a binary file, not text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"{what} {path} is not UTF-8 text") from None


def read_json_input(path: Path, what: str) -> Any:
    text = read_text_input(path, what)
    try:
        return json.loads(text)
    except ValueError as e:
        raise BadInput(f"{what} {path} is not JSON: {e}") from None


def check_output_file(path: Path, option: str) -> None:
    """Before anything runs: a file an option will write can be written (not a directory, its folder
    can be made and written)."""
    path = Path(path)
    if path.is_dir():
        raise BadInput(f"{option} {path} is a directory; give a file name")
    _check_writable_dir(path.parent, option, path)


def check_output_dir(path: Path, option: str) -> None:
    """Before anything runs: a directory an option will fill is one, or can be made."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise BadInput(f"{option} {path} is a file; give a directory")
    _check_writable_dir(path, option, path)


def _check_writable_dir(folder: Path, option: str, shown: Path) -> None:
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise BadInput(f"{option} {shown}: {existing} is a file, not a directory")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise BadInput(f"{option} {shown}: {existing} is not writable")
