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
    assert {d["kind"] for d in docs} >= {"Job"}
    for doc in docs:
        kv.validate(doc, "1.30", strict=True)  # raises on a field the schema does not know or a wrong type


def test_a_broken_manifest_is_caught(tmp_path):
    kv = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate (the test extra) is not installed")
    import yaml

    job = next(d for d in yaml.safe_load_all(K8S[0].read_text()) if d and d["kind"] == "Job")
    job["spec"]["completions"] = "eight"
    with pytest.raises(kv.ValidationError):
        kv.validate(job, "1.30", strict=True)


def test_the_sbatch_script_is_valid_bash_and_asks_one_task_per_node():
    path = ROOT / "ci" / "slurm" / "rdmacheck-fleet.sbatch"
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0
    text = path.read_text()
    assert "#SBATCH --ntasks-per-node=1" in text and "fleet run --launch slurm" in text
