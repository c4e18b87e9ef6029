"""python -m rdmacheck.roles CONFIG_JSON: one role without the CLI stack, for the local runner's
child processes (importing typer and rich costs about a second per process in the lab guest)."""

import sys

from rdmacheck.errors import RdmacheckError
from rdmacheck.roles.config import RoleConfig
from rdmacheck.roles.run import run_role

try:
    cfg = RoleConfig.from_json(sys.argv[1])
except (IndexError, ValueError, TypeError, RdmacheckError) as e:
    sys.stderr.write(f"rdmacheck.roles: bad role configuration: {e}\n")
    sys.exit(2)
sys.exit(run_role(cfg))
