"""Processes as /proc shows them, for tests that check what outlives whom."""

from pathlib import Path


def _stat(pid: int) -> list[str]:
    """The fields after the command name (state first, then the parent's pid)."""
    return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()


def alive(pid: int) -> bool:
    """Running (a zombie waiting for whoever adopted it is not)."""
    try:
        return _stat(pid)[0] != "Z"
    except (OSError, IndexError):
        return False


def parent(pid: int) -> int | None:
    try:
        return int(_stat(pid)[1])
    except (OSError, ValueError, IndexError):
        return None


def descendants(pid: int) -> list[int]:
    """Every process below pid, now."""
    parents = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                parents[int(d.name)] = int(_stat(int(d.name))[1])
            except (OSError, ValueError, IndexError):
                continue
    out, todo = [], [pid]
    while todo:
        cur = todo.pop()
        kids = [c for c, p in parents.items() if p == cur]
        out += kids
        todo += kids
    return out
