"""The engines rdmacheck can judge, by kind: how each installs, what is installed, how its side starts.

An adapter is one entry here plus its side module (the process that speaks engines/driver.py's lines):
Mooncake (classic; engines/mooncake.py, engines/mooncake_side.py) and NIXL (engines/nixl.py, nixl_side.py).
A spec names one release of one kind: `mooncake==0.3.13.post1`, `nixl==1.5.1` (a bare release is Mooncake's,
as `mooncake matrix` always took them), or the path of a Python with Mooncake importable (an own build).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rdmacheck.engines import dlslime, evidence, mooncake, nixl
from rdmacheck.engines.engine import Engine, check_release
from rdmacheck.errors import BadInput


@dataclass(frozen=True)
class Adapter:
    kind: str
    distribution: str
    default_releases: tuple[str, ...]
    iwarp: bool  # runs on iWARP devices (siw, eRDMA)
    install: Callable[..., Engine]
    installed: Callable[[], list[Engine]]
    engine_for: Callable[[str], Engine]
    side_args: Callable[..., list[str]]
    side_env: Callable[[float], dict[str, str]]
    peer_ops: tuple[str, ...]  # driver ops beyond write/read/verify (engines/driver.PEER_OPS)
    evidence: Callable[[list[Path], int], list[str]]  # the lines of its logs worth quoting beside a verdict
    not_on_rdma: Callable[[list[Path], str], str | None]  # why its logs do not show RDMA on the device (None: they do)


def _mooncake_args(host: str, device: str, length: int, name: str | None, metadata: str) -> list[str]:
    args = ["--host", host, "--device", device, "--length", str(length), "--metadata", metadata]
    return args + ["--name", name] if name and metadata != "P2PHANDSHAKE" else args


def _named_args(host: str, device: str, length: int, name: str | None, metadata: str) -> list[str]:
    """A side that is known by its name and learns its peer from metadata (NIXL's agent, DLSlime's endpoint)."""
    if not name:
        raise ValueError("a NIXL agent or a DLSlime side needs a name")
    return ["--name", name, "--device", device, "--length", str(length)]


ADAPTERS: dict[str, Adapter] = {
    "mooncake": Adapter("mooncake", mooncake.DISTRIBUTION, mooncake.DEFAULT_RELEASES, True, mooncake.install,
                        mooncake.installed, mooncake.engine_for, _mooncake_args,
                        lambda t: {"MC_TRANSFER_TIMEOUT": str(max(1, round(t)))}, ("add_peer",),
                        evidence.mooncake_evidence, evidence.mooncake_not_on_rdma),
    "nixl": Adapter("nixl", nixl.DISTRIBUTION, nixl.DEFAULT_RELEASES, nixl.IWARP, nixl.install, nixl.installed,
                    nixl.engine_for, _named_args, lambda t: {"RDMACHECK_NIXL_TRANSFER_TIMEOUT": f"{t:g}"},
                    ("add_peer", "remove_peer", "post", "settle", "prep", "write_prepped"), evidence.nixl_evidence,
                    evidence.nixl_not_on_rdma),
    "dlslime": Adapter("dlslime", dlslime.DISTRIBUTION, dlslime.DEFAULT_RELEASES, dlslime.IWARP, dlslime.install,
                       dlslime.installed, dlslime.engine_for, _named_args,
                       lambda t: {"RDMACHECK_DLSLIME_TRANSFER_TIMEOUT": f"{t:g}"}, ("add_peer", "remove_peer"),
                       evidence.dlslime_evidence, evidence.dlslime_not_on_rdma),
}


def parse(spec: str) -> tuple[str, str]:
    """`kind==release` (a bare release: Mooncake's) -> (kind, release); an unknown kind is bad input."""
    kind, sep, release = spec.strip().partition("==")
    if not sep:
        kind, release = "mooncake", spec.strip()
        if not release[:1].isdigit():  # neither KIND==RELEASE nor a release number: a misspelt engine
            raise BadInput(f"unknown engine {spec!r}: give KIND==RELEASE (engines: {', '.join(ADAPTERS)}; e.g. "
                           f"{default_specs()[-1]}) or a bare Mooncake release")
    if kind not in ADAPTERS:
        raise BadInput(f"unknown engine {kind!r} in {spec!r} (engines: {', '.join(ADAPTERS)})")
    if not release:
        raise BadInput(f"{spec!r} names no release (e.g. {kind}=={ADAPTERS[kind].default_releases[-1]})")
    check_release(kind, release, ADAPTERS[kind].default_releases[-1])  # before minutes of installing
    return kind, release


def engine_for(spec: str) -> Engine:
    """An installed release (`nixl==1.5.1`, `0.3.13.post1`) or a path to a Python with Mooncake."""
    if "/" in spec and "==" not in spec:
        return mooncake.engine_for(spec)
    kind, release = parse(spec)
    return ADAPTERS[kind].engine_for(release)


def adapter(engine: Engine) -> Adapter:
    return ADAPTERS[engine.kind]


def installed() -> list[Engine]:
    return [e for a in ADAPTERS.values() for e in a.installed()]


def install(spec: str, say=print) -> Engine:
    kind, release = parse(spec)
    return ADAPTERS[kind].install(release, say=say)


def default_specs() -> list[str]:
    """What set-up installs: every adapter's default releases."""
    return [f"{a.kind}=={r}" for a in ADAPTERS.values() for r in a.default_releases]


def describe(engine: Engine) -> dict:
    a = adapter(engine)
    return {"engine": engine.kind, "release": engine.release, "python": str(engine.python),
            "distribution": a.distribution, "iwarp": a.iwarp, "dir": str(Path(engine.python).parents[1])}
