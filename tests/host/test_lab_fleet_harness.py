"""The one lab-fleet harness (rdmacheck/fleet/labfleet.py): every fleet lab test and benchmark starts its hosts,
etcd and agents through it, and each agent is sent to etcd by its own host's gateway. Its argv are checked
here; the fleet itself runs in the lab (tests/lab/test_fleet.py)."""
from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace

from rdmacheck.fleet.labfleet import LabFleet
from rdmacheck.lab.hosts import hosts

ROOT = Path(__file__).resolve().parents[2]
USERS = ("tests/lab/test_fleet.py", "benchmarks/fleet_lab.py", "benchmarks/fleet_reconnect.py")


def _fleet(tmp_path, **kw) -> LabFleet:
    return LabFleet(hosts(3), SimpleNamespace(port=23790), tmp_path, **kw)


def test_each_agent_reaches_etcd_through_its_own_hosts_gateway(tmp_path):
    f = _fleet(tmp_path, lease_ttl=3, join_timeout=60)
    for h in f.hosts:
        argv = f.agent_argv(h, "run1")
        assert argv[:4] == ["ip", "netns", "exec", h.name], argv
        assert f"etcd://{h.gateway}:23790" in argv and ["-d", h.device] == argv[argv.index("-d"):argv.index("-d") + 2]
        assert ["--cluster", "run1", "--lease-ttl", "3", "--join-timeout", "60"] == \
            argv[argv.index("--cluster"):argv.index("--cluster") + 6]


def test_the_coordinator_uses_loopback_and_under_slurm_the_first_gateway(tmp_path):
    f = _fleet(tmp_path)
    run = f.run_argv("c", "--json", "x.json")
    assert "etcd://127.0.0.1:23790" in run and run[run.index("--hosts") + 1] == "host1,host2,host3"
    assert run[-2:] == ["--json", "x.json"] and "--lease-ttl" not in run
    slurm = f.run_argv("c", slurm=True)
    assert slurm[:3] == ["salloc", "-N", "3"] and f"etcd://{f.hosts[0].gateway}:23790" in slurm
    assert "--hosts" not in slurm and ["--launch", "slurm"] == slurm[slurm.index("--launch"):slurm.index("--launch") + 2]


def test_every_fleet_lab_test_and_benchmark_uses_the_harness_and_makes_nothing_itself():
    for rel in USERS:
        tree = ast.parse((ROOT / rel).read_text())
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert "rdmacheck.fleet.labfleet" in imported, rel
        called = {n.func.id if isinstance(n.func, ast.Name) else n.func.attr for n in ast.walk(tree)
                  if isinstance(n, ast.Call) and isinstance(n.func, (ast.Name, ast.Attribute))}
        assert not called & {"EtcdServer", "LabSlurm"}, f"{rel} starts etcd or Slurm itself"
