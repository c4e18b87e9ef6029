"""Where the lab keeps what `lab setup` builds (the cache directory) and what it contains."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

DEFAULT_LAB_DIR = "/var/tmp/rdmacheck-lab"
# The RDMA devices every lab boot makes (guest/guest-init): a device named for the lab is checked against
# these before the VM boots. siw2 lives in the guest's network namespace hostb (a scenario's target device).
LAB_DEVICES = ("rxe0", "siw0", "siw1", "siw2")


@dataclass(frozen=True)
class LabPaths:
    root: Path

    @classmethod
    def from_env(cls, override: str | None = None) -> "LabPaths":
        # The guest receives this path on the kernel command line: it must not contain spaces.
        return cls(Path(override or os.environ.get("RDMACHECK_LAB_DIR") or DEFAULT_LAB_DIR))

    @property
    def vmlinuz(self) -> Path:
        return self.root / "vmlinuz"

    @property
    def initramfs(self) -> Path:
        return self.root / "initramfs.gz"

    @property
    def modules(self) -> Path:
        return self.root / "root" / "lib" / "modules"

    @property
    def downloads(self) -> Path:
        return self.root / "dl"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def kver_file(self) -> Path:
        return self.root / "kver"

    @property
    def guest_init(self) -> Path:
        return self.root / "guest-init"

    @property
    def lock_file(self) -> Path:
        return self.root / "vm.lock"

    @property
    def modules_file(self) -> Path:
        return self.root / "modules"  # the guest modules the tree was built with, one a line

    def built_modules(self) -> list[str]:
        try:
            return self.modules_file.read_text().split()
        except OSError:
            return []

    def built_kver(self) -> str | None:
        try:
            return self.kver_file.read_text().strip() or None
        except OSError:
            return None

    def is_built(self) -> bool:
        return all(p.exists() for p in (self.vmlinuz, self.initramfs, self.guest_init, self.kver_file))


def guest_file(name: str) -> str:
    """Text of a script shipped in rdmacheck/lab/guest/."""
    return resources.files("rdmacheck.lab").joinpath("guest", name).read_text()
