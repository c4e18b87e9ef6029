from pathlib import Path

import pytest

from tests.conftest import rdmacheck


def test_version():
    r = rdmacheck("--version")
    assert r.returncode == 0 and r.stdout.startswith("rdmacheck ")


@pytest.mark.skipif(Path("/sys/class/infiniband").exists(), reason="this host has RDMA support")
def test_devices_without_rdma_is_one_clear_line_and_exit_2():
    r = rdmacheck("devices")
    assert r.returncode == 2
    assert "no /sys/class/infiniband: this kernel has no RDMA support" in r.stderr
    assert "rdmacheck lab run -- rdmacheck devices" in r.stderr
    assert "Traceback" not in r.stderr


def test_unknown_command_is_usage_error():
    r = rdmacheck("frobnicate")
    assert r.returncode == 2 and "No such command" in r.stderr


def test_lab_run_without_command_is_usage_error():
    r = rdmacheck("lab", "run")
    assert r.returncode == 2 and "Traceback" not in r.stderr


def test_an_internal_error_is_one_line_plus_where_the_traceback_went(monkeypatch, capsys):
    import sys

    import rdmacheck.verbs.devices
    from rdmacheck.cli import main

    def broken(*a, **k):
        raise ZeroDivisionError("a bug")
    monkeypatch.setattr(rdmacheck.verbs.devices, "list_devices", broken)
    monkeypatch.setattr(sys, "argv", ["rdmacheck", "devices"])
    with pytest.raises(SystemExit) as e:
        main()
    assert e.value.code == 70
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0] == "rdmacheck: internal error: ZeroDivisionError: a bug"
    path = lines[1].split("the traceback is in ")[1].split(";")[0]
    text = Path(path).read_text()
    assert "Traceback" in text and "ZeroDivisionError: a bug" in text and "rdmacheck devices" in text
    Path(path).unlink()


@pytest.mark.skipif(Path("/sys/class/infiniband").exists(), reason="this host has RDMA support")
def test_a_cell_on_a_host_without_rdma_is_an_environment_error_not_a_failed_test():
    """Usage, then the environment, then the test: no role is started, exit 2 with the lab hint."""
    r = rdmacheck("reestablish", "--local", "-d", "rxe0", "--rounds", "1")
    assert r.returncode == 2, r.stdout + r.stderr
    assert "no RDMA device on this host" in r.stderr and "Soft-RDMA lab" in r.stderr
    assert "FAIL" not in r.stdout and "Traceback" not in r.stderr
    bad = rdmacheck("reestablish", "--local", "-d", "rxe0", "--peer", "127.0.0.1:1")
    assert bad.returncode == 2 and "No such option" in bad.stderr  # usage is checked before the environment


def test_local_options_override_a_scenarios_settings(monkeypatch):
    import typer

    from rdmacheck.cli import reestablish as cli

    got = []
    monkeypatch.setattr("rdmacheck.scenario.runner.run_cell", lambda spec, **k: got.append(spec) or _stop())
    monkeypatch.setattr("rdmacheck.cli.options.require_devices", lambda *n: None)
    with pytest.raises(_Stop):
        typer.main.get_command(cli.local_app).main(["-d", "rxe0", "--scenario", "seed", "--rounds", "1"],
                                                   standalone_mode=False)
    spec = got[0]
    assert (spec.scenario, spec.rounds, spec.length, spec.restart_delay) == ("seed", 1, 256 << 20, 2.0)


class _Stop(BaseException):
    pass


def _stop():
    raise _Stop()


