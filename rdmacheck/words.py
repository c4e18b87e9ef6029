"""The vocabulary, once: strategies, connection modes, restart sides, roles, verdicts - the values
typer offers and checks, scenario files accept, results carry and renderers show - and the one
place `auto` becomes a concrete strategy or mode for a device."""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol


class DeviceInfo(Protocol):
    """What `auto` is resolved from (verbs.devices.DeviceInfo has it)."""
    provider: str

    @property
    def is_iwarp(self) -> bool: ...


class Strategy(StrEnum):
    RESET = "reset"  # modify the surviving QP to RESET and back to RTS (same QP number)
    RECREATE = "recreate"  # destroy it and create a new one
    AUTO = "auto"  # recreate on iWARP / eRDMA-like providers, reset elsewhere


class Mode(StrEnum):
    OOB = "oob"  # QP numbers, GIDs and PSNs exchanged over TCP (or etcd), states set by hand
    CM = "cm"  # librdmacm
    AUTO = "auto"  # cm on iWARP, oob elsewhere


class Restart(StrEnum):
    INITIATOR = "initiator"
    TARGET = "target"


class Role(StrEnum):
    TARGET = "target"
    INITIATOR = "initiator"


class Verdict(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    SKIP = "SKIP"


# Providers whose reset-and-reuse is known not to carry data (iWARP: siw, eRDMA; and their kin).
RECREATE_PROVIDERS = ("siw", "erdma", "irdma", "cxgb4")


def values(kind: type[StrEnum]) -> tuple[str, ...]:
    return tuple(m.value for m in kind)


def parse(kind: type[StrEnum], value: str, what: str) -> StrEnum:
    """A member from its spelling, or a ValueError that lists the spellings."""
    try:
        return kind(value)
    except ValueError:
        raise ValueError(f"{what}: {value!r} is not one of {', '.join(values(kind))}") from None


def oob_on_iwarp_reason(device: str) -> str:
    return (f"oob mode needs an IB/RoCE device; {device} is iWARP (node type RNIC), whose QPs reach RTS only "
            f"through rdma_cm: use --mode cm")


def resolve_mode(mode: str, dev: DeviceInfo) -> Mode:
    """auto: rdma_cm on iWARP (it cannot reach RTS by hand), out-of-band elsewhere."""
    m = Mode(mode)
    if m is Mode.AUTO:
        return Mode.CM if dev.is_iwarp else Mode.OOB
    return m


def resolve_strategy(strategy: str, dev: DeviceInfo) -> Strategy:
    s = Strategy(strategy)
    if s is not Strategy.AUTO:
        return s
    return Strategy.RECREATE if dev.is_iwarp or dev.provider in RECREATE_PROVIDERS else Strategy.RESET
