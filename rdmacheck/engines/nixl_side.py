"""NVIDIA NIXL (UCX underneath) as a side of an engine test, run by the release's own Python (a venv per
release: catalog.py). It speaks the same JSON-line protocol as Mooncake's engine side (engines/driver.py)
plus `add_peer` / `remove_peer`: NIXL learns a peer only from its metadata blob, which the orchestrator
carries from one side's `ready` line to the other.

  python -m rdmacheck.engines.nixl_side --name a --device rxe0 --length 1048576

UCX is pinned to the device under test (UCX_NET_DEVICES=<device>:1) and to RDMA transports
(UCX_TLS=rc_verbs,ud_verbs,self unless the caller set UCX_TLS): two agents on one host would otherwise
move the data over shared memory and prove nothing about RDMA. UCX_PROTO_INFO=y makes UCX log the
transport each transfer used, which the orchestrator quotes as evidence.
"""

from __future__ import annotations

import argparse
import base64
import ctypes
import mmap
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from rdmacheck.engines.driver import emit, serve

POLL_S = 0.0005


ERROR_MODE = "ucx_error_handling_mode"  # the UCX plugin's parameter (1.5.1: "peer" by default, or "none")
ERROR_MODE_ENV = "RDMACHECK_NIXL_ERROR_MODE"  # the error mode a side asks for (peer_loss sets it)
WORKERS_ENV = "RDMACHECK_NIXL_UCX_WORKERS"  # the UCX plugin's num_workers, if set
# A remove counts as made with a transfer in flight when a transfer() call on the posting thread had been
# running at least this long when remove_remote_agent was called (the call is under way, not about to start).
IN_CALL_S = 0.02


@dataclass
class Posting:
    """The transfers a posting thread makes, one after another (an application's transfer thread), while
    another thread may remove the peer: each transfer() call's start and end, and the first error."""
    count: int
    calls: list[list] = field(default_factory=list)  # [started, returned or None] per transfer() call
    error: str = ""
    thread: threading.Thread | None = None
    begun: threading.Event = field(default_factory=threading.Event)

    def running(self) -> tuple[int, float] | None:
        """The call under way now: its index and how long it has run."""
        if self.calls and self.calls[-1][1] is None:
            return len(self.calls) - 1, time.perf_counter() - self.calls[-1][0]
        return None


