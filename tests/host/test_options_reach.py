"""Every option of every command either changes what the command does or is refused with a usage
error naming it - never accepted and ignored.

For each command the function it hands its work to is replaced by a recorder (which returns a
canned result, so output options such as --json still run). Each option is then given a
non-default value: the recorded call, the files written or the printed output must differ from
the run without it, or the command must exit 2 naming the option. For `reestablish --local` the
value must be found in the RoleConfig of a role the runner would start (or the child's
environment), except the options that steer the runner itself, which must be found in its spec."""

from __future__ import annotations

from types import SimpleNamespace

import dataclasses
import enum
import io
import json
from pathlib import Path

import pytest
import typer

from rdmacheck.cli import reestablish as reestablish_cli
from rdmacheck.cli.app import every_command
from rdmacheck.errors import RdmacheckError
from rdmacheck.scenario.result import PASS, CellResult, RoundResult, RunResult
from rdmacheck.words import Role

# A valid non-default value for each option (by flag); {tmp} is a fresh path per run.
SAMPLES = {
    "--dead-peer-timeout": "77.5", "--inflight-rounds": "1", "--no-measure": None, "--slow-if": "mad:4.5", "--every": "97", "--runs": "3",
    "--history": "{tmp}/h.jsonl",
    "--device": "dev7", "-d": "dev7", "--target-device": "dev8", "--target-netns": "ns7", "--restart": "target",
    "--strategy": "recreate", "--mode": "cm", "--rounds": "7", "--gid-index": "5", "--ib-port": "2",
    "--listen": "127.0.0.9:4242", "--cm-port": "4343", "--cm-addr": "10.9.9.9", "--buffer-size": "9MiB",
    "--length": "3MiB", "--offset": "4096", "--initiator-name": "ini7", "--target-name": "tgt7",
    "--inject": "rtr-einval", "--start-timeout": "71.5", "--round-timeout": "72.5", "--reconnect-timeout": "73.5",
    "--io-timeout": "74.5", "--heartbeat": "0.75", "--hold-probe": None, "--json": "{tmp}/out.json",
    "--log-dir": "{tmp}/logs", "--metadata": "etcd://127.0.0.1:2391", "--etcd-prefix": "pfx7/",
    "--cluster": "c7", "--lease-ttl": "9", "--etcd-timeout": "3.25", "--etcd-user": "u7",
    "--etcd-password": "p7-secret", "--etcd-ca": "{tmp}/ca7.pem", "--etcd-cert": "{tmp}/cert7.pem", "--etcd-key": "{tmp}/key7.pem",
    "--qp-timeout": "17", "--retry-cnt": "4", "--mtu": "1024", "--token": "a-shared-secret-of-20",
    "--token-file": "{tmp}/token", "--role": None, "--name": "me7", "--peer": "127.0.0.8:4545",
    "--scenario": "quick", "--devices": "dev7", "--modes": "cm", "--strategies": "recreate",
    "--junit": "{tmp}/j.xml", "--tone": "{tmp}/tone", "--plain": None, "--quiet": None, "--lab": None,
    "--lab-timeout": "99", "--endpoints": "9", "--passive-policy": "delete", "--callers": "3",
    "--etcd-listen": "127.0.0.1:23790", "--concurrency": "5", "--connect-timeout": "31.5", "--iters": "77", "--size": "8KiB", "--depth": "4",
    "--verify": None, "--deep": None, "--host": "10.7.7.7", "--engine-role": "initiator",
    "--engine-transfer-timeout": "11", "--initiator-port": "17101", "--target-port": "17201", "--timeout": "61.5",
    "--cluster-id": "mc7", "--for": "0.01", "--force": None, "--no-siw": None, "--dir": "{tmp}/labdir",
    "--mem": "3G", "--smp": "3", "--accel": "kvm", "--cpu": "max", "--rw": "{tmp}", "--verbose": None, "-v": None,
    "--engine": "0.3.10", "--install": "0.3.11", "--answer-timeout": "6.5", "--trials": "9", "--threads": "3",
    "--hang-after": "4.5", "--engines": "0.3.10,0.3.12", "--scenarios": "race,simopen", "--race-trials": "8",
    "--race-threads": "2", "--etcd": "etcd://127.0.0.1:2392",
    "--address": "10.7.7.8", "--join-timeout": "12.5", "--hosts": "a7,b7,c7", "--expect": "7", "--pairing": "ring",
    "--seed": "7", "--restarts": "2", "--pair-timeout": "33.5", "--retest-rounds": "1", "--launch": "slurm",
    "--agent-device": "dev9", "--prom": "{tmp}/f.prom", "--html": "{tmp}/f.html",
}


