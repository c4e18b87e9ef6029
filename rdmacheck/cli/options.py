"""Options that mean the same in several commands, declared here once, and the checks commands share:
a usage error names its option and an environment problem (no RDMA here, unknown device) says what
is missing, both exit 2, so a FAIL (exit 1) always means a finding.

A group of options (etcd, QP tuning, token) is added to a command by a decorator that appends
the group's parameters to the command's signature and hands the command one built value."""

from __future__ import annotations

import functools
import inspect
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import typer

try:  # typer 0.2x ships its own click (pinned in pyproject); older ones use the package
    from typer._click.core import ParameterSource
    from typer._click.globals import get_current_context
except ImportError:  # pragma: no cover
    from click import get_current_context
    from click.core import ParameterSource

from rdmacheck.errors import EnvironmentProblem
from rdmacheck.faults import Faults
from rdmacheck.output.console import err
from rdmacheck.output.files import read_text_input
from rdmacheck.words import Mode, Strategy

# --- single options ---------------------------------------------------------------------------
DEVICE = typer.Option(..., "--device", "-d", help="RDMA device (e.g. rxe0, mlx5_0, erdma_0).")
DEVICE_FILTER = typer.Option(None, "--device", "-d", help="Only this device.")
GID_INDEX = typer.Option(None, "--gid-index", help="GID index (default: a RoCE v2 GID with an IP).")
IB_PORT = typer.Option(None, "--ib-port", help="Device port (default: the first ACTIVE one).")
INJECT = typer.Option(None, "--inject", help="Fault to inject (repeatable): reset-noop, rtr-einval, handshake-drop, "
                      "handshake-delay:MS, handshake-garble, kill-at:STEP (the process dies at STEP).")
JSON_FILE = typer.Option(None, "--json", help="Write the results file here.")
JSON_PRINT = typer.Option(False, "--json", help="Print JSON instead of a table.")
JUNIT = typer.Option(None, "--junit", help="Also write JUnit XML here.")
TONE = typer.Option(None, "--tone", help="Also write T-one test_results.json files into this directory.")
PLAIN = typer.Option(False, "--plain", help="Plain progress lines even on a terminal.")
LAB = typer.Option(False, "--lab", help="Run inside one boot of the Soft-RDMA lab.")
LAB_TIMEOUT = typer.Option(1800.0, "--lab-timeout", help="With --lab: seconds before the guest is killed.")
LOG_DIR = typer.Option(None, "--log-dir", help="Keep the roles' logs here (default: a temp dir).")
STRATEGY = typer.Option(Strategy.AUTO, "--strategy", help="How the survivor re-establishes: reset | recreate | auto "
                        "(recreate on iWARP/eRDMA, reset elsewhere).")
MODE = typer.Option(Mode.AUTO, "--mode", help="oob (QP info over TCP, states set by hand) | cm (rdma_cm) | auto (cm on "
                    "iWARP).")


def json_results(default: str) -> Any:
    """--json with a default results file (matrix, run)."""
    return typer.Option(Path(default), "--json", help="Results file (rewritten after every cell).")


# --- values -----------------------------------------------------------------------------------
def size(value: str, option: str) -> int:
    from rdmacheck.units import parse_size  # noqa: PLC0415

    try:
        return parse_size(value)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint=option) from None


def csv(value: Optional[str]) -> Optional[list[str]]:
    return [x.strip() for x in value.split(",") if x.strip()] if value else None


def faults(inject: Optional[list[str]], runner_faults: bool, role: Any = None) -> Faults:
    """Checked faults; link-down is the local runner's (it takes a netdev down), not a role's; with
    a role, a fault only the other role acts on is refused."""
    try:
        checked = Faults.parse(inject or [])
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--inject") from None
    why = next((w for f in checked if role is not None and (w := f.refused_for(str(role)))), None)
    if why:
        raise typer.BadParameter(why, param_hint="--inject")
    if not runner_faults and checked.has("link-down"):
        raise typer.BadParameter("link-down applies to `reestablish --local` (the runner takes the link down)",
                                 param_hint="--inject")
    return checked


