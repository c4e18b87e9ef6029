"""What an engine's own log says (pure: text in, findings out): the lines worth quoting beside a verdict, and
whether its transfers are shown on RDMA on the device under test — evidence, not the settings asked for."""

from __future__ import annotations

import re
from pathlib import Path

# Mooncake (glog) lines worth quoting as evidence of what the engine did with a handshake.
EVIDENCE = re.compile(r"(same peer QP|re-establish|retiring endpoint|ready ack|reject|another thread is already|"
                      r"mismatch|handshake|failed to modify qp|socket (write|read) failed|process failed|"
                      r"failed to complete transfers)", re.I)
GLOG = re.compile(r"^[IWEF]\d{4} ")
# Mooncake: the transports it installed (`installTransport, type=rdma`) and the devices its RDMA transport opened
# (`RDMA device: rxe0, LID: ...`), the same words in every release from 0.3.10 to 0.3.13.post1.
MOONCAKE_TRANSPORT = re.compile(r"installTransport, type=(\w+)")
MOONCAKE_DEVICE = re.compile(r"RDMA device: ([\w.-]+),")

NIXL_KEEP = re.compile(r"UCX\s+(ERROR|WARN)|NIXL\s+(ERROR|WARNING)")
UCX_TRANSPORT = re.compile(r"\b((?:rc|ud|dc)_(?:verbs|mlx5)/[\w.:-]+)")
RDMA_TLS = ("rc_verbs", "ud_verbs", "rc_mlx5", "dc_mlx5", "ud_mlx5")
# A lane of UCX_PROTO_INFO's tables (a row: `| 81..477 | copy-in | rc_verbs/rxe0:1 |`): transport/device.
UCX_LANE = re.compile(r"\b(rc_verbs|ud_verbs|rc_mlx5|dc_mlx5|ud_mlx5|posix|sysv|cma|knem|xpmem|tcp|cuda_copy|cuda_ipc|"
                      r"gdr_copy|rocm_copy|rocm_ipc)/([\w.:-]+)")


def log_lines(path: Path, start: int = 0, end: int | None = None) -> list[str]:
    """The engine's glog lines in its log between two byte offsets, without their timestamp/thread prefix."""
    if not path.exists():
        return []
    with open(path, "rb") as f:
        f.seek(start)
        text = f.read(-1 if end is None else max(0, end - start)).decode(errors="replace")
    return [_message(line) for line in text.splitlines() if GLOG.match(line)]


def _message(line: str) -> str:
    head, sep, rest = line.partition("] ")
    return f"{line[0]} {rest.strip()}" if sep else line.strip()


def evidence(lines: list[str], limit: int = 12) -> list[str]:
    """The handshake-related lines, each distinct line once with a count, in first-seen order."""
    counts: dict[str, int] = {}
    for line in lines:
        if EVIDENCE.search(line):
            counts[line[:220]] = counts.get(line[:220], 0) + 1
    return [f"{line} (x{n})" if n > 1 else line for line, n in list(counts.items())[:limit]]


def mooncake_evidence(logs: list[Path], limit: int = 8) -> list[str]:
    return evidence([x for log in logs for x in log_lines(log)], limit)


def mooncake_not_on_rdma(logs: list[Path], device: str) -> str | None:
    """Why Mooncake's own log does not show its transfers on RDMA on `device` (None: it does): the only
    transport installed is rdma, and the only device it opened is `device`."""
    lines = [x for log in logs for x in log_lines(log)]
    kinds = {m for line in lines for m in MOONCAKE_TRANSPORT.findall(line)}
    devices = {m for line in lines for m in MOONCAKE_DEVICE.findall(line)}
    if kinds - {"rdma"}:
        return f"Mooncake installed the {', '.join(sorted(kinds - {'rdma'}))} transport, not only rdma"
    if devices - {device}:
        return f"Mooncake's RDMA transport opened {', '.join(sorted(devices - {device}))}, not only {device}"
    if not kinds or not devices:
        return f"Mooncake's log names no installed transport or RDMA device: nothing shows RDMA on {device}"
    return None