class Recorder:
    """Stands in for a hand-off function: records its arguments, returns a canned result."""

    def __init__(self, result=None, raises: bool = False):
        self.calls: list = []
        self.result, self.raises = result, raises

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        if self.raises:
            raise Stop()
        return self.result(*args, **kwargs) if callable(self.result) else self.result


class Stop(BaseException):
    """Ends a command at its hand-off (for commands whose result feeds nothing optional)."""


def _cell(spec, *a, **k) -> CellResult:
    cell = CellResult.of(spec)
    cell.rounds_planned = 0
    cell.rounds.append(RoundResult(index=0, verdict=PASS, reconnect_ms=1.0))
    cell.conclude()
    return cell


def _run(scenarios, out, *a, **k) -> RunResult:
    cell = CellResult(device="rxe0", provider="rxe", mode="oob", strategy="reset", restart="initiator",
                      verdict=PASS, met=True, expected=PASS)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    Path(out).write_text("{}")
    return RunResult(command="matrix", cells=[cell], finished=True)


def _soak(spec, *a, **k):
    from rdmacheck.soak.result import SoakResult

    return SoakResult(cell=_cell(spec), verdict="PASS", reason="canned")


def _simopen(plan, *a, **k):
    from rdmacheck.simopen.result import SimopenResult

    return SimopenResult(device=plan.device, endpoints=plan.endpoints, rounds_planned=plan.rounds, policy=plan.policy,
                         callers=plan.callers)


def _forced(plan, *a, **k):
    from rdmacheck.mooncake.forced_open_result import ForcedOpenResult

    return ForcedOpenResult(plan.engine.release, plan.device, plan.endpoints, plan.rounds, plan.answer_timeout)


def _race(plan, *a, **k):
    from rdmacheck.engines.race_result import RaceResult

    return RaceResult(plan.engine.release, plan.device, plan.threads, plan.length, plan.hang_after, plan.trials)


def _engine_matrix(plan, *a, **k):
    from rdmacheck.enginematrix.result import EngineMatrixResult

    return EngineMatrixResult(plan.device, [e.release for e in plan.engines], list(plan.scenarios))


def _fake_engine(spec):
    from rdmacheck.engines.mooncake import Engine

    if spec and spec.startswith("nixl=="):
        return Engine(Path(f"/engines/{spec}/bin/python"), spec[6:], "nixl", "rdmacheck.engines.nixl_side")
    return Engine(Path(f"/engines/{spec}/bin/python"), spec or "default")


class _FakeFleetStore:
    @classmethod
    def connect(cls, cfg, wait, **kw):
        RECORDERS["store"](cfg, wait)
        return cls()

    def close(self):
        pass


class _FakeCoordinator:
    def __init__(self, plan, store, say=print, on_round=lambda result: None, on_run=lambda result, last: None):
        RECORDERS["coordinator"](plan)
        self.plan, self.on_run = plan, on_run

    def run(self):
        from rdmacheck.fleet.result import FleetResult

        res = FleetResult(run="r", pairing=str(self.plan.pairing))
        res.finished = True
        self.on_run(res, True)  # a service's history gets the run's line
        return res


class _FakeAgent:
    def __init__(self, cfg, say=print):
        RECORDERS["agent"](cfg)

    def run(self):
        return 0


def _bench(self, *a, **k):
    from rdmacheck.bench.result import BenchResult

    return BenchResult(device=self.plan.device)


def _mooncake(plan, *a, **k):
    from rdmacheck.mooncake.reestablish_result import MooncakeResult

    return MooncakeResult(plan=plan)


def _lab_outcome(argv, paths, opts, *a, **k):
    from types import SimpleNamespace

    for d in opts.rw:  # what the guest would have written into the shared directory
        if Path(d).name.startswith("rdmacheck-lab-"):
            (Path(d) / "results.json").write_text(json.dumps(_run([], Path(d) / "x").__dict__ | {
                "cells": [dataclasses.asdict(c) for c in _run([], Path(d) / "x").cells]}))
    return SimpleNamespace(exit_code=0, total_seconds=1.0, boot_seconds=0.5)


