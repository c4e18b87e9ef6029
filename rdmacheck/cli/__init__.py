"""The command line: a thin typer app (parse, check, call one function, render). One module per
command or sub-app; options that mean the same in several commands live in options.py; finish.py
writes a result's files and exits by it."""

from rdmacheck.cli import (  # noqa: F401
    bench,
    devices,
    doctor,
    engines,
    fleet,
    lab,
    matrix,
    metadata,
    mooncake,
    reestablish,
    simopen,
    soak,
)
from rdmacheck.cli.app import app, main

__all__ = ["app", "main"]
