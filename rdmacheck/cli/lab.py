"""`rdmacheck lab ...`: build, boot and use the Soft-RDMA VM."""

from __future__ import annotations

import json
from pathlib import Path
from typing import List, Optional

import typer

from rdmacheck.cli import options as o
from rdmacheck.cli.app import app
from rdmacheck.errors import EXIT_FAIL
from rdmacheck.lab.vm import VMOptions
from rdmacheck.output.console import err

lab_app = typer.Typer(no_args_is_help=True, help="The Soft-RDMA lab: a throwaway VM with rxe (Soft-RoCE) and siw (soft-iWARP).")
app.add_typer(lab_app, name="lab")


def lab_paths(lab_dir: Optional[Path]):
    from rdmacheck.lab.paths import LabPaths

    return LabPaths.from_env(str(lab_dir) if lab_dir else None)


LAB_DIR_OPT = typer.Option(None, "--dir", help="Lab cache directory (default $RDMACHECK_LAB_DIR or /var/tmp/rdmacheck-lab).")


@lab_app.command("setup")
def lab_setup(force: bool = typer.Option(False, "--force", help="Rebuild even if up to date."),
              no_siw: bool = typer.Option(False, "--no-siw", help="Skip building soft-iWARP (siw.ko)."),
              lab_dir: Optional[Path] = LAB_DIR_OPT) -> None:
    """Install what the lab needs and build kernel, modules, siw.ko and initramfs into the cache dir."""
    from rdmacheck.lab.build import LabBuilder

    err.print(LabBuilder(lab_paths(lab_dir), console=err, build_siw=not no_siw).setup(force=force))


def _vm(mem: str, smp: int, accel: str, cpu: str, rw: Optional[List[Path]], lab_dir: Optional[Path]) -> dict:
    return {"mem": mem, "smp": smp, "accel": accel, "cpu": cpu, "rw": list(rw or []), "lab_dir": lab_dir}


vm_options = o.group("vm", [
    o.opt("mem", str, typer.Option("2G", "--mem", help="Guest memory.")),
    o.opt("smp", int, typer.Option(2, "--smp", help="Guest CPUs.")),
    o.opt("accel", str, typer.Option("tcg", "--accel", help="tcg (default, works everywhere) or kvm (real VT-x/AMD-V hosts).")),
    o.opt("cpu", str, typer.Option(VMOptions.cpu, "--cpu", help="QEMU CPU model (max: every instruction set extension TCG "
                                   "emulates, which current numpy/NIXL wheels need).")),
    o.opt("rw", Optional[List[Path]], typer.Option(None, "--rw", help="Host directory shared writable at the same path (repeatable).")),
    o.opt("lab_dir", Optional[Path], LAB_DIR_OPT)], _vm)
"""The guest's shape (--mem, --smp, --accel, --cpu, --rw, --dir) for `lab run` and `lab shell`."""


def _boot(vm: dict, timeout: float, verbose: bool):
    return lab_paths(vm["lab_dir"]), VMOptions(timeout=timeout, mem=vm["mem"], smp=vm["smp"], accel=vm["accel"],
                                               cpu=vm["cpu"], rw=vm["rw"], verbose=verbose)


@lab_app.command("run", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@vm_options
def lab_run(
    cmd: List[str] = typer.Argument(..., help="Command to run in the guest (put it after --)."),
    timeout: float = typer.Option(900.0, "--timeout", help="Seconds before the guest is killed (exit 124)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show the guest's boot console."),
    *, vm=None,
) -> None:
    """Boot the lab, run CMD inside (same cwd; the host's files read-only), return its exit code."""
    from rdmacheck.lab.vm import run_in_lab

    outcome = run_in_lab(cmd, *_boot(vm, timeout, verbose))
    err.print(f"lab: command exited {outcome.exit_code} after {outcome.total_seconds:.1f} s", highlight=False)
    raise typer.Exit(outcome.exit_code)


@lab_app.command("shell")
@vm_options
def lab_shell(*, vm=None) -> None:
    """An interactive shell in the lab guest (leave with Ctrl-D)."""
    from rdmacheck.lab.vm import shell_in_lab

    raise typer.Exit(shell_in_lab(*_boot(vm, 86400, False)))


@lab_app.command("status")
def lab_status(as_json: bool = o.JSON_PRINT, lab_dir: Optional[Path] = LAB_DIR_OPT) -> None:
    """What is built, which kernel, where."""
    from rdmacheck.lab.status import lab_status as status

    info = status(lab_paths(lab_dir))
    if as_json:
        print(json.dumps(info, indent=2))
    else:
        for k, v in info.items():
            print(f"{k:>14}: {v}")
    raise typer.Exit(0 if info["built"] else EXIT_FAIL)


@lab_app.command("hosts")
def lab_hosts(count: int = typer.Argument(..., help="How many hosts (network namespaces host1..hostN)."),
              slurm: bool = typer.Option(False, "--slurm", help="Also start real Slurm: munge, slurmctld here, one slurmd per host; prints the SLURM_CONF to export.")) -> None:
    """Inside the lab guest (root): make a fleet of N hosts, each a network namespace with soft-iWARP
    device fsiwK on 169.254.(40+K).2, routed through the initial namespace."""
    from rdmacheck.lab.hosts import create

    made = create(count)
    for h in made:
        print(f"{h.name}: {h.device} on eth0 {h.ip} (gateway {h.gateway})")
    if slurm:
        from rdmacheck.lab.slurm import LabSlurm

        s = LabSlurm(made)
        s.start()
        print(f"slurm: {count} nodes idle; export SLURM_CONF={s.conf}")
