"""A fork server for role processes: a small helper that imported the roles once and forks each role
on request, for a runner that may not fork itself (a fleet agent holds grpc, see forked.py).

In the lab guest a fresh `python -m rdmacheck.roles` costs about 2.6 s of CPU before it opens a
device, and a fleet pair test starts three (target, initiator, restarted initiator): on 2 emulated
vCPUs with 4 pairs at once that was most of a round. A fork of this server costs milliseconds.

The runner and the server speak over a SOCK_SEQPACKET socketpair, one JSON message per packet; a
spawn request carries the write end of the role's output pipe (SCM_RIGHTS). The server forks, the
child runs the role exactly as forked.py's child does; the runner reads the pipe, signals the pid
itself, and asks the server to reap it (the pid stays the role's until then: no reuse race).
Lifetimes chain: the server dies with the runner, each role with the server (PR_SET_PDEATHSIG; setpriv
for a server that is a fresh interpreter), so a SIGKILLed agent leaves no role behind. The server is
a fork of the runner when it may be (started before the runner loads grpc: an agent starts it before
its etcd client), which saves an interpreter and most imports per agent."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

from rdmacheck.errors import DeadlineExceeded, RdmacheckError
from rdmacheck.roles.forked import (
    DIE_WITH_PARENT,
    KILL_GRACE_S,
    ForkedChild,
    child_main,
    fork_blocker,
    preload,
    reap_within,
)

PR_SET_PDEATHSIG = 1
MAX_MESSAGE = 1 << 20  # a role configuration is a few KB


class ForkServerError(RdmacheckError):
    """The fork server could not start, or stopped answering."""


class ForkServer:
    def __init__(self, pid: int, sock: socket.socket, popen: subprocess.Popen | None = None):
        self.pid, self.sock, self.popen = pid, sock, popen  # popen: a fresh interpreter's (it reaps it)
        self.how = "exec" if popen else "fork"
        self.status: int | None = None  # its exit status, once reaped
        self.next_id = 0  # requests are numbered from 1; 0 is its "ready"

    @classmethod
    def start(cls, timeout: float = 60.0) -> "ForkServer":
        """Start the server (it dies with this process) and wait until it has imported the roles: a
        fork of this process while that is safe (no grpc loaded, no verbs device open: forked.py's
        fork_blocker), so it inherits what this process imported; else a fresh interpreter."""
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            popen = None if fork_blocker() is None else _exec_server(theirs)
            pid = popen.pid if popen else _fork_server(mine, theirs)
        except OSError as e:
            mine.close()
            raise ForkServerError(f"cannot start the role fork server: {e}") from None
        finally:
            theirs.close()
        server = cls(pid, mine, popen)
        try:
            server._reply(0, timeout, "the role fork server to import the roles")
        except BaseException:
            server.close()
            raise
        return server

    def _exited(self) -> int | None:
        """Its exit status if it has exited (reaped now), else None."""
        if self.popen is not None:
            return self.popen.poll()
        if self.status is None:
            try:
                pid, st = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                return None
            if pid == self.pid:
                self.status = os.waitstatus_to_exitcode(st)
        return self.status

    def _request(self, req: dict, fds: list[int] | None = None) -> int:
        """Send one request, numbered: its reply names the number, so a reply that comes after its
        request's deadline passed is never taken for the next request's."""
        self.next_id += 1
        data = json.dumps({**req, "id": self.next_id}).encode()
        try:
            if fds:
                socket.send_fds(self.sock, [data], fds)
            else:
                self.sock.sendall(data)
        except OSError as e:
            raise ForkServerError(f"the role fork server is gone ({req['op']}): {e}") from None
        return self.next_id

    def _reply(self, rid: int, timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise DeadlineExceeded(what, timeout)
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(MAX_MESSAGE)
            except socket.timeout:
                raise DeadlineExceeded(what, timeout) from None
            except OSError as e:
                raise ForkServerError(f"the role fork server is gone while we waited for {what}: {e}") from None
            if not data:
                raise ForkServerError(f"the role fork server exited (status {self._exited()}) while we waited for "
                                      f"{what}")
            try:
                msg = json.loads(data)
            except ValueError:
                raise ForkServerError(f"the role fork server answered {data[:60]!r} while we waited for {what}") from None
            if not isinstance(msg, dict) or msg.get("id") != rid:
                continue  # the late answer to an earlier request whose deadline had passed
            if "error" in msg:
                raise ForkServerError(f"the role fork server: {msg['error']}")
            return msg

    def spawn(self, config_json: str, env: dict[str, str] | None = None, netns: str | None = None,
              timeout: float = 10.0) -> "ServedChild":
        """Fork a role with this configuration; its stdout and stderr arrive on the returned child."""
        r, w = os.pipe()
        try:
            rid = self._request({"op": "spawn", "config": config_json, "env": env or {}, "netns": netns}, [w])
        finally:
            os.close(w)
        try:
            pid = self._reply(rid, timeout, "the role fork server to fork a role")["pid"]
        except BaseException:
            os.close(r)
            raise
        return ServedChild(self, pid, r)

    def reap(self, pid: int, timeout: float) -> int | None:
        """The role's exit status (the server SIGKILLs it at the deadline first; None: it would not die)."""
        rid = self._request({"op": "wait", "pid": pid, "timeout": timeout})
        return self._reply(rid, timeout + KILL_GRACE_S + 5, f"the role fork server to reap pid {pid}")["status"]

    def close(self, grace: float = 5.0) -> None:
        """Its roles go with it (their death signal)."""
        self.sock.close()  # the server reads EOF and exits
        if self.popen is not None:
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        elif self._exited() is None:
            self.status = reap_within(self.pid, grace)


