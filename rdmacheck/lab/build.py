"""`rdmacheck lab setup`: build Debian's kernel, the RDMA modules, siw.ko and an initramfs."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from rich.console import Console

from rdmacheck.errors import EnvironmentProblem
from rdmacheck.lab.paths import LabPaths, guest_file
from rdmacheck.output.console import safe_console, styled

# What the host needs for the lab (the guest uses the host's userspace over 9p, so the RDMA
# userspace is installed on the host too).
LAB_PACKAGES = [
    "qemu-system-x86", "busybox-static", "kmod", "cpio", "gcc", "make", "xz-utils",
    "rdma-core", "ibverbs-providers", "ibverbs-utils", "rdmacm-utils", "perftest",
    "python3-pyverbs", "iproute2", "util-linux",
]
# Modules the guest loads (with their dependencies): RDMA, netdevs, 9p/virtio/overlay, and the
# CRC32 implementations rxe needs ("failed to init crc32 algorithm" without them).
GUEST_MODULES = [
    "rdma_rxe", "ib_uverbs", "rdma_ucm", "ib_umad", "veth", "dummy", "9p", "9pnet_virtio",
    "virtio_pci", "overlay", "libcrc32c", "crc32c_generic", "crc32c-intel", "crc32_generic",
    "crc32-pclmul",
    # tc's qdiscs for the fleet's slow and flapping links (netem delay/rate/loss, a prio qdisc with a u32 filter
    # for one path, tbf): Debian's kernel ships them as modules
    "sch_netem", "sch_prio", "cls_u32", "sch_tbf",
]
INITRAMFS_MODULES = ["virtio_pci", "9pnet_virtio", "9p", "overlay"]


def run(cmd: list[str] | str, **kw) -> str:
    """Run a command; on failure raise a one-line error that names it and quotes its stderr."""
    shell = isinstance(cmd, str)
    proc = subprocess.run(cmd, shell=shell, capture_output=True, text=True, **kw)
    if proc.returncode != 0:
        tail = " | ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        shown = cmd if shell else " ".join(cmd)
        raise EnvironmentProblem(f"lab setup: `{shown}` failed (exit {proc.returncode}): {tail}")
    return proc.stdout


def _sudo() -> list[str]:
    if os.geteuid() == 0:
        return []
    if shutil.which("sudo"):
        return ["sudo", "-n"]
    raise EnvironmentProblem("lab setup needs root to install packages", hint="run it as root or with sudo")


def missing_packages(names: list[str]) -> list[str]:
    out = subprocess.run(["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *names],
                         capture_output=True, text=True).stdout
    installed = {line.split()[0] for line in out.splitlines() if line.endswith(" installed")}
    return [n for n in names if n not in installed]


def apt_install(names: list[str]) -> None:
    need = missing_packages(names)
    if not need:
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run([*_sudo(), "apt-get", "update", "-qq"], env=env)
    run([*_sudo(), "apt-get", "install", "-y", "-qq", "--no-install-recommends", *need], env=env)


def debian_kernel_package() -> str:
    """The versioned package linux-image-amd64 points at, e.g. linux-image-6.1.0-41-amd64."""
    out = run(["apt-cache", "depends", "linux-image-amd64"])
    for line in out.splitlines():
        dep = line.split(":", 1)[-1].strip()
        if line.strip().startswith("Depends:") and dep.startswith("linux-image-") and dep[12:13].isdigit():
            return dep
    raise EnvironmentProblem("lab setup: cannot tell which kernel linux-image-amd64 depends on",
                             hint="run `apt-get update` and try again")


def module_files(modroot: Path, kver: str, modules: list[str]) -> list[str]:
    """Paths of the .ko files (dependencies first) that `modprobe --show-depends` lists."""
    seen: list[str] = []
    for m in modules:
        proc = subprocess.run(["modprobe", "-d", str(modroot), "-S", kver, "--show-depends", m],
                              capture_output=True, text=True)
        for line in proc.stdout.splitlines():
            parts = line.split()
            if parts and parts[0] == "insmod" and parts[1] not in seen:
                seen.append(parts[1])
    return seen


@dataclass
class LabBuilder:
    paths: LabPaths
    console: Console = field(default_factory=lambda: safe_console(stderr=True))
    build_siw: bool = True

    def step(self, title: str, fn: Callable[[], object]) -> None:
        t0 = time.monotonic()
        with self.console.status(title):
            fn()
        self.console.print(styled("✓", "green"), title, styled(f"({time.monotonic() - t0:.1f} s)", "dim"))

    def setup(self, force: bool = False) -> str:
        """Build everything the VM needs; return a one-line summary."""
        t0 = time.monotonic()
        self.step("host packages (qemu, busybox, rdma-core, pyverbs, ...)", lambda: apt_install(LAB_PACKAGES))
        kpkg = debian_kernel_package()
        kver = kpkg.removeprefix("linux-image-")
        if not force and self.paths.is_built() and self.paths.built_kver() == kver and \
                self.paths.built_modules() == GUEST_MODULES:
            return f"lab is up to date (kernel {kver}) in {self.paths.root}; use --force to rebuild"
        self.paths.downloads.mkdir(parents=True, exist_ok=True)
        self.paths.run_dir.mkdir(parents=True, exist_ok=True)
        kx = self.paths.root / "kx"
        self.step(f"kernel {kver}", lambda: self._kernel(kpkg, kver, kx))
        self.step("module tree (rdma_rxe, ib_uverbs, rdma_ucm, veth, dummy, 9p, overlay, crc32, tc qdiscs)",
                  lambda: self._modules(kver, kx))
        if self.build_siw:
            self.step("siw.ko built from linux-source (Debian's kernel does not ship soft-iWARP)",
                      lambda: self._siw(kver))
        run(["depmod", "-b", str(self.paths.root / "root"), kver])
        shutil.rmtree(kx, ignore_errors=True)
        self.step("initramfs (busybox + virtio/9p/overlay)", lambda: self._initramfs(kver))
        self.paths.guest_init.write_text(guest_file("guest-init"))
        self.paths.modules_file.write_text("\n".join(GUEST_MODULES) + "\n")
        self.paths.kver_file.write_text(kver + "\n")
        size = run(["du", "-sh", str(self.paths.root)]).split()[0]
        return f"lab built in {time.monotonic() - t0:.0f} s: kernel {kver}, {size} in {self.paths.root}"

    def _kernel(self, kpkg: str, kver: str, kx: Path) -> None:
        dl = self.paths.downloads
        if not glob.glob(str(dl / f"{kpkg}_*.deb")):
            run(["apt-get", "download", "-qq", kpkg], cwd=dl)
        shutil.rmtree(kx, ignore_errors=True)
        kx.mkdir(parents=True)
        run(["dpkg", "-x", glob.glob(str(dl / f"{kpkg}_*.deb"))[0], str(kx)])
        run(["depmod", "-b", str(kx), kver])
        shutil.copy(kx / "boot" / f"vmlinuz-{kver}", self.paths.vmlinuz)

    def _modules(self, kver: str, kx: Path) -> None:
        src = kx / "lib" / "modules" / kver
        dst = self.paths.modules / kver
        shutil.rmtree(self.paths.root / "root", ignore_errors=True)
        dst.mkdir(parents=True)
        for ko in module_files(kx, kver, GUEST_MODULES):
            rel = Path(ko).relative_to(src)
            (dst / rel.parent).mkdir(parents=True, exist_ok=True)
            shutil.copy(ko, dst / rel)
        for name in ("modules.order", "modules.builtin", "modules.builtin.modinfo"):
            shutil.copy(src / name, dst / name)

    def _siw(self, kver: str) -> None:
        apt_install([f"linux-headers-{kver}"])
        dl = self.paths.downloads
        srcpkg = "linux-source-" + kver.split(".0-")[0]  # linux-source-6.1
        if not glob.glob(str(dl / f"{srcpkg}_*.deb")):
            run(["apt-get", "download", "-qq", srcpkg], cwd=dl)
        work = self.paths.root / "siw-src"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        deb = glob.glob(str(dl / f"{srcpkg}_*.deb"))[0]
        # Extract only drivers/infiniband/sw/siw from the source tarball inside the .deb.
        run(f"dpkg-deb --fsys-tarfile {deb} | tar -x -C {work} --wildcards './usr/src/linux-source-*.tar.xz'")
        tarball = glob.glob(str(work / "usr/src/linux-source-*.tar.xz"))[0]
        run(["tar", "-xJf", tarball, "-C", str(work), "--wildcards", "*/drivers/infiniband/sw/siw/*"])
        siw = self.paths.root / "siw"
        shutil.rmtree(siw, ignore_errors=True)
        shutil.copytree(glob.glob(str(work / "linux-source-*/drivers/infiniband/sw/siw"))[0], siw)
        shutil.rmtree(work, ignore_errors=True)
        run(["make", "-s", "-C", f"/lib/modules/{kver}/build", f"M={siw}", "CONFIG_RDMA_SIW=m", "modules"])
        run(["strip", "--strip-debug", str(siw / "siw.ko")])
        updates = self.paths.modules / kver / "updates"
        updates.mkdir(parents=True, exist_ok=True)
        shutil.copy(siw / "siw.ko", updates / "siw.ko")

    def _initramfs(self, kver: str) -> None:
        d = self.paths.root / "initramfs.d"
        shutil.rmtree(d, ignore_errors=True)
        for sub in ("bin", "mods", "proc", "sys", "dev", "lower", "upper", "newroot"):
            (d / sub).mkdir(parents=True)
        shutil.copy("/bin/busybox", d / "bin" / "busybox")
        names = []
        for ko in module_files(self.paths.root / "root", kver, INITRAMFS_MODULES):
            shutil.copy(ko, d / "mods")
            names.append(Path(ko).name)
        (d / "mods.list").write_text("\n".join(names) + "\n")
        (d / "init").write_text(guest_file("initramfs-init"))
        (d / "init").chmod(0o755)
        run(f"cd {d} && find . | cpio -o -H newc --quiet | gzip -1 > {self.paths.initramfs}")
        shutil.rmtree(d, ignore_errors=True)
