"""Boot the lab VM and run one command inside it (`rdmacheck lab run|shell`)."""

from __future__ import annotations

import fcntl
import os
import selectors
import shlex
import shutil
import subprocess
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from rdmacheck.errors import EXIT_LAB_CRASH, EXIT_LAB_TIMEOUT, EnvironmentProblem, RdmacheckError
from rdmacheck.lab.paths import LabPaths

MARK = "@@rdmacheck-lab "
# Host environment variables handed to the guest command (the guest starts from a clean env).
PASSED_ENV_PREFIXES = ("RDMACHECK_", "PYTEST_", "HYPOTHESIS_")
PASSED_ENV = ("CI", "COLUMNS", "NO_COLOR", "FORCE_COLOR")


@dataclass
class VMOptions:
    timeout: float = 900.0
    mem: str = "2G"
    smp: int = 2
    accel: str = "tcg"  # never KVM by default: nested KVM on some hosts hangs a stock kernel
    cpu: str = "max"  # QEMU's own default (qemu64) lacks SSE4.2/AVX2: current numpy/NIXL wheels die there
    rw: list[Path] = field(default_factory=list)
    verbose: bool = False


@dataclass
class RunOutcome:
    exit_code: int
    boot_seconds: float | None
    total_seconds: float


class VMLock:
    """One lab VM at a time per lab directory: two TCG guests on 2 cores starve each other."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None

    def __enter__(self) -> "VMLock":
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(self.fd, 32, 0).decode(errors="replace").strip()
            os.close(self.fd)
            raise EnvironmentProblem(f"another lab VM is running (pid {holder or '?'}); the lab runs one VM at a time")
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, str(os.getpid()).encode(), 0)
        return self

    def __exit__(self, *exc) -> None:
        assert self.fd is not None
        os.close(self.fd)


def qemu_command(paths: LabPaths, opts: VMOptions, mode: str) -> list[str]:
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        raise EnvironmentProblem("qemu-system-x86_64 is not installed", hint="run `rdmacheck lab setup`")
    if not paths.is_built():
        raise EnvironmentProblem(f"the lab is not built in {paths.root}", hint="run `rdmacheck lab setup`")
    rw_specs = [f"rw{i}:{p}" for i, p in enumerate(opts.rw)]
    append = (f"console=ttyS0 quiet loglevel=1 panic=-1 mitigations=off "
              f"rdmacheck.lab={paths.root} rdmacheck.mode={mode} rdmacheck.rw={','.join(rw_specs)}")
    cmd = [qemu, "-accel", opts.accel, "-cpu", opts.cpu, "-m", opts.mem, "-smp", str(opts.smp),
           "-display", "none", "-serial", "stdio", "-monitor", "none", "-no-reboot", "-nic", "none",
           "-kernel", str(paths.vmlinuz), "-initrd", str(paths.initramfs), "-append", append,
           "-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
           "-virtfs", f"local,path={paths.root},mount_tag=lab,security_model=none,multidevs=remap"]
    for i, p in enumerate(opts.rw):
        cmd += ["-virtfs", f"local,path={p},mount_tag=rw{i},security_model=none,multidevs=remap"]
    return cmd


def guest_script(argv: list[str], cwd: str, env: dict[str, str]) -> str:
    lines = [f"export {k}={shlex.quote(v)}" for k, v in sorted(env.items())
             if k.startswith(PASSED_ENV_PREFIXES) or k in PASSED_ENV]
    # The guest sees the host's files at the same paths: keep the host PATH, with this
    # rdmacheck's own bin dir first so `lab run -- rdmacheck ...` finds the same install.
    path = [str(Path(sys.executable).parent), *env.get("PATH", "").split(":"), "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    lines.append(f"export PATH={shlex.quote(':'.join(dict.fromkeys(p for p in path if p)))}")
    # The guest's stdout is a serial console (a TTY of 80 columns): give it the host's width.
    cols = shutil.get_terminal_size((150, 40)).columns if sys.stdout.isatty() else 150
    lines.append(f"export COLUMNS={env.get('COLUMNS', cols)}")
    lines.append(f"cd {shlex.quote(cwd)} 2>/dev/null || cd /")
    lines.append(shlex.join(argv))
    return "\n".join(lines) + "\n"


def compile_package() -> None:
    """Bring this package's bytecode up to date on the host (milliseconds when it is): the guest sees
    the tree read-only under a tmpfs overlay, so every guest process would compile what has no current
    .pyc under emulation, eight fleet agents at once each compiling the same modules."""
    import compileall  # noqa: PLC0415

    compileall.compile_dir(Path(__file__).resolve().parents[1], quiet=2)


def _check_rw(opts: VMOptions) -> None:
    for p in opts.rw:
        if not p.is_dir():
            raise EnvironmentProblem(f"--rw {p}: not a directory")
        if " " in str(p) or "," in str(p):
            raise EnvironmentProblem(f"--rw {p}: the path must not contain spaces or commas")


def run_in_lab(argv: list[str], paths: LabPaths, opts: VMOptions,
               out: IO[str] = sys.stdout, log: IO[str] = sys.stderr) -> RunOutcome:
    """Boot, run argv inside (cwd preserved), stream its output, return its exit status."""
    if not argv:
        raise EnvironmentProblem("lab run: no command given (usage: rdmacheck lab run -- CMD ...)")
    _check_rw(opts)
    opts.rw = [p.resolve() for p in opts.rw]
    cmd = qemu_command(paths, opts, "run")
    compile_package()
    with VMLock(paths.lock_file):
        paths.run_dir.mkdir(parents=True, exist_ok=True)
        rc_file = paths.run_dir / "rc"
        rc_file.unlink(missing_ok=True)
        (paths.run_dir / "cmd.sh").write_text(guest_script(argv, os.getcwd(), dict(os.environ)))
        return _boot_and_stream(cmd, argv, rc_file, opts, out, log)


def _boot_and_stream(cmd: list[str], argv: list[str], rc_file: Path, opts: VMOptions,
                     out: IO[str], log: IO[str]) -> RunOutcome:
    t0 = time.monotonic()
    deadline = t0 + opts.timeout
    boot_s: float | None = None
    started = False
    tail: deque[str] = deque(maxlen=20)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    assert proc.stdout and proc.stderr
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    sel.register(proc.stderr, selectors.EVENT_READ)
    buf = {proc.stdout: b"", proc.stderr: b""}
    open_streams = 2
    try:
        while open_streams:
            left = deadline - time.monotonic()
            if left <= 0:
                what = f"the guest command `{shlex.join(argv)}` to finish" if started else "the guest to boot"
                raise RdmacheckError(f"lab: timed out after {opts.timeout:g} s waiting for {what}",
                                     exit_code=EXIT_LAB_TIMEOUT)
            for key, _ in sel.select(timeout=min(left, 1.0)):
                stream = key.fileobj
                chunk = os.read(stream.fileno(), 65536)
                if not chunk:
                    sel.unregister(stream)
                    open_streams -= 1
                    continue
                buf[stream] += chunk
                *lines, buf[stream] = buf[stream].split(b"\n")
                for raw in lines:
                    line = raw.decode(errors="replace").rstrip("\r")
                    if stream is proc.stderr:
                        tail.append(line)
                        if opts.verbose or started:
                            print(f"qemu: {line}", file=log, flush=True)
                        continue
                    if line.startswith(MARK):
                        word, _, rest = line[len(MARK):].partition(" ")
                        if word == "ready":
                            boot_s = time.monotonic() - t0
                            print(f"lab: booted in {boot_s:.1f} s ({rest})", file=log, flush=True)
                        elif word == "plan":
                            print(f"lab: devices: {rest}", file=log, flush=True)
                        elif word == "start":
                            started = True
                        elif word == "exit":
                            started = False  # what follows is the guest powering off
                        continue
                    if started:
                        out.write(line + "\n")
                        out.flush()
                    else:
                        tail.append(line)
                        if opts.verbose:
                            print(f"boot: {line}", file=log, flush=True)
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    except BaseException:
        _kill(proc)
        raise
    total = time.monotonic() - t0
    if not rc_file.exists():
        last = " | ".join(l for l in tail if l.strip())[-600:]
        raise RdmacheckError(f"lab: the guest stopped without reporting an exit status (crash or panic; "
                             f"qemu exit {proc.returncode}); last console lines: {last or '(none)'}",
                             exit_code=EXIT_LAB_CRASH)
    return RunOutcome(int(rc_file.read_text().strip() or EXIT_LAB_CRASH), boot_s, total)


def _kill(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)


def shell_in_lab(paths: LabPaths, opts: VMOptions) -> int:
    """An interactive guest shell on this terminal's serial console."""
    cmd = qemu_command(paths, opts, "shell")
    with VMLock(paths.lock_file):
        paths.run_dir.mkdir(parents=True, exist_ok=True)
        (paths.run_dir / "cwd").write_text(os.getcwd())
        return subprocess.call(cmd)
