"""Start a role process from its RoleConfig: a fork of this process or of a fork server where it can be,
a fresh interpreter otherwise; its secrets (the handshake token, etcd's password) in its own environment,
never on its command line. The local runner (a CellSpec's roles) and the fleet's pair tests (a pair's
settings) both start roles here."""

from __future__ import annotations

import os
from pathlib import Path

from rdmacheck.roles.config import PASSWORD_ENV, TOKEN_ENV, RoleConfig
from rdmacheck.roles.forked import fork_blocker
from rdmacheck.roles.forkserver import ForkServer
from rdmacheck.roles.process import RoleProcess

SPAWNS = ("fork", "exec")


def spawn_policy() -> str:
    """fork: role processes are forks of the runner (pyverbs imported once); exec: each a fresh interpreter
    (RDMACHECK_SPAWN). Every role is exec'd while the runner must not fork (forked.fork_blocker)."""
    return os.environ.get("RDMACHECK_SPAWN", "fork")


def role_env(cfg: RoleConfig) -> dict[str, str]:
    """The secrets a role process gets in its own environment (never on its command line)."""
    return secrets_env(cfg.token, cfg.metadata)


def secrets_env(token: bytes | None, metadata) -> dict[str, str]:
    """The peer token and the etcd password, as a role process's environment carries them."""
    env = {}
    if token:
        env[TOKEN_ENV] = token.decode()
    if metadata and metadata.password:
        env[PASSWORD_ENV] = metadata.password
    return env


def spawn_role(cfg: RoleConfig, log_path: Path, spawn: str = "fork", netns: str | None = None,
               die_with_parent: bool = False, forkserver: ForkServer | None = None) -> tuple[RoleProcess, str | None]:
    """The role process (forked where it can be: by `forkserver`, or from this process); and why it was
    not forked, if not."""
    server = forkserver if spawn == "fork" else None  # RDMACHECK_SPAWN=exec: fresh interpreters
    blocker = fork_blocker() if spawn == "fork" and server is None else None
    proc = RoleProcess(cfg.role, [cfg.to_json()], log_path, env=role_env(cfg), netns=netns, module="rdmacheck.roles",
                       fork=spawn == "fork" and server is None and blocker is None,
                       die_with_parent=die_with_parent, forkserver=server)
    return proc, blocker
