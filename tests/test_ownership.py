"""What Python owns that Rust handed out is freed exactly once, at close(), and never while a
call is using it, on both ways greeter frees it (greeter._core, "handles"): by dropping the last
reference (CPython) and by an explicit release counted against the calls in flight (PyPy).

The second way runs here on CPython too, in a subprocess that reports itself as PyPy before it
imports greeter: it is the same code a PyPy build runs.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import pytest

import greeter
from greeter import _core


def close_during_a_read() -> None:
    """A profile hook closes a RustString as each of its reads starts: the string is freed at
    once, since a read never uses Rust's memory (the text was copied when the string was
    made), and each read raises ValueError."""
    reads: list[Callable[[greeter.RustString], object]] = [
        lambda s: s.value,
        bytes,
        str,
        len,
    ]
    for read in reads:
        s = greeter.greeting("Ann")
        before = greeter.live_strings()
        seen: list[int] = []

        def hook(
            frame: FrameType,
            event: str,
            arg: Any,
            s: greeter.RustString = s,
            seen: list[int] = seen,
        ) -> None:
            reading = event == "call" and frame.f_code.co_filename.endswith("_strings.py")
            if reading and not s.closed:
                s.close()
                seen.append(greeter.live_strings())

        sys.setprofile(hook)
        try:
            with pytest.raises(ValueError, match="closed RustString"):
                read(s)
        finally:
            sys.setprofile(None)
        assert seen == [before - 1], "not freed at close()"


def close_during_a_method() -> None:
    """A Greeter closed while greet_many runs (its names are a generator, run by the call) is
    freed when the call returns, not before, and not later."""
    g = greeter.Greeter("Hi {name}")
    before = greeter.live_objects()
    seen: list[int] = []

    def names() -> Iterator[str]:
        yield "Ann"
        g.close()
        seen.append(greeter.live_objects())
        yield "Bo"

    assert g.greet_many(names()) == ["Hi Ann", "Hi Bo"]
    assert seen == [before]
    assert greeter.live_objects() == before - 1


def close_frees_at_once() -> None:
    """Without a collection: close() and leaving ``with`` free the string at once."""
    gc.disable()
    try:
        before = greeter.live_strings()
        s = greeter.greeting("Bo")
        s.close()
        assert greeter.live_strings() == before
        with greeter.greeting("Cy") as t:
            assert t.value == "Hello, Cy!"
        assert greeter.live_strings() == before
        g = greeter.Greeter("{name}")
        objects = greeter.live_objects()
        g.close()
        assert greeter.live_objects() == objects - 1
    finally:
        gc.enable()


def reads_racing_close(threads: int = 8, rounds: int = 300) -> None:
    """Threads read one string while another closes it: each read gets the whole string or
    ValueError, and the string is freed once."""
    before = greeter.live_strings()
    for _ in range(rounds):
        s = greeter.greeting("Dee")
        start = threading.Barrier(threads + 1)
        bad: list[object] = []

        def read(
            s: greeter.RustString = s, start: threading.Barrier = start, bad: list[object] = bad
        ) -> None:
            start.wait()
            for _ in range(20):
                try:
                    value = s.value
                except ValueError:
                    return
                if value != "Hello, Dee!":
                    bad.append(value)

        workers = [threading.Thread(target=read) for _ in range(threads)]
        for w in workers:
            w.start()
        start.wait()
        s.close()
        for w in workers:
            w.join()
        assert bad == []
    assert greeter.live_strings() == before


def close_during_a_method_of_a_new_type() -> None:
    """A method of a new Handle subclass, written with nothing marked, holds the pointer while
    it runs: a close() inside it frees the string when the method returns, not before."""
    from greeter._core import Handle, ffi, lib

    class Owned(Handle):
        __slots__ = ()

        def __init__(self) -> None:
            self._own(lib.greeter_greet(b"Ann", 3, ffi.NULL), lib.greeter_string_free)

        def read_after(self, step: Callable[[], None]) -> bytes:
            ptr = self._pointer()
            step()
            data: bytes = ffi.string(ptr)
            return data

    owned = Owned()
    before = greeter.live_strings()
    seen: list[int] = []

    def close_now() -> None:
        owned.close()
        seen.append(greeter.live_strings())

    assert owned.read_after(close_now) == b"Hello, Ann!"
    assert seen == [before], "freed while the method was using it"
    assert greeter.live_strings() == before - 1, "not freed when the method ended"


CHECKS = [
    close_during_a_read,
    close_during_a_method,
    close_during_a_method_of_a_new_type,
    close_frees_at_once,
    reads_racing_close,
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_this_interpreter(check: Any, no_leaks: None) -> None:
    check()


PYPY_WAY = """
import sys, types
implementation = types.SimpleNamespace(**vars(sys.implementation))
implementation.name = "pypy"
sys.implementation = implementation
import greeter, greeter._core
assert greeter._core.RELEASE_AT_CLOSE
sys.path.insert(0, {tests!r})
import test_ownership
for check in test_ownership.CHECKS:
    check()
print("ok")
"""


@pytest.mark.skipif(_core.RELEASE_AT_CLOSE, reason="this interpreter already releases at close")
def test_the_release_at_close_way() -> None:
    from pathlib import Path

    tests = str(Path(__file__).resolve().parent)
    done = subprocess.run(
        [sys.executable, "-c", PYPY_WAY.format(tests=tests)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (done.returncode, done.stdout.strip()) == (0, "ok"), done.stderr
