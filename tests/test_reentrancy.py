"""An exception belongs to the call that failed, whatever Python code runs between the native
call and its error report: a signal handler or a profile hook making failing calls of its own.

The hot paths (``add_numbers``, ``greet``, ``Greeter.greet``) report a failure through the
calling thread's status and take it in a second call; code running in between (here, on every
timer tick or every C call) fails too, with other classes and messages, and takes its own.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import pytest

import greeter

I32_MAX = 2**31 - 1


class Template:
    """The Greeter the failing calls use, open for one test at a time."""

    greeter = greeter.Greeter("Hi {name}!")
    greeter.close()

    @classmethod
    def greet(cls, name: str) -> str:
        return cls.greeter.greet(name)


@pytest.fixture(autouse=True)
def _template() -> Iterator[None]:
    with greeter.Greeter("Hi {name}!") as Template.greeter:
        yield


# Failing calls and the exact exception each must raise: class, then message.
FAILURES: list[tuple[Callable[[], object], type[Exception], str]] = [
    (
        lambda: greeter.add_numbers(I32_MAX, 1),
        greeter.GreeterOverflowError,
        "2147483647 + 1 overflows i32",
    ),
    (
        lambda: greeter.greet("m\0"),
        greeter.InteriorNulError,
        "name contains a NUL byte at offset 1",
    ),
    (
        lambda: Template.greet("ab\0"),
        greeter.InteriorNulError,
        "name contains a NUL byte at offset 2",
    ),
    (
        lambda: greeter.add_numbers(-I32_MAX - 1, -1),
        greeter.GreeterOverflowError,
        "-2147483648 + -1 overflows i32",
    ),
]


def wrong_report(index: int) -> str | None:
    """Makes failing call ``index`` (mod the table) and says how its exception was wrong."""
    call, cls, message = FAILURES[index % len(FAILURES)]
    try:
        call()
    except Exception as exc:  # any class is a finding here
        if type(exc) is not cls or str(exc) != message:
            return f"{cls.__name__}({message!r}) reported as {type(exc).__name__}({exc!r})"
        return None
    return f"{cls.__name__}({message!r}) not raised"


def test_the_failures_report_as_stated() -> None:
    assert [wrong_report(i) for i in range(len(FAILURES))] == [None] * len(FAILURES)


def run_for(seconds: float, wrong: list[str]) -> int:
    """Failing calls for ``seconds``, each a different one from the last; their count."""
    calls = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for i in range(len(FAILURES)):
            problem = wrong_report(i)
            if problem is not None:
                wrong.append(problem)
        calls += len(FAILURES)
    return calls


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs signal.setitimer")
def test_a_signal_handler_failing_inside_a_failing_call_takes_only_its_own_error() -> None:
    wrong: list[str] = []
    ticks = [0]

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        ticks[0] += 1
        problem = wrong_report(ticks[0] + 1)  # another failure than the one being made
        if problem is not None:
            wrong.append("handler: " + problem)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, 0.0001, 0.0001)
    try:
        calls = run_for(1.0, wrong)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        signal.signal(signal.SIGALRM, previous)
    assert ticks[0] > 100, "the timer never interrupted the calls"
    assert calls > 1000
    assert wrong[:5] == [], f"{len(wrong)} of {calls + ticks[0]} failures misreported"


def test_a_profile_hook_failing_inside_a_failing_call_takes_only_its_own_error() -> None:
    # The hook runs on every C call and return: between a hot-path export's return and the
    # take of its status too, and there it makes a failing call of its own.
    wrong: list[str] = []
    events = [0]

    def hook(frame: FrameType, event: str, arg: Any) -> None:
        if event in ("c_call", "c_return"):
            events[0] += 1
            problem = wrong_report(events[0] % 3 + 1)
            if problem is not None:
                wrong.append("hook: " + problem)

    sys.setprofile(hook)
    try:
        calls = run_for(0.5, wrong)
    finally:
        sys.setprofile(None)
    assert events[0] > calls
    assert wrong[:5] == [], f"{len(wrong)} of {calls + events[0]} failures misreported"
