"""Fault specs given to --inject: what is accepted, and the one-line reason for what is not."""
import pytest

from rdmacheck.roles.config import check_fault, kill_step, link_down_seconds, verbs_faults


@pytest.mark.parametrize("spec", ["reset-noop", "rtr-einval", "handshake-drop", "handshake-delay:250",
                                  "handshake-garble", "kill-at:mid-write", "kill-at:during-reestablish",
                                  "link-down:3", "link-down:0.5"])
def test_known_faults_are_accepted(spec):
    assert check_fault(spec) == spec


@pytest.mark.parametrize("spec, why", [("link-down", "seconds"), ("link-down:0", "seconds"),
                                       ("link-down:abc", "seconds"), ("link-down:601", "seconds"),
                                       ("kill-at:nowhere", "needs a step"), ("handshake-delay:x", "milliseconds"),
                                       ("bogus", "unknown fault")])
def test_bad_faults_say_why(spec, why):
    with pytest.raises(ValueError, match=why):
        check_fault(spec)


def test_each_kind_goes_where_it_belongs():
    inject = ["reset-noop", "kill-at:after-rtr", "link-down:2.5", "handshake-drop"]
    assert verbs_faults(inject) == {"reset-noop"}
    assert kill_step(inject) == "after-rtr"
    assert link_down_seconds(inject) == 2.5
    assert link_down_seconds(["reset-noop"]) is None


def test_cli_rejects_a_bad_link_down_in_one_line():
    from tests.conftest import rdmacheck

    r = rdmacheck("reestablish", "--local", "-d", "rxe0", "--inject", "link-down:never", timeout=60)
    assert r.returncode == 2 and "link-down needs seconds" in r.stdout + r.stderr
