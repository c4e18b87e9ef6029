"""A role process started with die_with_parent goes when its parent is SIGKILLed (a fleet agent
killed mid-run must not leave target or initiator processes behind, holding ports and memory)."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from tests.procs import alive

PARENT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from rdmacheck.roles.process import RoleProcess
    p = RoleProcess("child", ["-c", "import time; time.sleep(60)"], Path(sys.argv[1]), module="timeit",
                    die_with_parent=sys.argv[2] == "1")
    deadline = time.monotonic() + 20  # until setpriv has set the signal and exec'd python
    def started():  # python itself, not setpriv (nor the fork before its exec) any more
        argv = Path(f"/proc/{p.pid}/cmdline").read_bytes().split(b"\\x00")
        return argv[0].endswith((b"python", b"python3", b"python3.11")) and b"timeit" in argv
    while not started() and time.monotonic() < deadline:
        time.sleep(0.01)
    print(p.pid, flush=True)
    time.sleep(60)
""")


@pytest.mark.parametrize("die", [True, False])
def test_the_child_dies_with_its_parent_only_when_asked(tmp_path, die):
    parent = subprocess.Popen([sys.executable, "-c", PARENT, str(tmp_path / "log"), "1" if die else "0"],
                              stdout=subprocess.PIPE, text=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                                  os.path.abspath(__file__)))))
    child = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait(5)
    deadline = time.monotonic() + 3
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        assert alive(child) is (not die)
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)
