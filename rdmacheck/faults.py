"""Injected faults, parsed once: `Fault.parse("kill-at:after-rtr")` where a spec is given (the CLI's --inject,
a scenario file's `inject`), a `Faults` collection carried from there (CellSpec, RoleConfig) and asked what
it holds (`.kill_step`, `.link_down_s`, `.verbs`, ...) by the runner and the roles. A spec string exists
only at the edges: on a command line, in a scenario file, on a role's command line (`specs()`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

VERBS_FAULTS = ("reset-noop", "rtr-einval")
HANDSHAKE_FAULTS = ("handshake-drop", "handshake-delay", "handshake-garble")
CM_FAULTS = ("cm-event-error",)  # the target's next rdma_get_cm_event fails (its event loop must not die quietly)
RUNNER_FAULTS = ("kill-at", "link-down")  # acted on by the runner (kill-at also by the role that dies)
# kill-at:STEP - the role SIGKILLs itself when it reaches STEP (mid-write: the initiator only).
KILL_STEPS = ("before-handshake", "after-handshake-sent", "after-rtr", "after-rts", "mid-write", "after-write",
              "during-reestablish")
INITIATOR_STEPS = ("mid-write",)  # only the initiator writes
KNOWN = (f"{', '.join(VERBS_FAULTS)}, handshake-drop, handshake-delay:MS, handshake-garble, cm-event-error, "
         "kill-at:STEP, link-down:SECONDS")


@dataclass(frozen=True)
class Fault:
    name: str
    arg: str = ""

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """One spec, checked; a ValueError says what is wrong in one line."""
        name, _, arg = spec.partition(":")
        if name not in VERBS_FAULTS + HANDSHAKE_FAULTS + CM_FAULTS + RUNNER_FAULTS:
            raise ValueError(f"unknown fault {spec!r}; known: {KNOWN}")
        if name == "link-down":
            try:
                ok = 0 < float(arg) <= 600
            except ValueError:
                ok = False
            if not ok:
                raise ValueError("link-down needs seconds in (0, 600]: link-down:SECONDS")
        if name == "handshake-delay" and not arg.isdigit():
            raise ValueError("handshake-delay needs milliseconds: handshake-delay:MS")
        if name == "kill-at" and arg not in KILL_STEPS:
            raise ValueError(f"kill-at needs a step: kill-at:{{{','.join(KILL_STEPS)}}}")
        if arg and name not in ("link-down", "handshake-delay", "kill-at"):
            raise ValueError(f"{name} takes no argument (got {spec!r})")
        return cls(name, arg)

    def __str__(self) -> str:
        return f"{self.name}:{self.arg}" if self.arg else self.name

    @property
    def is_handshake(self) -> bool:
        return self.name in HANDSHAKE_FAULTS

    @property
    def delay_ms(self) -> int:
        """handshake-delay:MS's milliseconds."""
        return int(self.arg) if self.name == "handshake-delay" else 0

    def refused_for(self, role: str) -> str | None:
        """Why a role never acts on this fault (else it would be accepted and ignored), or None: the
        initiator sends the handshake and is the only one mid-write; the target runs the rdma_cm loop."""
        if role == "target" and (self.is_handshake or (self.name == "kill-at" and self.arg in INITIATOR_STEPS)):
            return (f"{self} is the initiator's fault (the initiator sends the handshake and writes): "
                    "give it to --role initiator")
        if role == "initiator" and self.name in CM_FAULTS:
            return f"{self} is the target's fault (the target runs the rdma_cm event loop): give it to --role target"
        return None


@dataclass(frozen=True)
class Faults:
    """The faults of a cell or a role, in the order given."""
    items: tuple[Fault, ...] = ()

    @classmethod
    def parse(cls, specs: Iterable[str]) -> Faults:
        return cls(tuple(Fault.parse(s) for s in specs))

    @classmethod
    def of(cls, value: Faults | Iterable[str]) -> Faults:
        """Faults as given to a dataclass: kept when already parsed, parsed from spec strings otherwise."""
        return value if isinstance(value, Faults) else cls.parse(value)

    def specs(self) -> list[str]:
        """The spec strings, for a command line or a file."""
        return [str(f) for f in self.items]

    def __iter__(self):
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __add__(self, other: Faults) -> Faults:
        return Faults(self.items + Faults.of(other).items)

    def has(self, name: str) -> bool:
        return any(f.name == name for f in self.items)

    def without(self, name: str) -> Faults:
        return Faults(tuple(f for f in self.items if f.name != name))

    def _arg(self, name: str) -> str | None:
        return next((f.arg for f in self.items if f.name == name), None)

    @property
    def kill_step(self) -> str | None:
        """kill-at:STEP's step."""
        return self._arg("kill-at")

    @property
    def link_down_s(self) -> float | None:
        """link-down:SECONDS - the runner takes the device's netdev down that long (not a role fault)."""
        arg = self._arg("link-down")
        return None if arg is None else float(arg)

    @property
    def verbs(self) -> set[str]:
        """The faults the verbs layer acts on (reset-noop, rtr-einval), by name."""
        return {f.name for f in self.items if f.name in VERBS_FAULTS}

    @property
    def handshake(self) -> list[Fault]:
        return [f for f in self.items if f.is_handshake]