def _exec_server(theirs: socket.socket) -> subprocess.Popen:
    argv = [*DIE_WITH_PARENT, sys.executable, "-m", "rdmacheck.roles.forkserver", str(theirs.fileno())]
    return subprocess.Popen(argv, pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL)


def _fork_server(mine: socket.socket, theirs: socket.socket) -> int:
    parent = os.getpid()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid:
        return pid
    code = 70
    try:
        _die_with(parent)
        mine.close()
        fd = theirs.fileno()
        os.closerange(3, fd)  # the runner's logs and sockets stay its own
        os.closerange(fd + 1, os.sysconf("SC_OPEN_MAX"))
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        code = serve(fd)
    except BaseException:  # noqa: BLE001 - printed for the runner's stderr; the runner sees EOF
        import traceback  # noqa: PLC0415

        traceback.print_exc()
    finally:
        os._exit(code)  # never back into the runner's stack


def _die_with(parent: int) -> None:
    """PR_SET_PDEATHSIG: SIGKILL when the parent goes (and at once if it went already)."""
    import ctypes  # noqa: PLC0415

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:
        os._exit(1)


class ServedChild(ForkedChild):
    """A role forked by the server: read as a forked child, signalled by pid, reaped by the server
    (it is the server's child, not ours)."""

    def __init__(self, server: ForkServer, pid: int, fd: int):
        super().__init__(pid, fd)
        self.server = server

    def kill(self, sig: int) -> None:
        if self.returncode is None:  # until reaped the pid is this role's (a zombie at worst)
            os.kill(self.pid, sig)

    def _reap_within(self, timeout: float) -> int | None:
        return self.server.reap(self.pid, timeout)


# --- the server side --------------------------------------------------------------------------

def _reap(pid: int, timeout: float) -> int | None:
    try:
        return reap_within(pid, timeout)
    except ChildProcessError:
        return -1  # not ours (already reaped)


def _fork_role(sock: socket.socket, w: int, req: dict) -> int:
    me = os.getpid()
    pid = os.fork()
    if pid == 0:
        _die_with(me)
        sock.close()
        child_main(w, req["config"], req.get("env") or {}, req.get("netns"))  # never returns
    os.close(w)
    return pid


def serve(fd: int) -> int:
    sock = socket.socket(fileno=fd)
    sock.settimeout(None)
    preload()
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    sock.sendall(b'{"ready": true, "id": 0}')
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 1)
        except OSError:
            return 0
        if not data:
            return 0  # the runner closed its end: the roles die with us
        req = json.loads(data)
        try:
            if req["op"] == "spawn":
                if len(fds) != 1:
                    raise ValueError("a spawn request carries exactly one descriptor (the role's output pipe)")
                reply = {"pid": _fork_role(sock, fds[0], req)}
            elif req["op"] == "wait":
                reply = {"status": _reap(int(req["pid"]), float(req["timeout"]))}
            else:
                raise ValueError(f"unknown request {req['op']!r}")
        except (KeyError, ValueError, OSError) as e:
            for f in fds:
                os.close(f)
            reply = {"error": str(e)}
        sock.sendall(json.dumps({**reply, "id": req.get("id")}).encode())  # which request it answers


if __name__ == "__main__":
    sys.exit(serve(int(sys.argv[1])))