def nixl_evidence(logs: list[Path], limit: int = 8) -> list[str]:
    """UCX's and NIXL's errors and warnings, and the transports UCX chose (from UCX_PROTO_INFO's tables)."""
    counts: dict[str, int] = {}
    transports: set[str] = set()
    for log in logs:
        for line in log.read_text(errors="replace").splitlines():
            transports.update(UCX_TRANSPORT.findall(line))
            if NIXL_KEEP.search(line):
                msg = re.sub(r"^\[[\d.]+\] \[[^]]+\]\s*|^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ", "", line.strip())
                msg = re.sub(r"\s+", " ", msg)[:200]
                counts[msg] = counts.get(msg, 0) + 1
    head = [f"UCX chose {', '.join(sorted(transports))}"] if transports else []
    return head + [f"{m} (x{n})" if n > 1 else m for m, n in list(counts.items())[:limit]]


def ucx_lanes(logs: list[Path]) -> set[str]:
    """Every transport/device UCX's protocol tables show for the engines' transfers (UCX_PROTO_INFO=y)."""
    return {f"{tl}/{dev}" for log in logs for line in log.read_text(errors="replace").splitlines() if "|" in line
            for tl, dev in UCX_LANE.findall(line)}


def nixl_not_on_rdma(logs: list[Path], device: str) -> str | None:
    """Why the engine's own log does not show its transfers on RDMA on `device` (None: it does). Evidence, not the
    settings asked for: a site's UCX_TLS with shared memory or UCX_NET_DEVICES naming another NIC is caught."""
    lanes = ucx_lanes(logs)
    other = sorted(x for x in lanes if x.split("/")[0] not in RDMA_TLS or x.split("/")[1].split(":")[0] != device)
    if other:
        return f"UCX moved data over {', '.join(other)}, not only RDMA on {device}"
    if not lanes:
        return f"UCX's protocol tables (UCX_PROTO_INFO) name no transport: nothing shows RDMA on {device}"
    return None


# DLSlime (SLIME_LOG_LEVEL=1, which its side sets): each RDMA context it opens logs its device and the link type
# it detected on it ("Detected RDMA link type RoCE for rxe0:1"), in colour (0.1.23, measured on rxe0).
ANSI = re.compile(r"\x1b\[[0-9;]*m")
DLSLIME_DEVICE = re.compile(r"Detected RDMA link type (\w+) for ([\w.-]+):\d+")
DLSLIME_KEEP = re.compile(r"\[(ERROR|WARN)\]|Detected RDMA link type")


def _plain_lines(logs: list[Path]) -> list[str]:
    return [ANSI.sub("", line).strip() for log in logs for line in log.read_text(errors="replace").splitlines()]


def dlslime_evidence(logs: list[Path], limit: int = 8) -> list[str]:
    """DLSlime's errors and warnings, and the device and link type its RDMA contexts opened."""
    counts: dict[str, int] = {}
    for line in _plain_lines(logs):
        if DLSLIME_KEEP.search(line) and not line.startswith("{"):
            msg = re.sub(r"\s+", " ", re.sub(r"^\[(\w+)\] \S+: ", r"[\1] ", line))[:200]  # no source path
            counts[msg] = counts.get(msg, 0) + 1
    return [f"{m} (x{n})" if n > 1 else m for m, n in list(counts.items())[:limit]]


def dlslime_not_on_rdma(logs: list[Path], device: str) -> str | None:
    """Why DLSlime's own log does not show its RDMA contexts on `device` only (None: it does)."""
    devices = {dev for line in _plain_lines(logs) for _, dev in DLSLIME_DEVICE.findall(line)}
    if devices - {device}:
        return f"DLSlime's RDMA context opened {', '.join(sorted(devices - {device}))}, not only {device}"
    if not devices:
        return f"DLSlime's log names no device its RDMA context opened: nothing shows RDMA on {device}"
    return None