class FakeStore:
    def __init__(self, cfg):
        self.cfg = cfg

    def list(self):
        return []

    def get(self, name):
        return None

    def watch(self, *a, **k):
        return lambda: None


def _store(cfg):
    RECORDERS["store"].calls.append(((cfg,), {}))
    return FakeStore(cfg)


RECORDERS: dict[str, Recorder] = {}


@dataclasses.dataclass
class Case:
    path: tuple[str, ...]  # how the command is invoked
    base: tuple[str, ...]  # its required arguments
    handoffs: dict[str, Recorder]  # "module:attr" -> recorder
    exclusive: tuple[str, ...] = ()  # flags that need another base (checked in their own case)


def cases() -> list[Case]:
    run_cell = Recorder(_cell)
    return [
        Case(("reestablish", "--local"), ("-d", "dev0"), {"rdmacheck.scenario.runner:run_cell": run_cell}),
        Case(("reestablish",), ("--role", "target", "-d", "dev0"), {"rdmacheck.roles.run:run_role": Recorder(0)}),
        Case(("reestablish",), ("--role", "initiator", "-d", "dev0", "--peer", "127.0.0.1:1"),
             {"rdmacheck.roles.run:run_role": Recorder(0)}),
        Case(("mooncake", "role"), ("--role", "target", "-d", "dev0", "--listen", "127.0.0.1:5"),
             {"rdmacheck.mooncake.roles:run_mooncake_role": Recorder(0)}),
        Case(("mooncake", "role"), ("--role", "initiator", "-d", "dev0", "--listen", "127.0.0.1:5", "--peer",
                                    "127.0.0.1:6"), {"rdmacheck.mooncake.roles:run_mooncake_role": Recorder(0)}),
        Case(("matrix",), (), {"rdmacheck.scenario.matrix:run_matrix": Recorder(_run),
                               "rdmacheck.lab.vm:run_in_lab": Recorder(_lab_outcome)}),
        Case(("run",), ("quick",), {"rdmacheck.scenario.matrix:run_matrix": Recorder(_run),
                                    "rdmacheck.lab.vm:run_in_lab": Recorder(_lab_outcome)}),
        Case(("soak",), ("-d", "dev0"), {"rdmacheck.soak.run:run_soak": Recorder(_soak)}),
        Case(("simopen",), ("-d", "dev0"), {"rdmacheck.simopen.launch:run_simopen": Recorder(_simopen)}),
        Case(("simopen",), ("-d", "dev0", "--role", "peer", "--name", "a", "--peer", "127.0.0.1:1"),
             {"rdmacheck.simopen.peer:run_peer": Recorder(0)}),
        Case(("bench",), ("-d", "dev0"), {"rdmacheck.bench.run:Bench.run": Recorder(_bench)}),
        Case(("bench",), ("-d", "dev0", "--peer", "127.0.0.1:1"), {"rdmacheck.bench.run:Bench.run": Recorder(_bench)}),
        Case(("mooncake", "reestablish"), ("-d", "dev0", "--host", "10.0.0.1"),
             {"rdmacheck.mooncake.reestablish:run_mooncake": Recorder(_mooncake)}),
        Case(("mooncake", "simopen"), ("-d", "dev0"), {"rdmacheck.mooncake.forced_open:run_forced_open": Recorder(_forced)}),
        Case(("mooncake", "race"), ("-d", "dev0"), {"rdmacheck.engines.race:run_race": Recorder(_race)}),
        Case(("mooncake", "matrix"), ("-d", "dev0", "--scenarios", "etcd-restart"),
             {"rdmacheck.enginematrix.run:run_engine_matrix": Recorder(_engine_matrix)}),
        Case(("engines", "matrix"), ("-d", "dev0", "--scenarios", "etcd-restart"),
             {"rdmacheck.enginematrix.run:run_engine_matrix": Recorder(_engine_matrix)}),
        Case(("engines", "matrix"), ("-d", "dev0", "--engines", "nixl==1.5.1", "--scenarios", "dead-peer"),
             {"rdmacheck.enginematrix.run:run_engine_matrix": Recorder(_engine_matrix)}),
        Case(("engines", "install"), ("nixl==1.5.1",), {"rdmacheck.engines.catalog:install": Recorder(_fake_engine)}),
        Case(("mooncake", "engines"), (), {"rdmacheck.engines.mooncake:install": Recorder(_fake_engine)}),
        Case(("fleet", "run"), ("--metadata", "etcd://127.0.0.1:1", "--expect", "2"),
             {"rdmacheck.fleet.coordinator:Coordinator": _FakeCoordinator,
              "rdmacheck.fleet.store:FleetStore": _FakeFleetStore}),
        Case(("fleet", "run"), ("--metadata", "etcd://127.0.0.1:1", "--expect", "2", "--every", "60"),
             {"rdmacheck.fleet.coordinator:Coordinator": _FakeCoordinator,
              "rdmacheck.fleet.store:FleetStore": _FakeFleetStore}),
        Case(("fleet", "agent"), ("--metadata", "etcd://127.0.0.1:1", "-d", "dev0"),
             {"rdmacheck.fleet.agent:Agent": _FakeAgent}),
        Case(("mooncake", "segments"), ("--metadata", "etcd://127.0.0.1:1"),
             {"rdmacheck.mooncake.segments:list_segments": Recorder([])}),
        Case(("mooncake", "probe"), ("127.0.0.1:1",), {"rdmacheck.mooncake.probe:probe": Recorder(raises=True)}),
        Case(("metadata", "ls"), ("--metadata", "etcd://127.0.0.1:1"), {}),
        Case(("metadata", "get"), ("x", "--metadata", "etcd://127.0.0.1:1"), {}),
        Case(("metadata", "watch"), ("x", "--metadata", "etcd://127.0.0.1:1", "--for", "0.01"), {}),
        Case(("doctor",), (), {"rdmacheck.doctor.run:run_doctor": Recorder([])}),
        Case(("devices",), (), {"rdmacheck.verbs.devices:list_devices": Recorder([])}),
        Case(("report",), ("{results}",), {"rdmacheck.scenario.table:render_matrix": Recorder(None)}),
        Case(("lab", "setup"), (), {"rdmacheck.lab.build:LabBuilder.setup": Recorder("built")}),
        Case(("lab", "run"), ("--", "true"), {"rdmacheck.lab.vm:run_in_lab": Recorder(_lab_outcome)}),
        Case(("lab", "shell"), (), {"rdmacheck.lab.vm:shell_in_lab": Recorder(0)}),
        Case(("lab", "status"), (), {"rdmacheck.lab.status:lab_status": Recorder({"built": True})}),
    ]


