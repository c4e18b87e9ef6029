"""A Ctrl-C swallowed where Python ignores exceptions (an at-fork hook, a finalizer) is raised again at the
next step: a lab run once saw SIGINT land in logging's at-fork hook and the matrix ran to the end, exit 0."""

import signal

import pytest

from rdmacheck import interrupts
from rdmacheck.scenario.matrix import _checked


@pytest.fixture
def handler():
    before = signal.getsignal(signal.SIGINT)
    interrupts.install()
    yield
    signal.signal(signal.SIGINT, before)
    interrupts._seen = False


def _swallowed_sigint() -> None:
    try:
        signal.raise_signal(signal.SIGINT)  # the handler runs before the next bytecode of this thread
        raise AssertionError("the SIGINT handler did not run")
    except KeyboardInterrupt:
        pass  # what "Exception ignored in: <at-fork hook>" amounts to


def test_a_swallowed_interrupt_is_raised_at_the_next_check(handler):
    interrupts.check()  # nothing pressed: nothing raised
    _swallowed_sigint()
    assert interrupts.seen()
    with pytest.raises(KeyboardInterrupt):
        interrupts.check()


def test_the_matrix_steps_raise_it_before_printing(handler):
    printed = []
    step = _checked(printed.append)
    step("starting target")
    _swallowed_sigint()
    with pytest.raises(KeyboardInterrupt):
        step("starting initiator")
    assert printed == ["starting target"]
