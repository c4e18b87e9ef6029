"""The command line: a thin typer app (parse, check, call one function, render). One module per
command or sub-app; options that mean the same in several commands live in options.py; finish.py
writes a result's files and exits by it. A process loads only the module of the command it runs:
app.load_commands() (no argument) registers them all."""

from rdmacheck.cli.app import main

__all__ = ["main"]