# --- "given?" and refusals --------------------------------------------------------------------
def given(name: str) -> bool:
    """Whether the user set this parameter (on the command line or through its environment variable)."""
    src = get_current_context().get_parameter_source(name)
    return src in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def flag_of(name: str) -> str:
    ctx = get_current_context()
    for p in ctx.command.params:
        if p.name == name:
            return max(p.opts, key=len)
    return "--" + name.replace("_", "-")


def refuse_given(names: Iterable[str], why: str) -> None:
    """A usage error for the first of `names` the user gave: it does not apply (`why` says to what)."""
    for name in names:
        if given(name):
            raise typer.BadParameter(f"does not apply {why}", param_hint=flag_of(name))


# --- groups -----------------------------------------------------------------------------------
def group(target: str, params: list[inspect.Parameter], build: Callable[..., Any]):
    """Append `params` to the decorated command's signature; call it with target=build(**those)."""
    def deco(fn):
        sig = inspect.signature(fn, eval_str=True)

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            kwargs[target] = build(**{p.name: kwargs.pop(p.name) for p in params})
            return fn(*args, **kwargs)

        kept = [p for p in sig.parameters.values() if p.name != target]
        wrapper.__signature__ = sig.replace(parameters=kept + params)
        wrapper.__annotations__ = {p.name: p.annotation for p in kept + params}
        return wrapper
    return deco


def opt(name: str, annotation: Any, option: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=annotation)


ETCD_PARAMS = [
    opt("metadata", str, typer.Option("p2p", "--metadata", help="p2p (the handshake address is given directly) or "
                                       "etcd://HOST:PORT[,HOST:PORT...].")),
    opt("etcd_prefix", str, typer.Option("rdmacheck/", "--etcd-prefix", help="etcd: key prefix.")),
    opt("cluster", str, typer.Option("default", "--cluster", help="etcd: keys are <prefix><cluster>/<name>.")),
    opt("lease_ttl", int, typer.Option(3, "--lease-ttl", help="etcd: seconds a dead process's key outlives it.")),
    opt("etcd_timeout", float, typer.Option(2.0, "--etcd-timeout", help="etcd: deadline of every call.")),
    opt("etcd_user", Optional[str], typer.Option(None, "--etcd-user", help="etcd: user name.")),
    opt("etcd_password", Optional[str], typer.Option(None, "--etcd-password", envvar="RDMACHECK_ETCD_PASSWORD",
                                                      help="etcd: password.")),
    opt("etcd_ca", Optional[str], typer.Option(None, "--etcd-ca", help="etcd TLS: CA certificate file.")),
    opt("etcd_cert", Optional[str], typer.Option(None, "--etcd-cert", help="etcd TLS: client certificate file.")),
    opt("etcd_key", Optional[str], typer.Option(None, "--etcd-key", help="etcd TLS: client key file.")),
]
ETCD_ONLY = tuple(p.name for p in ETCD_PARAMS[1:])


def _etcd(metadata, etcd_prefix, cluster, lease_ttl, etcd_timeout, etcd_user, etcd_password, etcd_ca, etcd_cert,
          etcd_key, p2p: bool = True):
    from rdmacheck.metadata.etcd import EtcdConfig, parse_metadata_url  # noqa: PLC0415

    endpoints = parse_metadata_url(metadata, p2p)
    if endpoints is None:
        # The password may come from the environment of a p2p run: only a typed option is refused.
        refuse_given([n for n in ETCD_ONLY if n != "etcd_password"], "without --metadata etcd://HOST:PORT")
        if get_current_context().get_parameter_source("etcd_password") is ParameterSource.COMMANDLINE:
            raise typer.BadParameter("does not apply without --metadata etcd://HOST:PORT",
                                     param_hint="--etcd-password")
        return None
    if lease_ttl < 1:
        raise typer.BadParameter("must be at least 1 second", param_hint="--lease-ttl")
    if etcd_timeout <= 0:
        raise typer.BadParameter("must be more than 0 seconds", param_hint="--etcd-timeout")
    for path, option in ((etcd_ca, "--etcd-ca"), (etcd_cert, "--etcd-cert"), (etcd_key, "--etcd-key")):
        if path:
            read_text_input(Path(path), option)  # a TLS file that cannot be read: one line, now
    if bool(etcd_cert) != bool(etcd_key):
        raise typer.BadParameter("a client certificate needs its key: give --etcd-cert and --etcd-key together",
                                 param_hint="--etcd-cert")
    return EtcdConfig(endpoints=endpoints, prefix=etcd_prefix, cluster=cluster, ttl=lease_ttl, timeout=etcd_timeout,
                      user=etcd_user, password=etcd_password, ca_cert=etcd_ca, cert_cert=etcd_cert, cert_key=etcd_key)