class NixlSide:
    def __init__(self, api, name: str, length: int, transfer_timeout: float, error_mode: str = ""):
        t0 = time.perf_counter()
        # A remove from one thread while another transfers needs the agent's thread-safe mode (1.5.1's
        # nixl_thread_sync_t; 0.10.1 has none, and its agent must not be called from two threads at once).
        self.sync = getattr(api, "nixl_thread_sync_t", None)
        config = dict(sync_mode=self.sync.NIXL_THREAD_SYNC_STRICT) if self.sync else {}
        self.agent = api.nixl_agent(name, api.nixl_agent_config(backends=[], **config))
        params: dict[str, str] = {}
        workers = os.environ.get(WORKERS_ENV)
        if workers and "num_workers" in self.agent.get_plugin_params("UCX"):
            params["num_workers"] = workers  # several UCX workers (the UCX plugin's own parameter)
        if error_mode and ERROR_MODE in self.agent.get_plugin_params("UCX"):
            params[ERROR_MODE] = error_mode  # a release without it starts with its default; `ready` says which
        if "UCX" in self.agent.get_plugin_list():
            self.agent.create_backend("UCX", params)
        if "UCX" not in self.agent.backends:
            raise SystemExit(f"nixl: the UCX backend did not start (plugins: {self.agent.get_plugin_list()}){_why_no_ucx()}")
        # What the backend runs with, as the engine reports it (the error mode of a dead-peer cell is evidence).
        self.backend_params = {k: str(v) for k, v in self.agent.get_backend_params("UCX").items()}
        self.mem = mmap.mmap(-1, length)
        self.addr = ctypes.addressof(ctypes.c_char.from_buffer(self.mem))
        self.length = length
        self.agent.register_memory([(self.addr, length, 0, "")], "DRAM")
        self.init_ms = (time.perf_counter() - t0) * 1000
        self.name = name
        self.transfer_timeout = transfer_timeout
        self.peers: set[str] = set()
        self.pending: list = []  # transfers posted by `post` and not yet waited for
        self.posting: Posting | None = None  # the posting thread `post` started, until `settle`
        self.prepped: dict[str, tuple] = {}  # peer -> (local, remote) descriptor lists prepared by `prep`

    def metadata(self) -> str:
        return base64.b64encode(self.agent.get_agent_metadata()).decode()

    def add_peer(self, cmd: dict) -> str:
        name = self.agent.add_remote_agent(base64.b64decode(cmd["metadata"]))
        name = name.decode() if isinstance(name, bytes) else name
        self.peers.add(name)
        return f"added remote agent {name}"

    def remove_peer(self, cmd: dict) -> str:
        """Remove the peer; with transfers posted, say whether one was in flight at this instant: what
        remove-readd-inflight is named after, shown, not assumed."""
        running = self._await_call_under_way() if self.posting else None
        states = [str(self.agent.check_xfer_state(handle)) for handle, _ in self.pending]  # asked right before
        flying = sum(1 for state in states if state not in ("DONE", "ERR")) + (running is not None)
        t0 = time.perf_counter()
        self.agent.remove_remote_agent(cmd["peer"])
        ms = (time.perf_counter() - t0) * 1000
        self.peers.discard(cmd["peer"])
        total = len(self.pending) + (len(self.posting.calls) if self.posting else 0)
        seen = [f"{s} x{states.count(s)}" for s in sorted(set(states))]
        if running is not None:
            returned = self.posting.calls[running[0]][1]
            seen.append(f"transfer() call {running[0] + 1} of the posting thread under way for "
                        f"{running[1] * 1000:.0f} ms; it returned " + (f"{(returned - t0) * 1000:.0f} ms after the "
                                                                       f"remove began" if returned else "later"))
        return (f"removed remote agent {cmd['peer']} in {ms:.1f} ms; in flight at the remove: {flying}/{total} "
                f"({', '.join(seen) or 'none posted'})")

    def _await_call_under_way(self, limit: float = 10.0) -> tuple[int, float] | None:
        """Wait until the posting thread's current transfer() call has run IN_CALL_S (None: it finished first)."""
        posting = self.posting
        deadline = time.monotonic() + limit
        while posting.thread.is_alive() and time.monotonic() < deadline:
            running = posting.running()
            if running and running[1] >= IN_CALL_S:
                return running
            time.sleep(POLL_S)
        return None

    def local_write(self, offset: int, data: bytes) -> None:
        self.mem[offset:offset + len(data)] = data

    def local_read(self, offset: int, length: int) -> bytes:
        return self.mem[offset:offset + length]

    def _post(self, op: str, peer: str, remote_addr: int, length: int, local_offset: int):
        local = self.agent.get_xfer_descs([(self.addr + local_offset, length, 0)], "DRAM")
        remote = self.agent.get_xfer_descs([(remote_addr, length, 0)], "DRAM")
        handle = self.agent.initialize_xfer("WRITE" if op == "write" else "READ", local, remote, peer, b"rdmacheck")
        return self._start(handle, f"{op} to {peer}")

    def _start(self, handle, what: str):
        """transfer() the handle; ERR at once is the answer (the handle released)."""
        if self.agent.transfer(handle) == "ERR":
            self.agent.release_xfer_handle(handle)
            raise RuntimeError(f"nixl {what}: transfer() returned ERR")
        return handle

    def _wait(self, handle, what: str, timeout: float | None = None, deadline: float | None = None) -> None:
        """Poll the transfer until DONE or ERR; still in progress at the deadline (`timeout` from now, or the
        `deadline` a wait of `timeout` seconds shares) is a hang, reported."""
        timeout = self.transfer_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout if deadline is None else deadline
        try:
            while True:
                state = self.agent.check_xfer_state(handle)
                if state == "DONE":
                    return
                if state == "ERR":
                    raise RuntimeError(f"nixl {what}: check_xfer_state returned ERR")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"nixl {what}: still in progress after {timeout:g} s")
                time.sleep(POLL_S)
        finally:
            try:
                self.agent.release_xfer_handle(handle)
            except Exception:  # noqa: BLE001 - a handle of a dead endpoint may refuse release; the state decided
                pass

    def transfer(self, op: str, peer: str, remote_addr: int, length: int, local_offset: int = 0) -> None:
        self._wait(self._post(op, peer, remote_addr, length, local_offset), f"{op} to {peer}")

    def post(self, cmd: dict) -> str:
        """Start `count` WRITEs of the same range. With a thread-safe agent, a posting thread makes them one after
        another and this returns once its first transfer() call is under way: on rxe0 transfer() returned DONE
        for every WRITE (Soft-RoCE moves it inside ibv_post_send), so only a remove from another thread while a
        call runs can meet a WRITE in flight. Without one, they are posted here and their states kept."""
        from rdmacheck.pattern import pattern  # noqa: PLC0415

        self.local_write(0, pattern(cmd["seed"], cmd["length"]))
        count = int(cmd.get("count", 1))
        if self.sync is None:
            for _ in range(count):
                self.pending.append((self._post("write", cmd["peer"], cmd["remote_addr"], cmd["length"], 0),
                                     cmd["peer"]))
            return f"posted {len(self.pending)} on the calling thread (no thread-safe agent mode in this release)"
        posting = self.posting = Posting(count)

        def run() -> None:
            for _ in range(count):
                call = [time.perf_counter(), None]
                posting.calls.append(call)
                posting.begun.set()
                try:
                    handle = self._post("write", cmd["peer"], cmd["remote_addr"], cmd["length"], 0)
                    self.pending.append((handle, cmd["peer"]))
                except Exception as e:  # noqa: BLE001 - the peer removed under it: the engine's answer, kept
                    posting.error = f"transfer() call {len(posting.calls)}: {type(e).__name__}: {e}"
                finally:
                    call[1] = time.perf_counter()
                if posting.error:
                    return

        posting.thread = threading.Thread(target=run, name="nixl-posting", daemon=True)
        posting.thread.start()
        posting.begun.wait(self.transfer_timeout)
        return f"posting {count} WRITEs on a second thread"

    def prep(self, cmd: dict) -> str:
        """Prepare descriptor lists for one range of a peer and keep them (an application's cached descriptors:
        after the peer restarts with a new registration they are stale)."""
        local = self.agent.prep_xfer_dlist("NIXL_INIT_AGENT", [(self.addr, cmd["length"], 0)], "DRAM")
        remote = self.agent.prep_xfer_dlist(cmd["peer"], [(cmd["remote_addr"], cmd["length"], 0)], "DRAM")
        self.prepped[cmd["peer"]] = (local, remote)
        return f"prepared {cmd['length']} bytes at {cmd['remote_addr']:#x} of {cmd['peer']}"

    def write_prepped(self, cmd: dict) -> str:
        """WRITE a new pattern through the descriptor lists `prep` kept for the peer."""
        from rdmacheck.pattern import pattern  # noqa: PLC0415

        local, remote = self.prepped[cmd["peer"]]
        self.local_write(0, pattern(cmd["seed"], cmd["length"]))
        what = f"write to {cmd['peer']} through prepared descriptors"
        handle = self.agent.make_prepped_xfer("WRITE", local, [0], remote, [0], b"rdmacheck")
        self._wait(self._start(handle, what), what)
        return "done"

    def settle(self, cmd: dict) -> str:
        """Wait for every posted transfer: all within `wait_s` seconds if given, else each within the transfer
        timeout (the posting thread's calls too); the first that fails is the answer."""
        errors = []
        budget = cmd.get("wait_s")
        limit = self.transfer_timeout if budget is None else budget
        end = time.monotonic() + limit
        if self.posting:
            posting, self.posting = self.posting, None
            posting.thread.join(limit)
            if posting.thread.is_alive():
                raise TimeoutError(f"nixl posting thread: transfer() call {len(posting.calls)} of {posting.count} "
                                   f"still in progress after {limit:g} s")
            if posting.error:
                errors.append(posting.error)
        pending, self.pending = self.pending, []
        for handle, peer in pending:
            try:
                self._wait(handle, f"posted write to {peer}", budget, None if budget is None else end)
            except (RuntimeError, TimeoutError) as e:
                errors.append(str(e))
        if errors:
            raise RuntimeError("; ".join(errors))
        return f"{len(pending)} posted transfer(s) done"


