"""Real Slurm over a lab fleet (inside the guest, root): munge, slurmctld in the initial namespace, and
one `slurmd -N hostK` inside each host's namespace, so `srun -N 8 ...` starts one task in each
"host". Everything lives in a scratch directory (SLURM_CONF points there); the guest's root is an
overlay, so the /etc/hosts line that names the controller never reaches the machine it runs on."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from rdmacheck.errors import EnvironmentProblem
from rdmacheck.lab.hosts import LabHost

DAEMONS = ("munged", "slurmctld", "slurmd", "srun", "sinfo")


@dataclass
class LabSlurm:
    hosts: list[LabHost]
    root: Path = Path("/run/rdmacheck-slurm")

    @property
    def conf(self) -> Path:
        return self.root / "slurm.conf"

    @property
    def socket(self) -> Path:
        return self.root / "munge.sock"

    @property
    def controller_ip(self) -> str:
        return self.hosts[0].gateway  # the initial namespace, reachable from every host's namespace

    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def _config(self, ctld: str) -> str:
        r = self.root
        cpus = os.cpu_count() or 1
        nodes = "\n".join(f"NodeName={h.name} NodeAddr={h.ip} CPUs={cpus} State=UNKNOWN" for h in self.hosts)
        return f"""ClusterName=lab
SlurmctldHost={ctld}({self.controller_ip})
AuthType=auth/munge
AuthInfo=socket={self.socket}
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation={r}/ctld
SlurmdSpoolDir={r}/spool-%n
SlurmctldPidFile={r}/ctld.pid
SlurmdPidFile={r}/slurmd-%n.pid
SlurmctldLogFile={r}/ctld.log
SlurmdLogFile={r}/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SchedulerType=sched/builtin
SelectType=select/linear
MpiDefault=none
ReturnToService=2
SlurmdTimeout=30
{nodes}
PartitionName=lab Nodes={','.join(h.name for h in self.hosts)} Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
"""

    def start(self, timeout: float = 60.0) -> None:
        missing = [d for d in DAEMONS if shutil.which(d) is None]
        if missing:
            raise EnvironmentProblem(f"lab slurm: {', '.join(missing)} not installed (apt install slurmd slurmctld "
                                     f"slurm-client munge; scripts/setup.sh does)")
        r = self.root
        (r / "ctld").mkdir(parents=True, exist_ok=True)
        for h in self.hosts:
            (r / f"spool-{h.name}").mkdir(exist_ok=True)
        ctld = socket.gethostname()
        try:
            socket.gethostbyname(ctld)
        except OSError:  # the guest's overlay /etc/hosts: slurmctld must resolve its own name
            with open("/etc/hosts", "a") as f:
                f.write(f"{self.controller_ip} {ctld}\n")
        self.conf.write_text(self._config(ctld))
        # No systemd in the guest: slurmd makes its cgroups itself (22.05's cgroup/v2 asks dbus otherwise).
        (r / "cgroup.conf").write_text("CgroupPlugin=cgroup/v2\nIgnoreSystemd=yes\n")
        key = r / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        self._run(["munged", "--force", f"--key-file={key}", f"--socket={self.socket}", f"--pid-file={r}/munged.pid",
                   f"--log-file={r}/munged.log", f"--seed-file={r}/munged.seed"])
        self._run(["slurmctld", "-c", "-f", str(self.conf)])
        # Every host's slurmd at once (each daemonizes; one after the other took ~0.4 s a host on the lab's
        # emulated CPUs). `ip netns exec` mounts a fresh /sys without cgroups, which slurmd needs.
        self._run_all([h.ns("sh", "-c", f"mountpoint -q /sys/fs/cgroup || mount -t cgroup2 none /sys/fs/cgroup; "
                                        "mkdir -p /sys/fs/cgroup/system.slice; "
                                        f"exec slurmd -N {h.name} -f {self.conf}") for h in self.hosts])
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = subprocess.run(["sinfo", "-h", "-o", "%T %D"], capture_output=True, text=True, env=self.env(),
                                 timeout=20).stdout.split()
            idle = sum(int(n) for state, n in zip(out[::2], out[1::2]) if state.startswith("idle"))
            if idle == len(self.hosts):
                return
            time.sleep(0.25)
        raise EnvironmentProblem(f"lab slurm: not all {len(self.hosts)} nodes idle within {timeout:g} s "
                                 f"(sinfo: {' '.join(out)}; logs in {r})")

    def _run(self, cmd: list[str]) -> None:
        self._run_all([cmd])

    def _run_all(self, cmds: list[list[str]], timeout: float = 30.0) -> None:
        """The commands at once; the first that fails (or outlives `timeout`) is the error."""
        procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env())
                 for c in cmds]
        deadline = time.monotonic() + timeout
        for cmd, p in zip(cmds, procs):
            try:
                out, errs = p.communicate(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                for q in procs:
                    q.kill()
                raise EnvironmentProblem(f"lab slurm: `{' '.join(cmd)}` did not return within {timeout:g} s") from None
            self._check(cmd, p.returncode, out, errs)

    def _check(self, cmd: list[str], returncode: int, stdout: str, stderr: str) -> None:
        if returncode != 0:
            logs = sorted(self.root.glob("*.log"), key=lambda p: p.stat().st_mtime)
            last = [x for x in (logs[-1].read_text(errors="replace").splitlines() if logs else []) if "error" in x]
            raise EnvironmentProblem(f"lab slurm: `{' '.join(cmd)}` failed: {(stderr or stdout).strip()[:200]}"
                                     + (f" ({logs[-1].name}: {last[-1][:200]})" if last else ""))

    def stop(self) -> None:
        for name in ("slurmd", "slurmctld", "munged"):
            subprocess.run(["pkill", "-x", name], capture_output=True, timeout=10)