etcd_options = group("etcd", ETCD_PARAMS, _etcd)
"""Adds --metadata and the --etcd-* options; the command gets `etcd: EtcdConfig | None`."""


def _etcd_client(**kw):
    return _etcd(lease_ttl=3, p2p=False, **kw)  # a reader holds no lease


etcd_client_options = group("etcd", [ETCD_PARAMS[0].replace(default=typer.Option(
    ..., "--metadata", help="etcd://HOST:PORT[,HOST:PORT...]"))] + [p for p in ETCD_PARAMS[1:] if p.name != "lease_ttl"],
    _etcd_client)
"""The etcd options of a command that only reads (no lease); the command gets `etcd: EtcdConfig`."""

def _etcd_required(**kw):
    return _etcd(p2p=False, **kw)


FLEET_CLUSTER = ETCD_PARAMS[2].replace(default=typer.Option(
    "fleet", "--cluster", help="The run's name: keys are <prefix><cluster>/fleet/...; agents and coordinator of one "
                               "run give the same."))
etcd_required_options = group("etcd", [ETCD_PARAMS[0].replace(default=typer.Option(
    ..., "--metadata", help="etcd://HOST:PORT[,HOST:PORT...] (every agent and the coordinator use the same).")),
    ETCD_PARAMS[1], FLEET_CLUSTER, *ETCD_PARAMS[3:]], _etcd_required)
"""The etcd options of a fleet command (etcd required, leases held); the command gets `etcd: EtcdConfig`."""

EMBEDDED = "embedded"
AUTH_AND_TLS = ("etcd_user", "etcd_password", "etcd_ca", "etcd_cert", "etcd_key")


def _etcd_or_embedded(**kw):
    """EtcdConfig; for an embedded etcd one with no endpoints yet (the command starts it: it serves without
    users or TLS, so those options are refused; --metadata etcd://... is an operator's etcd, with them)."""
    if kw["metadata"] != EMBEDDED:
        return _etcd_required(**kw)
    for name in AUTH_AND_TLS:
        if get_current_context().get_parameter_source(name) is ParameterSource.COMMANDLINE:
            raise typer.BadParameter("does not apply to the embedded etcd (it serves without users or TLS): give "
                                     "--metadata etcd://HOST:PORT of an etcd of yours", param_hint=flag_of(name))
    if kw["lease_ttl"] < 1:
        raise typer.BadParameter("must be at least 1 second", param_hint="--lease-ttl")
    if kw["etcd_timeout"] <= 0:
        raise typer.BadParameter("must be more than 0 seconds", param_hint="--etcd-timeout")
    from rdmacheck.metadata.etcd import EtcdConfig  # noqa: PLC0415

    return EtcdConfig(endpoints=[], prefix=kw["etcd_prefix"], cluster=kw["cluster"], ttl=kw["lease_ttl"],
                      timeout=kw["etcd_timeout"])


etcd_or_embedded_options = group("etcd", [ETCD_PARAMS[0].replace(default=typer.Option(
    EMBEDDED, "--metadata", help="embedded: start an etcd here for the run (on --etcd-listen) and stop it at the "
                                 "end | etcd://HOST:PORT[,HOST:PORT...]: an etcd of yours.")),
    ETCD_PARAMS[1], FLEET_CLUSTER, *ETCD_PARAMS[3:]], _etcd_or_embedded)
"""`fleet run`'s etcd options: the command gets `etcd: EtcdConfig` (no endpoints: an embedded etcd to start)."""

