"""Starting the agents for `fleet run --launch slurm`: one per node of this allocation through srun, each
told every etcd setting of the coordinator (the password in its environment, never on a command line)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rdmacheck.errors import EnvironmentProblem
from rdmacheck.metadata.etcd import EtcdConfig

LAUNCHERS = ("none", "slurm")


def agent_etcd_args(etcd: EtcdConfig, join_timeout: float) -> tuple[list[str], dict[str, str]]:
    """Every etcd setting of the coordinator, for the agents srun starts (the password in their
    environment, never on a command line), and the join deadline."""
    args = ["--metadata", "etcd://" + etcd.shown(), "--cluster", etcd.cluster, "--etcd-prefix", etcd.prefix,
            "--lease-ttl", str(etcd.ttl), "--etcd-timeout", str(etcd.timeout), "--join-timeout", str(join_timeout)]
    for flag, value in (("--etcd-user", etcd.user), ("--etcd-ca", etcd.ca_cert), ("--etcd-cert", etcd.cert_cert),
                        ("--etcd-key", etcd.cert_key)):
        if value:
            args += [flag, str(value)]
    env = {"RDMACHECK_ETCD_PASSWORD": etcd.password} if etcd.password else {}
    return args, env


def slurm_agents(device: str, etcd_args: list[str], run_log: Path,
                  env: dict[str, str] | None = None) -> tuple[subprocess.Popen, int]:
    """One agent per node of this allocation: srun --ntasks-per-node=1."""
    if not os.environ.get("SLURM_JOB_ID"):
        raise EnvironmentProblem("--launch slurm runs inside a Slurm allocation (SLURM_JOB_ID is unset): "
                                 "salloc -N 8 rdmacheck fleet run --launch slurm ...")
    nodes = int(os.environ.get("SLURM_JOB_NUM_NODES") or os.environ.get("SLURM_NNODES") or 0)
    if nodes < 2:
        raise EnvironmentProblem(f"the allocation has {nodes} node(s): a fleet needs at least 2")
    cmd = ["srun", f"--nodes={nodes}", "--ntasks-per-node=1", "--kill-on-bad-exit=0", sys.executable, "-m",
           "rdmacheck", "fleet", "agent", "-d", device, *etcd_args]
    run_log.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(cmd, stdout=run_log.open("ab"), stderr=subprocess.STDOUT,
                            env={**os.environ, **(env or {})}), nodes

