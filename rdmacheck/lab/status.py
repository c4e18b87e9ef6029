"""`rdmacheck lab status`: what is built, versions, where."""

from __future__ import annotations

import shutil
import subprocess

from rdmacheck.lab.paths import LabPaths


def lab_status(paths: LabPaths) -> dict:
    qemu = shutil.which("qemu-system-x86_64")
    qemu_ver = None
    if qemu:
        qemu_ver = subprocess.run([qemu, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    kver = paths.built_kver()
    siw = bool(kver and (paths.modules / kver / "updates" / "siw.ko").exists())
    return {
        "built": paths.is_built(),
        "dir": str(paths.root),
        "kernel": kver,
        "siw": siw,
        "qemu": qemu_ver,
        "vmlinuz": str(paths.vmlinuz) if paths.vmlinuz.exists() else None,
        "initramfs": str(paths.initramfs) if paths.initramfs.exists() else None,
    }
