"""The typer app and the process entry point: exit codes, one-line errors, no tracebacks."""

from __future__ import annotations

import importlib
import os
import sys

import typer

from rdmacheck import __version__, interrupts
from rdmacheck.errors import EXIT_INTERNAL, RdmacheckError
from rdmacheck.output.console import err

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Prove RDMA RC connections come up, carry correct data, and come back after a peer restarts.")


# The module that registers each top-level command. A process imports only its command's module:
# eight fleet agents starting at once on two emulated CPUs spent seconds importing every other command.
MODULES = ("bench", "devices", "doctor", "engines", "fleet", "lab", "matrix", "metadata", "mooncake", "reestablish",
           "simopen", "soak")  # all of them, in the order of the help
MODULE_OF = {**{m: m for m in MODULES}, "run": "matrix", "report": "matrix"}


def load_commands(argv: list[str] | None = None) -> None:
    """Register the command `argv` names (its first word that is not an option), or every command
    (help, --version, a word that is not a command: the usage error lists them all)."""
    first = next((a for a in argv if not a.startswith("-")), None) if argv is not None else None
    for m in (MODULE_OF[first],) if first in MODULE_OF else MODULES:
        importlib.import_module(f"rdmacheck.cli.{m}")
    # The help's order is MODULES' whichever module a process happened to import first.
    rank = {m: i for i, m in enumerate(MODULES)}
    app.registered_commands.sort(key=lambda c: rank[c.callback.__module__.rsplit(".", 1)[1]])
    app.registered_groups.sort(key=lambda g: rank[g.typer_instance.registered_commands[0].callback.__module__
                                                 .rsplit(".", 1)[1]])


def every_command() -> typer.Typer:
    """The app with every command registered (the docs, the tests)."""
    load_commands()
    return app


def version_cb(value: bool) -> None:
    if value:
        print(f"rdmacheck {__version__}")
        raise typer.Exit()


@app.callback()
def root(version: bool = typer.Option(False, "--version", callback=version_cb, is_eager=True,
                                      help="Print the version and exit.")) -> None:
    """rdmacheck."""


def _save_traceback() -> str:
    import tempfile  # noqa: PLC0415
    import traceback  # noqa: PLC0415

    fd, path = tempfile.mkstemp(prefix="rdmacheck-internal-error-", suffix=".txt")
    with os.fdopen(fd, "w") as f:
        f.write(f"rdmacheck {__version__}: {' '.join(sys.argv)}\n")
        traceback.print_exc(file=f)
    return path


def _command_of(ctx) -> str:
    """`rdmacheck fleet run`, however the process was started (python -m rdmacheck: the same words)."""
    names = []
    while ctx is not None and ctx.parent is not None:
        names.insert(0, ctx.info_name)
        ctx = ctx.parent
    return " ".join(["rdmacheck", *names])


def main() -> None:
    load_commands(sys.argv[1:])
    interrupts.install()
    try:
        rc = app(standalone_mode=False)
    except RdmacheckError as e:
        err.print(f"rdmacheck: error: {e}", highlight=False, markup=False, soft_wrap=True)
        if e.hint:
            err.print(f"hint: {e.hint}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(e.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except (typer.Abort, KeyboardInterrupt):
        err.print("rdmacheck: interrupted")
        sys.exit(130)
    except Exception as e:
        # Usage errors come from the click that typer ships (vendored in newer typer): duck-type them. One
        # line, the shape of every other error (click's own is three: usage, a hint, the error).
        if hasattr(e, "show") and isinstance(getattr(e, "exit_code", None), int):
            if not hasattr(e, "format_message"):
                e.show()
                sys.exit(e.exit_code)
            where = f" (see {_command_of(getattr(e, 'ctx', None))} --help)"
            if e.format_message():  # empty: the help was the answer (a group called with nothing)
                err.print(f"rdmacheck: error: {e.format_message()}{where}", highlight=False, markup=False,
                          soft_wrap=True)
            sys.exit(e.exit_code)
        # A bug: one line here, the traceback in a file for the report (results already written stay).
        path = _save_traceback()
        err.print(f"rdmacheck: internal error: {type(e).__name__}: {e}", highlight=False, markup=False, soft_wrap=True)
        err.print(f"hint: the traceback is in {path}; please attach it to a bug report", highlight=False,
                  markup=False, soft_wrap=True)
        sys.exit(EXIT_INTERNAL)
    sys.exit(rc if isinstance(rc, int) else 0)
