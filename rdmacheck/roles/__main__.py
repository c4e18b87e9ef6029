"""python -m rdmacheck.roles CONFIG_JSON: one role without the CLI stack, for the local runner's
child processes (importing typer and rich costs about a second per process in the lab guest)."""

import sys

from rdmacheck.roles.run import main

sys.exit(main(sys.argv[1:]))