def _command(path: tuple[str, ...]):
    if path == ("reestablish", "--local"):
        return typer.main.get_command(reestablish_cli.local_app)
    if path == ("reestablish",):
        return typer.main.get_command(reestablish_cli.role_app)
    cmd = typer.main.get_command(every_command())
    for name in path:
        cmd = cmd.commands[name]
    return cmd


def _patch(monkeypatch, case: Case) -> None:
    import importlib

    for target, rec in case.handoffs.items():
        mod, attr = target.split(":")
        owner = importlib.import_module(mod)
        *parents, leaf = attr.split(".")
        for p in parents:
            owner = getattr(owner, p)
        if attr == "Bench.run":
            monkeypatch.setattr(owner, leaf, lambda self, rec=rec: rec(self))
        else:
            monkeypatch.setattr(owner, leaf, rec)
    RECORDERS["store"] = Recorder()
    RECORDERS["coordinator"] = Recorder()
    RECORDERS["agent"] = Recorder()
    monkeypatch.setattr("rdmacheck.verbs.devices.device_ipv4", lambda d, option="--host": SimpleNamespace(
        name=d, provider="rxe", netdev_ipv4=lambda: "10.0.0.1"))
    monkeypatch.setattr("rdmacheck.cli.metadata._store", _store)
    monkeypatch.setattr("rdmacheck.cli.options.require_devices", lambda *names: None)
    monkeypatch.setattr("rdmacheck.verbs.devices.is_iwarp_device", lambda d: False)
    monkeypatch.setattr("rdmacheck.engines.catalog.engine_for", _fake_engine)
    monkeypatch.setattr("rdmacheck.engines.catalog.installed", lambda: [_fake_engine("0.3.13.post1")])
    monkeypatch.setattr("rdmacheck.cli.mooncake._engine", _fake_engine)
    monkeypatch.setattr("rdmacheck.engines.mooncake.engine_for", _fake_engine)
    monkeypatch.setattr("rdmacheck.engines.mooncake.installed", lambda: [_fake_engine("0.3.13.post1")])
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: object())
    monkeypatch.setattr("rdmacheck.scenario.spec.load_scenario", _scenario)


