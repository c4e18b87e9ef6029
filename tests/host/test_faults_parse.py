"""Fault specs given to --inject: what is accepted, and the one-line reason for what is not."""
import pytest

from rdmacheck.faults import Fault, Faults


@pytest.mark.parametrize("spec", ["reset-noop", "rtr-einval", "handshake-drop", "handshake-delay:250",
                                  "handshake-garble", "kill-at:mid-write", "kill-at:during-reestablish",
                                  "link-down:3", "link-down:0.5"])
def test_known_faults_are_accepted(spec):
    assert str(Fault.parse(spec)) == spec


@pytest.mark.parametrize("spec, why", [("link-down", "seconds"), ("link-down:0", "seconds"),
                                       ("link-down:abc", "seconds"), ("link-down:601", "seconds"),
                                       ("kill-at:nowhere", "needs a step"), ("handshake-delay:x", "milliseconds"),
                                       ("bogus", "unknown fault"), ("reset-noop:1", "takes no argument")])
def test_bad_faults_say_why(spec, why):
    with pytest.raises(ValueError, match=why):
        Fault.parse(spec)


def test_each_kind_goes_where_it_belongs():
    inject = Faults.parse(["reset-noop", "kill-at:after-rtr", "link-down:2.5", "handshake-drop", "handshake-delay:40"])
    assert inject.verbs == {"reset-noop"}
    assert inject.kill_step == "after-rtr"
    assert inject.link_down_s == 2.5
    assert Faults.parse(["reset-noop"]).link_down_s is None
    assert [str(f) for f in inject.handshake] == ["handshake-drop", "handshake-delay:40"]
    assert inject.handshake[1].delay_ms == 40
    assert inject.without("kill-at").specs() == ["reset-noop", "link-down:2.5", "handshake-drop", "handshake-delay:40"]


def test_a_fault_only_the_other_role_acts_on_is_refused_for_a_role():
    assert "initiator's fault" in Fault.parse("handshake-drop").refused_for("target")
    assert "initiator's fault" in Fault.parse("kill-at:mid-write").refused_for("target")
    assert "target's fault" in Fault.parse("cm-event-error").refused_for("initiator")
    assert Fault.parse("kill-at:after-rtr").refused_for("target") is None


def test_cli_rejects_a_bad_link_down_in_one_line():
    from tests.conftest import rdmacheck

    r = rdmacheck("reestablish", "--local", "-d", "rxe0", "--inject", "link-down:never", timeout=60)
    assert r.returncode == 2 and "link-down needs seconds" in r.stdout + r.stderr


def test_role_config_survives_the_trip_to_a_child_process(monkeypatch):
    from rdmacheck.metadata.etcd import EtcdConfig
    from rdmacheck.roles.config import RoleConfig
    from rdmacheck.verbs.rc import QPTuning

    monkeypatch.setenv("RDMACHECK_TOKEN", "s" * 20)
    cfg = RoleConfig(role="initiator", device="rxe0", name="i", peer=("10.0.0.1", 18515), tuning=QPTuning(mtu=1024),
                     metadata=EtcdConfig(endpoints=[("127.0.0.1", 2379)], ttl=2), inject=Faults.parse(["link-down:1", "handshake-delay:5"]),
                     hold_probe=True, token=b"s" * 20)
    text = cfg.to_json()
    assert "ssss" not in text  # the token stays in the environment, never on a command line
    assert RoleConfig.from_json(text) == cfg


def test_a_role_process_without_the_cli_reports_a_bad_device_as_an_event():
    import json
    import subprocess
    import sys

    from rdmacheck.roles.config import RoleConfig

    cfg = RoleConfig(role="target", device="nosuch0", name="t", listen=("127.0.0.1", 0))
    r = subprocess.run([sys.executable, "-m", "rdmacheck.roles", cfg.to_json()], capture_output=True, text=True,
                       timeout=60)
    ev = json.loads(r.stdout.splitlines()[-1])
    assert r.returncode == 2 and ev["event"] == "error" and ev["fatal"], r.stdout + r.stderr
    bad = subprocess.run([sys.executable, "-m", "rdmacheck.roles", "{not json"], capture_output=True, text=True,
                         timeout=60)
    assert bad.returncode == 2 and "bad role configuration" in bad.stderr
