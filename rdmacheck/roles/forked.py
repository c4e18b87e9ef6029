"""Role processes forked from the runner instead of started afresh.

In the lab guest a fresh `python -m rdmacheck.roles` spends about 2 s starting the interpreter and
importing pyverbs before it opens a device; a fork of a runner that has imported them once costs
only the role's own verbs set-up. The child is a separate process as before: it can be SIGKILLed,
its RDMA resources die with it, and its events arrive on a pipe read like a spawned child's.

No verbs state is shared with a child: device listings close their contexts, and a runner that
holds a verbs device (or grpc) does not fork at all (fork_blocker)."""

from __future__ import annotations

import gc
import os
import signal
import sys
import time
import traceback

from pexpect.fdpexpect import fdspawn

INTERNAL_ERROR = 70  # the child failed outside the role's own error handling


def fork_blocker() -> str | None:
    """Why this process must not fork a role now (None: it may). grpc (etcd's client): its threads
    and epoll descriptors do not survive a fork, and the child aborts in grpc's own fork handler
    (seen on the host with an etcd client open). An open verbs device: registered memory turns
    copy-on-write under a fork, and without ibv_fork_init the parent's MR pages could stop being
    the ones the NIC uses."""
    if "grpc" in sys.modules:
        return "this process has loaded grpc (an etcd client)"
    if holds_verbs_device():
        return "this process has a verbs device open"
    return None


def holds_verbs_device() -> bool:
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("/dev/infiniband/"):
                return True
        except OSError:
            continue  # closed meanwhile (the listing's own fd)
    return False


def preload() -> None:
    """Import, once in the runner, what every role child would otherwise import itself."""
    import rdmacheck.roles.initiator  # noqa: F401, PLC0415
    import rdmacheck.roles.target  # noqa: F401, PLC0415
    import rdmacheck.verbs.cm  # noqa: F401, PLC0415
    from rdmacheck.verbs.devices import load_providers  # noqa: PLC0415

    load_providers()


# A command prefix: the kernel SIGKILLs what it execs when the process that started it dies. setpriv
# sets PR_SET_PDEATHSIG and execs, so no Python runs between fork and exec (which in a process holding
# grpc, an agent's etcd client, runs grpc's fork handlers: seen SIGABRT in 3 of 56).
DIE_WITH_PARENT = ["setpriv", "--pdeathsig", "KILL", "--"]


KILL_GRACE_S = 5.0  # after SIGKILL: a process in uninterruptible sleep (a stuck driver call) may not die


def reap_within(pid: int, timeout: float, kill_grace: float = KILL_GRACE_S) -> int | None:
    """The exit status of child pid; one still running after `timeout` is SIGKILLed, and one that has
    not died `kill_grace` seconds after that (uninterruptible sleep) is left a zombie: None, never a
    wait without end."""
    deadline = time.monotonic() + timeout
    killed = False
    while True:
        got, status = os.waitpid(pid, os.WNOHANG)
        if got == pid:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() >= deadline:
            if killed:
                return None
            os.kill(pid, signal.SIGKILL)
            killed, deadline = True, time.monotonic() + kill_grace
        time.sleep(0.01)


class ForkedChild(fdspawn):
    """A forked role: pexpect reads its merged stdout/stderr pipe; kill and wait by pid."""

    def __init__(self, pid: int, fd: int):
        super().__init__(fd, timeout=None, encoding="utf-8", codec_errors="replace", use_poll=True)
        self.pid = pid
        self.returncode: int | None = None

    def kill(self, sig: int) -> None:
        if self.returncode is None and self._reap(os.WNOHANG) is None:
            os.kill(self.pid, sig)

    def _reap(self, flags: int) -> int | None:
        pid, status = os.waitpid(self.pid, flags)
        if pid == self.pid:
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def _reap_within(self, timeout: float) -> int | None:
        return reap_within(self.pid, timeout)

    def wait(self, timeout: float = 10.0) -> int | None:
        """The exit status; called after EOF on the pipe, so the child is exiting. One that closed its
        output but lives on past `timeout` is killed (no unbounded wait)."""
        if self.returncode is None:
            self.returncode = self._reap_within(timeout)
        if not self.closed:
            self.close()
        return self.returncode


CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000
MS_REC, MS_SLAVE, MNT_DETACH = 0x4000, 1 << 19, 2


def enter_netns(name: str) -> None:
    """What `ip netns exec NAME` does before it runs its command: join the network namespace, and
    in a private mount namespace mount a sysfs that shows that namespace's netdevs."""
    import ctypes  # noqa: PLC0415

    libc = ctypes.CDLL(None, use_errno=True)

    def check(rc: int, what: str) -> None:
        if rc != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"{what} for network namespace {name!r}: {os.strerror(err)}")
    try:
        fd = os.open(f"/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)
    except OSError as e:
        raise OSError(e.errno, f"no network namespace {name!r} (/run/netns/{name}: {e.strerror})") from None
    try:
        check(libc.setns(fd, CLONE_NEWNET), "setns")
    finally:
        os.close(fd)
    check(libc.unshare(CLONE_NEWNS), "unshare(CLONE_NEWNS)")
    check(libc.mount(b"", b"/", b"none", MS_SLAVE | MS_REC, None), "mount --make-rslave /")
    check(libc.umount2(b"/sys", MNT_DETACH), "umount /sys")
    check(libc.mount(name.encode(), b"/sys", b"sysfs", 0, None), "mount sysfs")


def fork_role(config_json: str, env: dict[str, str] | None = None, netns: str | None = None) -> ForkedChild:
    """Fork a child that runs `rdmacheck.roles` with this configuration (in network namespace
    `netns`, if given), its stdout and stderr on a pipe; the same entry point as
    `[ip netns exec NETNS] python -m rdmacheck.roles CONFIG_JSON`."""
    preload()
    r, w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    gc.freeze()  # the child never collects the runner's objects (no finalizer closes a reused fd)
    pid = os.fork()
    if pid == 0:
        child_main(w, config_json, env or {}, netns)  # never returns
    gc.unfreeze()
    os.close(w)
    return ForkedChild(pid, r)


def child_main(w: int, config_json: str, env: dict[str, str], netns: str | None) -> None:
    """In a freshly forked child: output to pipe w, run the role, exit (also forkserver.py's child)."""
    code = INTERNAL_ERROR
    try:
        os.dup2(w, 1)
        os.dup2(w, 2)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the runner's pipes, logs and sockets stay its own
        # Fresh stream objects: the runner's may be locked by a thread that does not exist here.
        sys.stdin = open(0, "r", closefd=False)
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        os.environ.update(env)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if netns:
            try:
                enter_netns(netns)
            except OSError as e:
                sys.stderr.write(f"rdmacheck.roles: {e}\n")
                os._exit(2)
        from rdmacheck.roles.run import main  # noqa: PLC0415

        code = main([config_json])
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else INTERNAL_ERROR
    except BaseException:  # noqa: BLE001 - a bug: printed for the log, then the exit code says so
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)  # never back into the runner's stack