def _scenario(name):
    from rdmacheck.scenario.spec import Scenario

    return Scenario(name=str(name))


def _invoke(case: Case, extra: list[str], tmp: Path, monkeypatch, capsys) -> dict:
    """Run the command once; what it handed off, wrote and printed, or the usage error."""
    _patch(monkeypatch, case)
    monkeypatch.chdir(tmp)  # default output paths (results/matrix.json) land here
    (tmp / "token").write_text("token-from-a-file-0123")
    for pem in ("ca7.pem", "cert7.pem", "key7.pem"):
        (tmp / pem).write_text("-----BEGIN CERTIFICATE-----\n")
    results = tmp / "results.json"
    results.write_text(json.dumps({"schema_version": 1, "command": "x", "cells": []}))
    args = [a.replace("{results}", str(results)) for a in case.base] + extra
    if "--" in args:  # lab run: options before the command
        i = args.index("--")
        args = args[i + 2:] + args[:i + 2]
    before = {p for p in tmp.rglob("*")}
    outcome: dict = {"rc": 0, "usage": None}
    try:
        rc = _command(case.path).main(args=args, prog_name="rdmacheck", standalone_mode=False)
        outcome["rc"] = rc if isinstance(rc, int) else 0
    except typer.Exit as e:
        outcome["rc"] = e.exit_code
    except Stop:
        pass
    except RdmacheckError as e:  # a value refused with one line naming it (BadInput)
        if e.exit_code != 2:
            raise
        outcome["usage"] = str(e)
    except Exception as e:  # noqa: BLE001 - a usage error (click's, vendored by typer)
        if getattr(e, "exit_code", None) == 2 and hasattr(e, "format_message"):
            outcome["usage"] = e.format_message()
        else:
            raise
    outcome["calls"] = [_flat(r.calls) for r in [*case.handoffs.values(), *RECORDERS.values()]
                        if isinstance(r, Recorder)]
    outcome["files"] = sorted(str(p.relative_to(tmp)) for p in set(tmp.rglob("*")) - before)
    outcome["out"] = capsys.readouterr().out
    return outcome


def _flat(obj, seen=None) -> object:
    """A comparable picture of anything handed off: dataclasses, enums, paths, objects by their fields."""
    if isinstance(obj, enum.Enum):
        return obj.value
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _flat(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): _flat(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set)):
        return [_flat(v) for v in obj]
    if isinstance(obj, (str, int, float, bool, type(None), bytes)):
        return obj
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, io.IOBase):
        return "<stream>"
    return {"type": type(obj).__name__, **{k: _flat(v) for k, v in vars(obj).items() if not k.startswith("_")}} \
        if hasattr(obj, "__dict__") else repr(obj)


def _option_args(param, tmp: Path) -> list[str]:
    flag = max((o for o in param.opts if o.startswith("--")), key=len, default=param.opts[0])
    if flag not in SAMPLES:
        pytest.fail(f"no sample value for {flag}: add one to SAMPLES so the option is checked")
    sample = SAMPLES[flag]
    if flag == "--role":
        return []  # the base of each case gives it
    return [flag] if sample is None else [flag, sample.replace("{tmp}", str(tmp))]


def _options(case: Case):
    return [p for p in _command(case.path).params if p.param_type_name == "option" and p.opts != ["--help"]
            and p.name != "help"]


