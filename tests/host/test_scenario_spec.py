import pytest

from rdmacheck.scenario.spec import (
    ScenarioError,
    builtin_names,
    load_scenario,
    parse_scenario,
)

OK = """
[scenario]
name = "t"
[grid]
devices = ["rxe0"]
modes = ["oob", "cm"]
strategies = ["reset"]
restart = ["target"]
[run]
rounds = 4
length = "128KiB"
buffer_size = "1MiB"
restart_signal = "TERM"
restart_delay = 1.5
[timeouts]
io = 12
[[expect]]
provider = "siw"
strategy = "reset"
verdict = "FAIL"
findings = ["reuse-refused"]
reason = "iWARP"
"""


def test_valid_file_is_read():
    sc = parse_scenario(OK, "t.toml")
    assert (sc.name, sc.devices, sc.modes, sc.strategies, sc.restarts) == ("t", ["rxe0"], ["oob", "cm"], ["reset"], ["target"])
    b = sc.base
    assert (b.rounds, b.length, b.buffer_size, b.restart_signal, b.restart_delay, b.io_timeout) == \
        (4, 128 << 10, 1 << 20, "TERM", 1.5, 12.0)
    assert sc.expectations[0].value("provider") == "siw" and sc.expectations[0].verdict == "FAIL"


@pytest.mark.parametrize("text,message", [
    ("[scenario]\nname = \"x\"\n[grid]\nmodes = [\"rdma\"]", "t.toml: [grid] modes: expected a list of oob, cm, auto, got ['rdma']"),
    ("[scenario]\nname = \"x\"\n[run]\nrounds = 0", "[run] rounds: expected a positive number, got 0"),
    ("[scenario]\nname = \"x\"\n[run]\nrounds = \"3\"", "[run] rounds: expected a positive number, got '3'"),
    ("[scenario]\nname = \"x\"\n[run]\nlength = \"big\"", "[run] length: expected a size"),
    ("[scenario]\nname = \"x\"\n[run]\nlength = \"2MiB\"\nbuffer_size = \"1MiB\"", "at most buffer_size"),
    ("[scenario]\nname = \"x\"\n[run]\nrestart_signal = \"HUP\"", "restart_signal: expected one of KILL, TERM"),
    ("[scenario]\nname = \"x\"\n[run]\nround = 3", "[run] unknown key 'round'; known keys:"),
    ("[scenario]\nname = \"x\"\n[grids]\n", "unknown section [grids]"),
    ("[scenario]\nname = \"x\"\n[[expect]]\nverdict = \"FAIL\"", "matches every cell"),
    ("[scenario]\nname = \"x\"\n[[expect]]\nprovider = \"siw\"\nverdict = \"BROKEN\"", "verdict: expected one of PASS, FAIL, SKIP"),
    ("[scenario]\nname = \"x\"\n[grid]\ndevices = [\"a\", \"b\"]\ntarget_devices = [\"c\"]", "one target device per entry"),
    ("[scenario]\n", "[scenario] name: expected a name (required)"),
    ("[scenario\nname=1", "t.toml: not valid TOML"),
    ("[scenario]\nname = \"x\"\n[[expect]]\nprovider = \"siw\"\nverdict = \"FAIL\"", "the findings this FAIL accepts"),
    ("[scenario]\nname = \"x\"\n[[expect]]\nprovider = \"siw\"\nverdict = \"FAIL\"\nfindings = [\"it broke\"]",
     "findings: expected identifiers of findings"),
    ("[scenario]\nname = \"x\"\n[[expect]]\nprovider = \"siw\"\nverdict = \"PASS\"\nfindings = [\"deadline\"]",
     "only a FAIL rule names them"),
])
def test_errors_name_file_key_and_expectation(text, message):
    with pytest.raises(ScenarioError) as e:
        parse_scenario(text, "t.toml")
    assert message in str(e.value)
    assert str(e.value).startswith("t.toml")


def test_shipped_scenarios_all_load():
    names = builtin_names()
    assert {"default", "seed", "target-restart", "quick", "clean-exit"} <= set(names)
    seed = load_scenario("seed")
    assert seed.base.length == 256 << 20 and seed.restarts == ["initiator"] and seed.base.restart_delay == 2.0
    for n in names:
        assert load_scenario(f"scenarios/{n}.toml").name == n


def test_missing_file_lists_builtins():
    with pytest.raises(ScenarioError, match="no such scenario file .*built-in ones: clean-exit"):
        load_scenario("/nope/x.toml")


@pytest.mark.parametrize("name", builtin_names())
def test_a_scenario_written_as_toml_reads_back_equal(name):
    """`matrix --lab` hands the guest the resolved scenario as a file: nothing may change on the way."""
    from dataclasses import replace

    sc = load_scenario(name)
    sc = replace(sc, base=replace(sc.base, inject=("handshake-drop",), gid_index=1), target_devices=[])
    back = parse_scenario(sc.to_toml(), "x.toml")
    assert replace(back, source=sc.source) == sc


def test_scenario_cells_resolve_auto_once_per_device():
    from rdmacheck.verbs.devices import DeviceInfo, PortInfo

    def dev(name, provider, node):
        return DeviceInfo(name=name, provider=provider, node_type=node, transport="", node_guid="", fw_version="",
                          max_qp=1, max_mr_size=1, max_qp_rd_atom=1,
                          ports=[PortInfo(port=1, state="ACTIVE", phys_state="LINK_UP", link_layer="Ethernet",
                                          active_mtu=1024, max_mtu=4096, lid=0, speed="", netdev="n",
                                          netdev_ips=["10.0.0.1"])])
    sc = parse_scenario('[scenario]\nname = "a"\n[grid]\nmodes = ["auto"]\nstrategies = ["auto"]\n'
                        'restart = ["target"]\n', "a.toml")
    cells = sc.cells([dev("rxe0", "rxe", "CA"), dev("siw0", "siw", "RNIC")])
    assert [(c.device, c.provider, c.mode, c.strategy, c.restart, c.scenario) for c in cells] == [
        ("rxe0", "rxe", "oob", "reset", "target", "a"), ("siw0", "siw", "cm", "recreate", "target", "a")]
