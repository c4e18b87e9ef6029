"""The shipped launchers parse: the Kubernetes manifests against the Kubernetes schema, offline
(kubernetes-validate carries the schemas), and the sbatch script as bash with its #SBATCH lines."""
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
K8S = sorted((ROOT / "ci" / "k8s").glob("*.yaml"))


@pytest.mark.parametrize("path", K8S, ids=lambda p: p.name)
def test_kubernetes_manifests_validate_against_the_schema(path):
    kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate (the test extra) is not installed")
    import yaml

    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    assert {d["kind"] for d in docs} & {"Job", "DaemonSet", "Deployment"}
    for doc in docs:
        kv.validate(doc, "1.30", strict=True)  # raises on a field the schema does not know or a wrong type


def test_a_broken_manifest_is_caught(tmp_path):
    kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate (the test extra) is not installed")
    import yaml

    job = next(d for d in yaml.safe_load_all((ROOT / "ci" / "k8s" / "rdmacheck-fleet.yaml").read_text())
               if d and d["kind"] == "Job")
    job["spec"]["completions"] = "eight"
    with pytest.raises(kv.ValidationError):
        kv.validate(job, "1.30", strict=True)


def test_the_sbatch_script_is_valid_bash_and_asks_one_task_per_node():
    path = ROOT / "ci" / "slurm" / "rdmacheck-fleet.sbatch"
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0
    text = path.read_text()
    assert "#SBATCH --ntasks-per-node=1" in text and "fleet run --launch slurm" in text


def _rdmacheck_lines() -> list[tuple[str, list[str]]]:
    """Every rdmacheck command line the launchers ship: the manifests' command arrays, the units' ExecStart."""
    import shlex

    import yaml

    out = []
    for path in K8S:
        for doc in yaml.safe_load_all(path.read_text()):
            for c in (doc or {}).get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
                if c.get("command", [""])[0] == "rdmacheck":
                    out.append((path.name, c["command"][1:]))
    for path in sorted((ROOT / "ci" / "systemd").glob("*.service")):
        for line in path.read_text().splitlines():
            if line.startswith("ExecStart="):
                argv = shlex.split(line.split("=", 1)[1])
                assert argv[0].endswith("/rdmacheck"), line
                out.append((path.name, argv[1:]))
    return out


@pytest.mark.parametrize("where,argv", _rdmacheck_lines(), ids=lambda x: x if isinstance(x, str) else " ".join(x[:2]))
def test_every_shipped_command_line_parses_with_this_rdmacheck(where, argv):
    """Each option the launchers give exists and takes its value (variables stand for a device or a name)."""
    import re

    import typer

    from rdmacheck.cli.app import app, load_commands

    argv = [re.sub(r"\$[({]([A-Z_]+)[)}]", lambda m: {"RDMACHECK_ETCD": "etcd://e:2379"}.get(m.group(1), "x1"), a)
            for a in argv]
    load_commands(argv)
    cmd = typer.main.get_command(app)
    context = cmd.context_class  # typer's click (vendored by newer typer): its own Context
    ctx = context(cmd, info_name="rdmacheck")
    rest = list(argv)
    while hasattr(cmd, "get_command"):  # a group
        assert rest, f"{where}: {' '.join(argv)} names a group, not a command"
        sub = cmd.get_command(ctx, rest[0])
        assert sub is not None, f"{where}: no command {rest[0]!r}"
        name, rest = rest[0], rest[1:]
        ctx = context(sub, info_name=name, parent=ctx) if hasattr(sub, "get_command") else \
            sub.make_context(name, rest, parent=ctx)  # the command's own options parsed: unknown ones raise
        cmd = sub
