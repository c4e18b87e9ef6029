"""A role process driven with pexpect: its JSON-lines events, waited for with deadlines."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

import pexpect
from pexpect.popen_spawn import PopenSpawn

from rdmacheck.errors import DeadlineExceeded, RdmacheckError
from rdmacheck.roles.forked import DIE_WITH_PARENT, fork_blocker, fork_role
from rdmacheck.roles.forkserver import ForkServer


class RoleFailed(RdmacheckError):
    """A role reported a fatal error or exited while we waited for it."""

    def __init__(self, message: str, event: dict | None = None):
        super().__init__(message)
        self.event = event or {}
        self.finding = self.event.get("finding")
        self.step = self.event.get("step")


def free_port(host: str) -> int:
    """A port nothing listens on now (the kernel's pick), for a role about to listen there."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def role_argv(args: list[str], netns: str | None = None, module: str = "rdmacheck",
              python: str | None = None, die_with_parent: bool = False) -> list[str]:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    if die_with_parent:
        prefix += DIE_WITH_PARENT
    return [*prefix, python or sys.executable, "-m", module, *args]


class RoleProcess:
    def __init__(self, label: str, args: list[str], log_path: Path, env: dict[str, str] | None = None,
                 netns: str | None = None, module: str = "rdmacheck", fork: bool = False, python: str | None = None,
                 die_with_parent: bool = False, forkserver: ForkServer | None = None,
                 check: Callable[[dict], str | None] | None = None):
        """`fork`: args is [CONFIG_JSON] for rdmacheck.roles, run in a fork of this process (see forked.py).
        `python`: another interpreter for the module (a Mooncake engine's venv). `die_with_parent`: the
        kernel SIGKILLs it when this process dies (a fleet agent killed must not leave roles behind);
        only for a process spawned from the main thread, whose exit is this process's. `forkserver`:
        args is [CONFIG_JSON] for rdmacheck.roles, forked by that server (it dies with its runner)."""
        if (fork or forkserver) and module != "rdmacheck.roles":
            raise ValueError(f"only rdmacheck.roles can be forked, not {module}")
        blocker = fork_blocker() if fork else None
        if blocker:
            raise ValueError(f"cannot fork a role: {blocker}")
        self.label = label
        self.args = args
        self.check = check  # a process whose events come from outside (an engine's side): their schema
        self.events: list[dict] = []
        self.cursor = 0
        self.tail: deque[str] = deque(maxlen=12)
        self.exit_status: int | None = None
        self.log = open(log_path, "a", buffering=1)
        self.log.write(f"--- {label}: {' '.join(args)}\n")
        # stderr (human logs) is merged by PopenSpawn; lines that are not events go to the log file.
        if forkserver:
            self.child = forkserver.spawn(args[0], env, netns)
        elif fork:
            self.child = fork_role(args[0], env, netns)
        else:
            self.child = PopenSpawn(role_argv(args, netns, module, python, die_with_parent), encoding="utf-8",
                                    codec_errors="replace", timeout=None,
                                    env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
        self.started = time.time()

    @property
    def pid(self) -> int:
        return self.child.pid

    def _read_line(self, timeout: float) -> None:
        i = self.child.expect(["\n", pexpect.EOF, pexpect.TIMEOUT], timeout=max(timeout, 0.001))
        if i == 0:
            line = self.child.before.rstrip("\r")
            if line.startswith("{"):
                try:
                    ev = json.loads(line)
                    if isinstance(ev, dict) and "event" in ev:
                        self.events.append(ev)
                        self.log.write(line + "\n")
                        return
                except ValueError:
                    pass
            self.tail.append(line)
            self.log.write(line + "\n")
        elif i == 1:
            if self.child.before:
                self.tail.extend(self.child.before.splitlines())
            self.exit_status = self.child.wait()

    def read_some(self, timeout: float) -> None:
        """Read one line if the process writes one within `timeout` (an event joins `events`)."""
        if self.exit_status is None:
            self._read_line(timeout)

    def send(self, obj: dict) -> None:
        """One JSON line on the process's stdin (the mooncake sides' command protocol)."""
        self.child.send(json.dumps(obj) + "\n")

    def mark(self) -> int:
        """Index to wait from later (events after this point only)."""
        self._drain()
        return len(self.events)

    def _drain(self, limit_s: float = 2.0) -> None:
        """Read what the process has already written; bounded, since a process that never stops
        writing would keep it busy for ever (the rest is read by the next wait)."""
        end = time.monotonic() + limit_s
        while self.exit_status is None and time.monotonic() < end:
            n = len(self.events) + len(self.tail)
            self._read_line(0.001)
            if len(self.events) + len(self.tail) == n:
                return

    def wait_for(self, names: set[str] | str, timeout: float, what: str, since: int | None = None,
                 not_before: float = 0.0) -> dict:
        """The next event named in `names` (stamped at or after `not_before`); a fatal error event,
        an exit or the deadline raises."""
        names = {names} if isinstance(names, str) else names
        if since is not None:
            self.cursor = since
        deadline = time.monotonic() + timeout
        while True:
            while self.cursor < len(self.events):
                ev = self.events[self.cursor]
                self.cursor += 1
                stamp = ev.get("ts", 0)
                if ev["event"] in names and (not isinstance(stamp, (int, float)) or stamp >= not_before):
                    problem = self.check(ev) if self.check else None
                    if problem:
                        raise RoleFailed(f"{self.label}: {problem}"[:400], ev)
                    return ev
                if ev["event"] == "error" and ev.get("fatal"):
                    raise RoleFailed(f"{self.label}: {ev.get('message')}", ev)
            if self.exit_status is not None:
                raise RoleFailed(f"{self.label} exited with status {self.exit_status} while we waited for {what}"
                                 f"; last output: {' | '.join(self.tail) or '(none)'}")
            left = deadline - time.monotonic()
            if left <= 0:
                raise DeadlineExceeded(f"{what} (from {self.label}; its last events: {self.recent_events()})", timeout)
            self._read_line(min(left, 1.0))

    def recent_events(self, n: int = 6) -> str:
        """The last n distinct runs of event names, e.g. 'peer_lost, connect_retry x5, verified'."""
        runs: list[list] = []
        for ev in self.events:
            if runs and runs[-1][0] == ev["event"]:
                runs[-1][1] += 1
            else:
                runs.append([ev["event"], 1])
        return ", ".join(f"{name} x{k}" if k > 1 else name for name, k in runs[-n:]) or "none"

    def find(self, name: str, since: int = 0) -> dict | None:
        self._drain()
        return next((e for e in self.events[since:] if e["event"] == name), None)

    def kill(self, sig: int = signal.SIGKILL) -> float:
        """Send sig; return the wall-clock time it was sent."""
        t = time.time()
        try:
            self.child.kill(sig)
        except ProcessLookupError:
            pass
        return t

    def wait_exit(self, timeout: float) -> int | None:
        """The exit status once the process has exited by itself, or None at the deadline."""
        deadline = time.monotonic() + timeout
        while self.exit_status is None and time.monotonic() < deadline:
            self._read_line(min(0.2, max(0.001, deadline - time.monotonic())))
        return self.exit_status

    def stop(self, grace: float = 5.0) -> None:
        if self.exit_status is None:
            self.kill(signal.SIGTERM)
            deadline = time.monotonic() + grace
            while self.exit_status is None and time.monotonic() < deadline:
                self._read_line(0.2)
            if self.exit_status is None:
                self.kill(signal.SIGKILL)
                self.exit_status = self.child.wait()
        self.log.close()