def _plugin_dir() -> str | None:
    """Where the wheel keeps its backend plugins. 0.7's nixl_cu12 looks under another package's name and
    finds none ("Skipping backend registration UCX due to the missing plugin"); later releases find theirs."""
    import importlib.util  # noqa: PLC0415

    spec = importlib.util.find_spec("nixl_cu12")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]).parent / ".nixl_cu12.mesonpy.libs" / "plugins"
    return str(d) if d.is_dir() else None


def _why_no_ucx() -> str:
    """The loader's own words for a UCX plugin that would not load (0.7.1's needs libcuda.so.1)."""
    import ctypes  # noqa: PLC0415

    d = os.environ.get("NIXL_PLUGIN_DIR")
    if not d or not (Path(d) / "libplugin_UCX.so").exists():
        return ""
    try:
        ctypes.CDLL(str(Path(d) / "libplugin_UCX.so"))
    except OSError as e:
        return f": libplugin_UCX.so: {e}"
    return ""


def _load_api(device: str):
    """The release's NIXL API, imported with fd 1 and sys.stdout pointing at stderr (UCX prints its protocol
    tables to fd 1 and NIXL's logger to sys.stdout, which carry this side's JSON lines); the JSON lines
    then go out on a private copy of the original stdout."""
    os.environ.setdefault("UCX_NET_DEVICES", f"{device}:1")
    os.environ.setdefault("UCX_TLS", "rc_verbs,ud_verbs,self")
    os.environ.setdefault("UCX_PROTO_INFO", "y")
    plugins = _plugin_dir()
    if plugins:
        os.environ.setdefault("NIXL_PLUGIN_DIR", plugins)
    sys.stdout.flush()
    private = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    import nixl_cu12._api as api  # noqa: PLC0415 - the release's own wheel (0.7 exports nothing at the top)

    sys.stdout = os.fdopen(private, "w", buffering=1)
    return api


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m rdmacheck.engines.nixl_side")
    p.add_argument("--name", required=True, help="the agent's name (a restarted agent comes back under it)")
    p.add_argument("--device", default="rxe0")
    p.add_argument("--length", type=int, default=1 << 20)
    p.add_argument("--transfer-timeout", type=float,
                   default=float(os.environ.get("RDMACHECK_NIXL_TRANSFER_TIMEOUT", "30")),
                   help="a transfer still in progress this long is reported as hung")
    p.add_argument("--error-mode", choices=("peer", "none"), default=os.environ.get(ERROR_MODE_ENV) or None,
                   help="UCX's error handling mode for the backend (default: the release's own)")
    a = p.parse_args(argv)
    side = NixlSide(_load_api(a.device), a.name, a.length, a.transfer_timeout, a.error_mode or "")
    emit({"event": "ready", "side": "nixl", "name": side.name, "addr": side.addr, "length": side.length,
          "metadata": side.metadata(), "init_ms": round(side.init_ms, 1), "backend_params": side.backend_params})
    return serve(side)


if __name__ == "__main__":
    sys.exit(main())
