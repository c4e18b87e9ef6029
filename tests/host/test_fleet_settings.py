"""`fleet run` checks its own pair settings and names before anything starts (exit 2 naming the option), and
every side's time for a pair comes from one formula in which no side gives up before another may."""
from __future__ import annotations

import pytest

from rdmacheck.fleet.protocol import PairSettings
from tests.conftest import rdmacheck


@pytest.mark.parametrize("args, option", [(("--restarts", "-1"), "--restarts"), (("--restarts", "0"), "--restarts"),
                                          (("--restarts", "500"), "--restarts"), (("--pair-timeout", "0"), "--pair-timeout"),
                                          (("--start-timeout", "-3"), "--start-timeout"),
                                          (("--join-timeout", "-1"), "--join-timeout"),
                                          (("--retest-rounds", "-1"), "--retest-rounds"),
                                          (("--hosts", "a/b,c"), "--hosts")])
def test_bad_pair_settings_and_names_are_refused_before_anything_starts(args, option):
    base = ["fleet", "run", "--metadata", "etcd://127.0.0.1:1"]
    r = rdmacheck(*base, *(() if "--hosts" in args else ("--hosts", "a,b")), *args, timeout=30)
    assert r.returncode == 2 and option in r.stdout + r.stderr, r.stdout + r.stderr
    assert "etcd" not in r.stderr, "refused before etcd was tried"


@pytest.mark.parametrize("restarts", range(1, 9))
def test_no_side_gives_up_while_another_may_still_be_within_its_time(restarts):
    s = PairSettings(restarts=restarts, start_timeout=7.0, round_timeout=11.0)
    b = s.budgets()
    worst_initiator = (restarts + 1) * (s.start_timeout + s.round_timeout)  # every start, every verified write
    assert b.initiator >= worst_initiator
    assert b.target >= s.start_timeout + b.initiator  # the target starts first, then serves all of it
    assert b.coordinator > b.target and s.serve_budget() == b.target


def test_a_metadata_address_where_nothing_listens_fails_at_once_not_after_the_join_wait():
    """Nothing listens at the address: one line, exit 2, without waiting out --join-timeout (600 s here)."""
    r = rdmacheck("fleet", "run", "--hosts", "a,b", "--metadata", "etcd://127.0.0.1:1", "--join-timeout", "600",
                  timeout=60)
    assert r.returncode == 2 and "nothing listens for etcd at 127.0.0.1:1" in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
