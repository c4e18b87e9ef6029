"""The command line: a thin typer app (parse, check, call one function, render). One module per
command or sub-app; options shared between commands live in options.py, each declared once."""

from rdmacheck.cli import (  # noqa: F401
    bench,
    devices,
    doctor,
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
