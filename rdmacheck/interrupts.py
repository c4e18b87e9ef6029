"""Ctrl-C that cannot be lost.

Python raises KeyboardInterrupt wherever the main thread happens to be; if that is inside a callback whose
exceptions the interpreter ignores (the at-fork hooks `os.fork()` runs, a finalizer), the interrupt is printed
as "Exception ignored" and the run goes on as if nothing had been pressed. The handler installed here records
the signal before raising, and the long loops call `check()` between steps, so an interrupt swallowed once is
raised again at the next step.
"""

from __future__ import annotations

import signal
import threading

_seen = False


def _on_sigint(signum: int, frame: object) -> None:
    global _seen
    _seen = True
    raise KeyboardInterrupt


def install() -> None:
    """Record every SIGINT of this process (main thread only; elsewhere nothing changes)."""
    global _seen
    _seen = False
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, _on_sigint)


def seen() -> bool:
    return _seen


def check() -> None:
    """Raise KeyboardInterrupt if a SIGINT arrived that nothing has acted on yet."""
    if _seen:
        raise KeyboardInterrupt
