"""Options that reach a config but would not be used there are refused, naming them (exit 2): the
connection mode's options, faults of the other role, token sources, --peer with etcd, --seed without
random:K; and what `fleet run --launch slurm` hands its agents carries every etcd setting."""
import pytest

from rdmacheck.fleet.launch import agent_etcd_args
from rdmacheck.metadata.etcd import EtcdConfig
from tests.conftest import rdmacheck

TOKEN = "a-shared-secret-of-20"


@pytest.mark.parametrize("args,flag", [
    (("reestablish", "--role", "target", "-d", "dev0", "--mode", "oob", "--cm-port", "5000"), "--cm-port"),
    (("reestablish", "--role", "initiator", "-d", "dev0", "--peer", "127.0.0.1:1", "--mode", "oob", "--cm-addr",
      "10.0.0.1"), "--cm-addr"),
    (("reestablish", "--local", "-d", "dev0", "--mode", "oob", "--cm-addr", "10.0.0.1"), "--cm-addr"),
    (("reestablish", "--local", "-d", "dev0", "--mode", "cm", "--gid-index", "1"), "--gid-index"),
    (("reestablish", "--role", "target", "-d", "dev0", "--inject", "handshake-drop"), "--inject"),
    (("reestablish", "--role", "target", "-d", "dev0", "--inject", "kill-at:mid-write"), "--inject"),
    (("reestablish", "--role", "initiator", "-d", "dev0", "--peer", "127.0.0.1:1", "--inject", "cm-event-error"),
     "--inject"),
    (("reestablish", "--role", "initiator", "-d", "dev0", "--peer", "127.0.0.1:1", "--metadata",
      "etcd://127.0.0.1:1"), "--peer"),
    (("reestablish", "--local", "-d", "dev0", "--token", TOKEN, "--token-file", "{token}"), "--token"),
    (("reestablish", "--local", "-d", "dev0", "--token", ""), "--token"),
    (("reestablish", "--local", "-d", "dev0", "--token-file", "{empty}"), "--token-file"),
    (("fleet", "run", "--metadata", "etcd://127.0.0.1:1", "--expect", "2", "--seed", "3"), "--seed"),
], ids=lambda v: " ".join(v) if isinstance(v, tuple) else v)
def test_an_option_that_would_not_be_used_is_refused(args, flag, tmp_path):
    (tmp_path / "token").write_text(TOKEN)
    (tmp_path / "empty").write_text("\n")
    args = [a.replace("{token}", str(tmp_path / "token")).replace("{empty}", str(tmp_path / "empty")) for a in args]
    r = rdmacheck(*args)
    assert r.returncode == 2, r.stdout + r.stderr
    assert flag in r.stderr and "Traceback" not in r.stderr and "internal error" not in r.stderr


def test_the_slurm_agents_get_every_etcd_setting_and_the_password_in_their_environment():
    cfg = EtcdConfig(endpoints=[("10.0.0.1", 2379)], prefix="p/", cluster="c", ttl=5, timeout=3.5, user="u",
                     password="secret", ca_cert="/ca.pem", cert_cert="/c.pem", cert_key="/k.pem")
    args, env = agent_etcd_args(cfg, 42.0)
    pairs = dict(zip(args[::2], args[1::2]))
    assert pairs == {"--metadata": "etcd://10.0.0.1:2379", "--cluster": "c", "--etcd-prefix": "p/",
                     "--lease-ttl": "5", "--etcd-timeout": "3.5", "--join-timeout": "42.0", "--etcd-user": "u",
                     "--etcd-ca": "/ca.pem", "--etcd-cert": "/c.pem", "--etcd-key": "/k.pem"}
    assert "secret" not in " ".join(args) and env == {"RDMACHECK_ETCD_PASSWORD": "secret"}


def test_the_slurm_agent_command_line_parses_as_an_agent_command():
    """What srun runs must be a valid `fleet agent` command line (every flag exists there)."""
    import typer

    from rdmacheck.cli.app import every_command

    agent = typer.main.get_command(every_command()).commands["fleet"].commands["agent"]
    names = {o for p in agent.params for o in getattr(p, "opts", [])}
    args, _ = agent_etcd_args(EtcdConfig(endpoints=[("h", 1)], user="u", ca_cert="/ca"), 1.0)
    assert {a for a in args if a.startswith("--")} <= names
