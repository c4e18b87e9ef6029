"""The lab VM itself: exit codes propagate, a guest that never reports times out with a distinct code.

Each test boots a VM (~10-15 s under TCG): keep this file small.
"""
import pytest

from rdmacheck.lab.paths import LabPaths
from tests.conftest import rdmacheck

pytestmark = pytest.mark.skipif(not LabPaths.from_env().is_built(), reason="lab not built: run `rdmacheck lab setup`")


def test_exit_status_and_output_of_the_guest_command_are_returned():
    r = rdmacheck("lab", "run", "--", "sh", "-c", "echo from-guest; false", timeout=300)
    assert r.returncode == 1, r.stderr
    assert "from-guest" in r.stdout
    assert "lab: booted in" in r.stderr


def test_guest_that_never_reports_times_out_with_124():
    r = rdmacheck("lab", "run", "--timeout", "20", "--", "sleep", "600", timeout=300)
    assert r.returncode == 124, r.stderr
    assert "timed out after 20 s" in r.stderr