def test_a_command_loads_only_its_own_module_and_every_command_is_mapped_to_its_module():
    import subprocess
    import sys

    from rdmacheck.cli.app import MODULE_OF, every_command

    app = every_command()

    registered = {c.name or c.callback.__name__.replace("_", "-"): c.callback.__module__ for c in app.registered_commands}
    registered |= {g.name: g.typer_instance.registered_commands[0].callback.__module__ for g in app.registered_groups}
    assert {name: module.rsplit(".", 1)[1] for name, module in registered.items()} == MODULE_OF
    code = ("import sys; from rdmacheck.cli.app import load_commands; load_commands(sys.argv[1:]); "
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('rdmacheck.cli.'))))")
    loaded = subprocess.run([sys.executable, "-c", code, "fleet", "agent", "--help"], capture_output=True,
                            text=True, check=True).stdout.split()
    assert "rdmacheck.cli.fleet" in loaded and not {"rdmacheck.cli.bench", "rdmacheck.cli.matrix"} & set(loaded)
    every = subprocess.run([sys.executable, "-c", code, "--help"], capture_output=True, text=True, check=True).stdout
    assert all(f"rdmacheck.cli.{m}" in every.split() for m in set(MODULE_OF.values()))
    out = rdmacheck("fleet", "agent", "--help")
    assert out.returncode == 0 and "Register this host" in out.stdout


def test_a_fleet_agent_imports_no_rich_and_says_its_lines_as_plain_text():
    """rich costs each process ~0.2 s of emulated CPU in the lab, where eight agents start on two vCPUs:
    an agent's path (its command, the agent, its fork server's preload, the pair test) never imports it,
    and its lines reach its log as they are (no markup taken from a host name or an error)."""
    import subprocess
    import sys

    code = ("import sys; from rdmacheck.cli.app import load_commands; load_commands(['fleet', 'agent']); "
            "import rdmacheck.fleet.agent, rdmacheck.fleet.pairtest, rdmacheck.roles.forked as f; f.preload(); "
            "from rdmacheck.cli.fleet import say_plain; say_plain('agent [bold]h1[/bold]: registered'); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'rich'))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert r.stdout.strip() == "[]", r.stdout
    assert r.stderr == "agent [bold]h1[/bold]: registered\n", r.stderr
    errs = rdmacheck("fleet", "agent", "-d", "nosuch0", "--metadata", "etcd://127.0.0.1:9")
    assert errs.returncode == 2 and errs.stderr.startswith("rdmacheck: error:"), errs.stderr  # rich, when it speaks


def test_a_device_the_lab_does_not_have_is_refused_before_the_vm_boots():
    r = rdmacheck("matrix", "--lab", "--devices", "nosuchdev", timeout=60)
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "rdmacheck: error: Invalid value for --devices: no device 'nosuchdev' in the lab (it has rxe0, siw0, siw1, "
        "siw2) (see rdmacheck matrix --help)"], r.stderr
    assert "lab:" not in r.stdout + r.stderr  # nothing booted


def test_every_usage_error_is_one_line_in_the_shape_of_every_other_error():
    for args in (("matrix", "--bogus"), ("nosuch",), ("fleet", "run", "--restarts", "x"), ("report",)):
        r = rdmacheck(*args, timeout=60)
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("rdmacheck: error: "), (args, r.stderr)


def test_the_lab_devices_are_the_ones_the_guest_makes():
    from rdmacheck.lab.paths import LAB_DEVICES

    init = (Path(__file__).resolve().parents[2] / "rdmacheck/lab/guest/guest-init").read_text()
    assert all(f"rdma link add {d} " in init for d in LAB_DEVICES)


def test_every_commands_help_at_80_columns_shows_every_option_name_whole():
    import os
    import subprocess
    import sys

    import typer

    from rdmacheck.cli.app import every_command

    def commands(cmd, path):
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                yield from commands(sub, [*path, name])
        else:
            yield path, cmd

    for path, cmd in commands(typer.main.get_command(every_command()), []):
        r = subprocess.run([sys.executable, "-m", "rdmacheck", *path, "--help"], capture_output=True, text=True,
                           timeout=60, env={**os.environ, "COLUMNS": "80"})
        names = [max(p.opts, key=len) for p in cmd.params if getattr(p, "opts", None) and p.opts[0].startswith("-")]
        assert r.returncode == 0 and all(n in r.stdout for n in names), (path, [n for n in names if n not in r.stdout])
        assert max(len(x) for x in r.stdout.splitlines()) <= 80, path
