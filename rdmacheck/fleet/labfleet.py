"""A fleet of lab hosts, the one harness of the fleet's lab tests and benchmarks (run inside the lab guest, as
root): N hosts (network namespaces with a soft-iWARP device each, lab/hosts.py), an etcd in the initial
namespace listening on every address, agents started in their namespaces, and the coordinator's argv.

Each agent is sent to etcd through its own host's gateway (the address its namespace routes to the initial
one); the coordinator in the initial namespace uses loopback, and under Slurm (where every agent gets the
coordinator's --metadata) the first host's gateway, which every namespace reaches."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path

from rdmacheck.lab.hosts import LabHost, create
from rdmacheck.lab.slurm import LabSlurm
from rdmacheck.metadata.local_etcd import EtcdServer

ROOT = Path(__file__).resolve().parents[2]  # the project: the agents' and coordinator's working directory
RDMACHECK = (sys.executable, "-m", "rdmacheck")


@dataclass
class CoordinatorRun:
    proc: subprocess.CompletedProcess  # the coordinator's exit status and output
    launched: float  # time.monotonic() when the coordinator was started
    launched_wall: float  # the same instant, time.time() (the results' clock)
    ended: float  # time.monotonic() when it exited

    @property
    def wall_s(self) -> float:
        return self.ended - self.launched


@dataclass
class LabFleet:
    hosts: list[LabHost]
    etcd: EtcdServer
    logs: Path  # agents' logs: DIR/<host>.agent.log, their roles' under DIR/<host>/roundN/
    lease_ttl: int | None = None  # --lease-ttl of agents and coordinator (None: rdmacheck's default)
    join_timeout: float | None = None
    agents: dict[str, subprocess.Popen] = field(default_factory=dict)
    made_s: dict[str, float] = field(default_factory=dict)  # seconds to make the hosts, then to start etcd

    @classmethod
    @contextmanager
    def up(cls, n_or_hosts: int | list[LabHost], logs: Path, **kw) -> Iterator[LabFleet]:
        """The hosts (made, or the ones given), a fresh etcd, and everything stopped at the end: the agents
        still running killed, etcd and its data removed."""
        t0 = time.monotonic()
        hosts = create(n_or_hosts) if isinstance(n_or_hosts, int) else n_or_hosts
        t1 = time.monotonic()
        logs.mkdir(parents=True, exist_ok=True)
        server = EtcdServer(Path(tempfile.mkdtemp(prefix="lab-fleet-etcd-")) / "data", listen="0.0.0.0").start()
        fleet = cls(hosts, server, logs, **kw)
        fleet.made_s = {"hosts": round(t1 - t0, 3), "etcd": round(time.monotonic() - t1, 3)}
        try:
            yield fleet
        finally:
            fleet.stop_agents(grace=0)
            server.remove()

    def etcd_url(self, host: LabHost | None = None) -> str:
        """etcd as `host` reaches it (None: from the initial namespace)."""
        return f"etcd://{host.gateway if host else '127.0.0.1'}:{self.etcd.port}"

    def _common(self, cluster: str) -> list[str]:
        out = ["--cluster", cluster]
        if self.lease_ttl is not None:
            out += ["--lease-ttl", str(self.lease_ttl)]
        if self.join_timeout is not None:
            out += ["--join-timeout", f"{self.join_timeout:g}"]
        return out

    def agent_argv(self, host: LabHost, cluster: str, *extra: str) -> list[str]:
        return host.ns(*RDMACHECK, "fleet", "agent", "-d", host.device, "--name", host.name, "--metadata",
                       self.etcd_url(host), *self._common(cluster), "--log-dir", str(self.logs), *extra)

    def start_agents(self, cluster: str, *extra: str) -> dict[str, subprocess.Popen]:
        """An agent in every host's namespace; each one's stderr in logs/<host>.agent.log."""
        self.agents = {h.name: subprocess.Popen(self.agent_argv(h, cluster, *extra), cwd=ROOT,
                                                stdout=subprocess.DEVNULL,
                                                stderr=(self.logs / f"{h.name}.agent.log").open("w"))
                       for h in self.hosts}
        return self.agents

    def run_argv(self, cluster: str, *extra: str, slurm: bool = False) -> list[str]:
        """The coordinator for the agents of start_agents (--hosts all of them), or under Slurm: salloc, one
        agent per node started by `fleet run --launch slurm` itself."""
        if slurm:
            return ["salloc", "-N", str(len(self.hosts)), *RDMACHECK, "fleet", "run", "--launch", "slurm",
                    "--agent-device", "auto", "--metadata", self.etcd_url(self.hosts[0]), *self._common(cluster),
                    *extra]
        return [*RDMACHECK, "fleet", "run", "--hosts", ",".join(h.name for h in self.hosts), "--metadata",
                self.etcd_url(), *self._common(cluster), *extra]

    def stop_agents(self, grace: float = 20.0) -> None:
        """Wait up to `grace` s for each agent to exit (they do once the run ends), then kill it."""
        for p in self.agents.values():
            try:
                p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()

    def run(self, cluster: str, *extra: str, slurm: bool = False, timeout: float = 1800) -> CoordinatorRun:
        """One whole run: agents started (or Slurm up: `fleet run --launch slurm` starts them), the coordinator
        run to its end, the agents waited for (killed after 30 s); when each step happened."""
        with self.slurm() if slurm else nullcontext({}) as env:
            if not slurm:
                self.start_agents(cluster)
            launched, launched_wall = time.monotonic(), time.time()
            proc = subprocess.run(self.run_argv(cluster, *extra, slurm=slurm), cwd=ROOT, capture_output=True,
                                  text=True, timeout=timeout, env={**os.environ, "COLUMNS": "120", **env})
            ended = time.monotonic()
            self.stop_agents(grace=30)
        return CoordinatorRun(proc, launched, launched_wall, ended)

    @contextmanager
    def slurm(self) -> Iterator[dict[str, str]]:
        """Real Slurm on the hosts (a slurmd in each namespace): the environment salloc needs."""
        lab_slurm = LabSlurm(self.hosts)
        lab_slurm.start()
        try:
            yield lab_slurm.env()
        finally:
            lab_slurm.stop()