TUNING_PARAMS = [
    opt("qp_timeout", int, typer.Option(14, "--qp-timeout", help="QP local ACK timeout exponent (4.096 us * 2^N).")),
    opt("retry_cnt", int, typer.Option(6, "--retry-cnt", help="QP retry count (7 = forever on rxe: avoid).")),
    opt("mtu", Optional[int], typer.Option(None, "--mtu", help="Path MTU cap in bytes (default: min of both ports).")),
]


def _tuning(qp_timeout: int, retry_cnt: int, mtu: Optional[int]):
    from rdmacheck.verbs.rc import QPTuning  # noqa: PLC0415

    if not 0 <= retry_cnt <= 7:
        raise typer.BadParameter("must be 0..7", param_hint="--retry-cnt")
    if not 0 <= qp_timeout <= 31:
        raise typer.BadParameter("must be 0..31", param_hint="--qp-timeout")
    if retry_cnt == 7:
        err.print("warning: --retry-cnt 7 means 'retry forever' on rxe: a dead peer is never detected")
    if mtu is not None and mtu not in (256, 512, 1024, 2048, 4096):
        raise typer.BadParameter("must be 256, 512, 1024, 2048 or 4096", param_hint="--mtu")
    return QPTuning(timeout=qp_timeout, retry_cnt=retry_cnt, mtu=mtu)


tuning_options = group("tuning", TUNING_PARAMS, _tuning)
"""Adds --qp-timeout, --retry-cnt, --mtu; the command gets `tuning: QPTuning`."""

TOKEN_PARAMS = [
    opt("token_text", Optional[str], typer.Option(None, "--token", help="Shared secret (>= 16 chars) authenticating "
                                                   "every handshake; or $RDMACHECK_TOKEN.")),
    opt("token_file", Optional[Path], typer.Option(None, "--token-file", help="Read the shared secret from this file.")),
]


def _token(token_text: Optional[str], token_file: Optional[Path]):
    from rdmacheck.handshake.auth import load_token  # noqa: PLC0415

    return load_token(token_text, token_file)


token_options = group("token", TOKEN_PARAMS, _token)
"""Adds --token and --token-file; the command gets `token: bytes | None`."""


def check_mode_options(mode: str, devices: Iterable[Optional[str]], tuning: Any = None) -> None:
    """Options of one connection mode are refused in the other, never accepted and ignored: with
    rdma_cm the GID is the one of the address it binds (--gid-index cannot apply) and iWARP has no
    path MTU (TCP carries the data: --mtu caps it on IB/RoCE only); out of band there is no rdma_cm
    address or port. `auto` is resolved as the roles will resolve it (cm on iWARP)."""
    from rdmacheck.verbs.devices import is_iwarp_device  # noqa: PLC0415

    iwarp = any(is_iwarp_device(d) for d in devices if d)
    cm = mode == Mode.CM or (mode == Mode.AUTO and iwarp)
    if not cm:
        refuse_given(("cm_addr", "cm_port"), "out of band (--mode oob, or auto on IB/RoCE): there is no rdma_cm")
        return
    if given("gid_index"):
        raise typer.BadParameter("does not apply with rdma_cm (--mode cm, or auto on iWARP): rdma_cm uses the GID "
                                 "of the address it binds (choose it with --cm-addr)", param_hint="--gid-index")
    if iwarp and tuning is not None and tuning.mtu is not None:
        raise typer.BadParameter("iWARP has no path MTU (TCP carries the data); it applies to IB/RoCE devices",
                                 param_hint="--mtu")


# --- the environment --------------------------------------------------------------------------
def require_devices(*names: Optional[str]) -> None:
    """Exit 2 before anything starts when this host has no RDMA, or not these devices."""
    from rdmacheck.verbs.compat import SYSFS_IB  # noqa: PLC0415

    hint = "no RDMA hardware? run it in the Soft-RDMA lab: `rdmacheck lab run -- rdmacheck ...`"
    present = sorted(p.name for p in SYSFS_IB.iterdir()) if SYSFS_IB.is_dir() else []
    if not present:
        raise EnvironmentProblem(f"no RDMA device on this host ({SYSFS_IB} is empty or missing)", hint=hint)
    for name in names:
        if name and name not in present:
            raise EnvironmentProblem(f"no RDMA device named {name!r}; devices here: {', '.join(present)}",
                                     hint="`rdmacheck devices` lists them")
