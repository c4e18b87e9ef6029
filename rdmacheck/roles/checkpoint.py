"""kill-at:STEP: a role SIGKILLs itself at a named protocol step, so every step's death is testable."""

from __future__ import annotations

import os
import signal
from typing import Callable

from rdmacheck.faults import Faults
from rdmacheck.roles.events import EventLog


def checkpoint_for(inject: Faults, ev: EventLog) -> Callable[[str], None]:
    """A function to call at each named step; it kills this process at the armed one."""
    armed = inject.kill_step

    def reached(step: str) -> None:
        if step == armed:
            ev.emit("fault_injected", fault=f"kill-at:{step}")  # written and flushed before the kill
            os.kill(os.getpid(), signal.SIGKILL)
    return reached
