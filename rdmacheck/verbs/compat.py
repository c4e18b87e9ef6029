"""The one place that imports pyverbs' enum modules (their names changed across rdma-core)."""

from __future__ import annotations

from pathlib import Path

from rdmacheck.errors import EnvironmentProblem

SYSFS_IB = Path("/sys/class/infiniband")
LAB_HINT = "no RDMA here? try the Soft-RDMA lab: `rdmacheck lab run -- rdmacheck devices`"

try:  # rdma-core >= 45
    import pyverbs.libibverbs_enums as ibv  # type: ignore[import-not-found]
except ImportError:
    try:  # rdma-core 44 (Debian 12)
        import pyverbs.enums as ibv  # type: ignore[import-not-found,no-redef]
    except ImportError:
        ibv = None  # type: ignore[assignment]
try:
    import pyverbs.librdmacm_enums as cm  # type: ignore[import-not-found]
except ImportError:
    try:
        import pyverbs.cm_enums as cm  # type: ignore[import-not-found,no-redef]
    except ImportError:
        cm = None  # type: ignore[assignment]


def require_pyverbs() -> None:
    if ibv is None:
        raise EnvironmentProblem(
            "pyverbs cannot be imported by this Python",
            hint="install python3-pyverbs and use a venv made from /usr/bin/python3 with --system-site-packages "
                 "(scripts/setup.sh does both)")


def require_rdma_kernel() -> None:
    """Fail with one clear line when the kernel has no RDMA support at all."""
    if not SYSFS_IB.is_dir():
        raise EnvironmentProblem("no /sys/class/infiniband: this kernel has no RDMA support", hint=LAB_HINT)
    require_pyverbs()


def enum_name(enum_cls: str, value: int, prefix: str) -> str:
    """IBV_WC_RETRY_EXC_ERR -> RETRY_EXC_ERR; unknown values stay numeric."""
    try:
        name = getattr(ibv, enum_cls)(value).name
    except (ValueError, AttributeError, TypeError):
        return str(value)
    return name.removeprefix(prefix)


def wc_status_name(status: int) -> str:
    return enum_name("ibv_wc_status", status, "IBV_WC_")


def qp_state_name(state: int) -> str:
    return enum_name("ibv_qp_state", state, "IBV_QPS_")


MTU_BYTES = {1: 256, 2: 512, 3: 1024, 4: 2048, 5: 4096}


def mtu_bytes(mtu_enum: int) -> int:
    return MTU_BYTES.get(mtu_enum, 0)


def mtu_enum(nbytes: int) -> int:
    for k, v in MTU_BYTES.items():
        if v == nbytes:
            return k
    raise ValueError(f"not an RDMA MTU: {nbytes} (one of 256, 512, 1024, 2048, 4096)")
