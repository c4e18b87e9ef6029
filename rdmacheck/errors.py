"""Error types and the documented exit codes shared by every command."""

from __future__ import annotations

# Exit codes (README.md, "Exit codes"): keep in one place so every command agrees.
EXIT_OK = 0
EXIT_FAIL = 1  # a check or test ran and failed
EXIT_ENV = 2  # usage or environment error: bad option, no RDMA support, lab not set up
EXIT_INTERNAL = 70  # a bug in rdmacheck (EX_SOFTWARE): the traceback goes to a file
EXIT_LAB_TIMEOUT = 124  # the lab guest did not finish within --timeout
EXIT_LAB_CRASH = 125  # the lab guest stopped without reporting an exit status


class RdmacheckError(Exception):
    """An error with a one-line message meant for the user, and the exit code it implies."""

    exit_code = EXIT_FAIL

    def __init__(self, message: str, hint: str | None = None, exit_code: int | None = None):
        super().__init__(message)
        self.hint = hint
        if exit_code is not None:
            self.exit_code = exit_code


class EnvironmentProblem(RdmacheckError):
    """The host cannot do what was asked (no RDMA, missing tool, lab not built)."""

    exit_code = EXIT_ENV


class BadInput(RdmacheckError):
    """A file, path or value the user gave cannot be used (missing, a directory, not text, malformed,
    unwritable): one line naming it, exit 2."""

    exit_code = EXIT_ENV


class DeadlineExceeded(RdmacheckError):
    """A bounded wait ran out; the message names what was waited for."""

    def __init__(self, waited_for: str, seconds: float):
        super().__init__(f"deadline of {seconds:.3g} s passed while waiting for {waited_for}")
        self.waited_for = waited_for
        self.seconds = seconds
