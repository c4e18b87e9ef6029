"""A throwaway etcd (Debian's etcd-server) with its own data dir: for the tests, `mooncake matrix`'s etcd
cells when no --etcd is given, and `fleet run`'s embedded etcd (on the coordinator host's address)."""
from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from rdmacheck.errors import EnvironmentProblem


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class EtcdServer:
    def __init__(self, data_dir: Path, listen: str = "127.0.0.1", tls: tuple[Path, Path] | None = None,
                 port: int | None = None):
        """listen: 0.0.0.0 serves other network namespaces too (a lab fleet's hosts); an address: only there
        (and loopback). tls: (certificate, key) to serve clients over TLS (etcd sends user/password tokens only
        over TLS). port: the client port (default: a free one)."""
        self.data_dir = data_dir
        self.listen = listen
        self.tls = tls
        self.port = port or free_port()
        self.peer_port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        """Where clients reach it: its address, or loopback when it listens on every address."""
        return "127.0.0.1" if self.listen in ("0.0.0.0", "127.0.0.1") else self.listen

    @property
    def url(self) -> str:
        return f"etcd://{self.host}:{self.port}"

    def start(self, timeout: float = 15.0) -> "EtcdServer":
        exe = shutil.which("etcd")
        if not exe:
            raise EnvironmentProblem("etcd is not installed (apt install etcd-server; scripts/setup.sh does)")
        scheme = "https" if self.tls else "http"
        tls = ["--cert-file", str(self.tls[0]), "--key-file", str(self.tls[1])] if self.tls else []
        self.proc = subprocess.Popen(
            [exe, "--name", "t", "--data-dir", str(self.data_dir), *tls,
             "--listen-client-urls", f"{scheme}://{self.listen}:{self.port}",
             "--advertise-client-urls", f"{scheme}://{self.host}:{self.port}",
             "--listen-peer-urls", f"http://127.0.0.1:{self.peer_port}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{self.peer_port}",
             "--initial-cluster", f"t=http://127.0.0.1:{self.peer_port}"],
            stdout=subprocess.DEVNULL, stderr=(self.data_dir.parent / "etcd.log").open("ab"))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=0.2):
                    time.sleep(0.3)  # listening; give it a moment to elect itself
            except OSError:
                time.sleep(0.1)
            else:
                if self.proc.poll() is None:
                    return self
            if self.proc.poll() is not None:  # it listens before it opens its database, then may panic
                raise EnvironmentProblem(f"etcd exited with status {self.proc.returncode} at start: "
                                         f"{self._last_words()}")
        self.stop()
        raise EnvironmentProblem(f"etcd did not listen on {self.host}:{self.port} within {timeout} s: "
                                 f"{self._last_words()}")

    def _last_words(self) -> str:
        """The line of etcd's log that says why it stopped (a panic's, or its last)."""
        try:
            lines = (self.data_dir.parent / "etcd.log").read_text(errors="replace").splitlines()
        except OSError as e:
            return f"(its log is unreadable: {e})"
        said = [x for x in lines if x.startswith("panic:") or " C | " in x] or lines[-1:]
        return said[0].strip()[:300] if said else "(its log is empty)"

    def pause(self, timeout: float = 5.0) -> None:
        """SIGSTOP, and wait until the kernel reports it stopped (kill() returns before that)."""
        self.proc.send_signal(signal.SIGSTOP)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            stat = Path(f"/proc/{self.proc.pid}/stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] == "T":
                time.sleep(0.05)  # let in-flight requests settle on the stopped side
                return
            time.sleep(0.01)
        raise RuntimeError(f"etcd (pid {self.proc.pid}) did not stop within {timeout} s")

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        """Kill it; its data stays (start() again is a restart)."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(timeout=10)

    def remove(self) -> None:
        """Stop it and delete its data: each etcd preallocates a 64 MB WAL, and in the lab's RAM-backed
        /tmp a suite's worth of them is memory that later tests need."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