@pytest.mark.parametrize("case", cases(), ids=lambda c: " ".join(c.path) + " " + " ".join(c.base[:2]))
def test_every_option_reaches_the_work_or_is_refused(case, tmp_path, monkeypatch, capsys):
    base_dir = tmp_path / "base"
    base_dir.mkdir()
    baseline = _invoke(case, [], base_dir, monkeypatch, capsys)
    assert baseline["usage"] is None, f"the base invocation is refused: {baseline['usage']}"
    ignored = []
    for param in _options(case):
        args = _option_args(param, tmp_path / param.name)
        if not args or args[0] in case.base:
            continue  # the base gives it (a required option, or one that needs a value to end the run)
        d = tmp_path / param.name
        d.mkdir(exist_ok=True)
        got = _invoke(case, args, d, monkeypatch, capsys)
        if got["usage"] is not None:
            assert args[0] in got["usage"] or args[0].lstrip("-") in got["usage"], \
                f"{args[0]} was refused, but the message does not name it: {got['usage']}"
            continue
        changed = (got["calls"] != _rebase(baseline["calls"], base_dir, d) or got["files"] != baseline["files"]
                   or got["out"] != baseline["out"])
        if not changed:
            ignored.append(args[0])
    assert not ignored, f"{' '.join(case.path)}: accepted and ignored: {', '.join(ignored)}"


def _rebase(obj, old: Path, new: Path):
    return json.loads(json.dumps(obj, default=str).replace(str(old), str(new)))


# Options of `reestablish --local` that steer the runner rather than a role: found in the spec.
RUNNER_OPTIONS = {"scenario": "its settings","restart": "restart", "rounds": "rounds", "target_netns": "target_netns",
                  "start_timeout": "start_timeout", "round_timeout": "round_timeout", "log_dir": "log_dir",
                  "listen": "host and port"}  # the runner picks the address it gives both roles from --listen


def test_every_local_option_reaches_a_role_config(tmp_path, monkeypatch, capsys):
    """`reestablish --local`: each option's value is in the RoleConfig of the target or the initiator
    the runner would start, or in the child's environment (secrets), or - for the runner's own
    options - in its spec; --json is the results file written."""
    case = cases()[0]
    rec = case.handoffs["rdmacheck.scenario.runner:run_cell"]
    for param in _options(case):
        args = _option_args(param, tmp_path / param.name)
        d = tmp_path / param.name
        d.mkdir(exist_ok=True)
        rec.calls.clear()
        got = _invoke(case, [*args, *(("--target-device", "dev8") if param.name == "target_netns" else ())], d,
                      monkeypatch, capsys)
        if got["usage"] is not None:
            continue  # refused (the generic test checks the message names it)
        if param.name == "json_out":
            assert (d / "out.json").exists(), "--json: no results file written"
            continue
        spec = rec.calls[-1][0][0]
        roles = [spec.for_role(Role.TARGET, ("127.0.0.1", 1)), spec.for_role(Role.INITIATOR, ("127.0.0.1", 1))]
        haystack = json.dumps([_flat(r) for r in roles] + [spec.child_env()], default=str)
        if param.name in RUNNER_OPTIONS:
            haystack = json.dumps(_flat(spec), default=str)
        needle = _expected(args, d)
        assert needle in haystack, f"{args[0]} {args[1:] or ''}: {needle} not in what the roles are told"


def _expected(args: list[str], d: Path) -> str:
    """How an option's sample value looks in a role's config (JSON-ish)."""
    from rdmacheck.units import parse_size

    flag, value = args[0], (args[1] if len(args) > 1 else None)
    special = {"--listen": '4242', "--token-file": "token-from-a-file-0123", "--metadata": '2391',
               "--hold-probe": '"hold_probe": true', "--buffer-size": str(parse_size("9MiB")),
               "--length": str(parse_size("3MiB")), "--qp-timeout": '"timeout": 17', "--retry-cnt": '"retry_cnt": 4',
               "--inject": "rtr-einval", "--token": "a-shared-secret-of-20", "--etcd-password": "p7-secret"}
    if flag in special:
        return special[flag]
    return value.replace("{tmp}", str(d)) if value else flag


def test_the_old_mooncake_dialect_spelling_is_refused_with_the_new_one(capsys):
    root = every_command()

    cmd = typer.main.get_command(root)
    with pytest.raises(Exception) as e:
        cmd.main(args=["reestablish", "--role", "target", "--dialect", "mooncake", "-d", "x"], standalone_mode=False)
    assert getattr(e.value, "exit_code", None) == 2 and "rdmacheck mooncake role" in e.value.format_message()
