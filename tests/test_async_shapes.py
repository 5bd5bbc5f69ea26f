"""Asynchronous results of any shape: text, bytes, an integer, a new object.

A result crosses as bytes with a length, and each asynchronous function states how it is
lifted into Python (``async_function(..., lift=...)``). The documented diagnostic
``greeter_debug_shapes_submit`` returns each shape that is not text, so these tests check
exact values, and that cancellation, closing a loop with calls in flight, ``fork()`` and exit
behave for each as they do for text: every result delivered once, nothing leaked (a new
object no one awaits any more is freed: ``live_objects()`` counts them).
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest

import greeter
from greeter import _aio, _pool
from greeter._core import Handle
from greeter._greeter_cffi import ffi, lib


class Made(Handle):
    """A greeter object an asynchronous call made, owned by Python."""

    __slots__ = ()

    def greet(self, name: str) -> str:
        data = name.encode()
        out = ffi.new("char[]", 256)
        n = lib.greeter_greeter_greet_into(self._ptr, data, len(data), out, 256)
        text: str = ffi.unpack(out, n).decode()
        return text


def _adopt(ptr: Any) -> Made:
    made = object.__new__(Made)
    made._own(ptr, lib.greeter_greeter_free)
    return made


reversed_bytes = _aio.async_function(
    lib.greeter_debug_shapes_submit, lib.GREETER_DEBUG_SHAPE_BYTES, lift=_pool.BYTES
)
negated_len = _aio.async_function(
    lib.greeter_debug_shapes_submit, lib.GREETER_DEBUG_SHAPE_INTEGER, lift=_pool.INTEGER
)
new_greeter = _aio.async_function(
    lib.greeter_debug_shapes_submit,
    lib.GREETER_DEBUG_SHAPE_GREETER,
    lift=_pool.handle_lift("GreeterGreeter *", _adopt),
)

SHAPES: list[tuple[str, Callable[[str], Coroutine[Any, Any, Any]], str]] = [
    ("text", greeter.greet_async, "Async Hello, {}!"),
    ("bytes", reversed_bytes, ""),
    ("integer", negated_len, ""),
    ("object", new_greeter, ""),
]


def _wanted(shape: str, text: str) -> Any:
    if shape == "text":
        return f"Async Hello, {text}!"
    if shape == "bytes":
        return text.encode()[::-1]
    if shape == "integer":
        return -len(text.encode())
    return text.replace("{name}", "Al")


def _value(shape: str, result: Any) -> Any:
    return result.greet("Al") if shape == "object" else result


def _texts(n: int) -> list[str]:
    return [f"<{{name}}|{i}é>" for i in range(n)]


def _settle(before: int) -> None:
    """Waits for tasks still running in Rust to end (each drops its result) and for Python
    to collect what it held."""
    deadline = time.monotonic() + 20
    while True:
        gc.collect()
        if greeter.live_objects() == before:
            return
        assert time.monotonic() < deadline, f"{greeter.live_objects() - before} objects leaked"
        time.sleep(0.01)


@pytest.fixture(autouse=True)
def no_leaks() -> Iterator[None]:
    gc.collect()
    objects, strings = greeter.live_objects(), greeter.live_strings()
    yield
    _settle(objects)
    assert greeter.live_strings() == strings


@pytest.mark.parametrize(("shape", "call", "_"), SHAPES, ids=[s[0] for s in SHAPES])
def test_exact_results_of_each_shape(
    shape: str, call: Callable[[str], Coroutine[Any, Any, Any]], _: str
) -> None:
    async def main() -> list[Any]:
        return await asyncio.gather(*(call(t) for t in _texts(300)))

    results = asyncio.run(main())
    assert [_value(shape, r) for r in results] == [_wanted(shape, t) for t in _texts(300)]
    for r in results:
        if isinstance(r, Made):
            r.close()


def test_values_are_exact_and_errors_are_the_shapes_own() -> None:
    async def main() -> None:
        assert await reversed_bytes("aé") == b"\xa9\xc3a"
        assert await reversed_bytes("") == b""
        assert await negated_len("aé") == -3
        with await new_greeter("{name}!") as g:
            assert g.greet("Zo") == "Zo!"
        with pytest.raises(greeter.InvalidTemplateError):
            await new_greeter("no placeholder")
        with pytest.raises(greeter.InteriorNulError):
            await negated_len("a\0")

    asyncio.run(main())


@pytest.mark.parametrize(("shape", "call", "_"), SHAPES, ids=[s[0] for s in SHAPES])
def test_cancelled_calls_of_each_shape_free_their_results(
    shape: str, call: Callable[[str], Coroutine[Any, Any, Any]], _: str
) -> None:
    async def main() -> int:
        tasks = [asyncio.ensure_future(call(t)) for t in _texts(2000)]
        loop = asyncio.get_running_loop()
        while not getattr(_aio._registry.get(loop), "waiting", None):
            await asyncio.sleep(0)  # the calls' first steps, then the flush that submits them
        for task in tasks[1::3]:
            task.cancel()  # queued or running in Rust
        time.sleep(0.2)  # blocks the loop: Rust finishes the rest, nothing is drained yet
        for task in tasks[2::3]:
            task.cancel()  # finished in Rust, its completion waiting in the queue
        done = await asyncio.gather(*tasks, return_exceptions=True)
        served = [r for r in done if not isinstance(r, BaseException)]
        for r in served:
            if isinstance(r, Made):
                r.close()
        return len(served)

    assert asyncio.run(main()) == len(range(0, 2000, 3))


@pytest.mark.parametrize(("shape", "call", "_"), SHAPES, ids=[s[0] for s in SHAPES])
def test_a_loop_closed_with_calls_of_each_shape_in_flight(
    shape: str, call: Callable[[str], Coroutine[Any, Any, Any]], _: str
) -> None:
    loop = asyncio.new_event_loop()
    try:
        tasks = [loop.create_task(call(t)) for t in _texts(2000)]
        loop.run_until_complete(asyncio.sleep(0.002))
    finally:
        for task in tasks:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.close()
    del tasks


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork() is POSIX")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # 3.12+: forking with threads
def test_each_shape_works_in_a_fork_child() -> None:
    async def all_shapes() -> list[Any]:
        return [_value(s, await call("<{name}>")) for s, call, _ in SHAPES]

    want = [_wanted(s, "<{name}>") for s, _, _ in SHAPES]
    assert asyncio.run(all_shapes()) == want
    pid = os.fork()
    if pid == 0:  # the child: exits with its verdict, never returns into pytest
        try:
            ok = asyncio.run(all_shapes()) == want
        except BaseException:
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_exit_with_calls_of_each_shape_in_flight() -> None:
    script = textwrap.dedent(
        """
        import asyncio, sys
        sys.path.insert(0, sys.argv[1])
        from test_async_shapes import SHAPES, _texts

        loop = asyncio.new_event_loop()
        for _, call, _ in SHAPES:
            for t in _texts(3000):
                loop.create_task(call(t))
        loop.run_until_complete(asyncio.sleep(0.005))
        print("exiting")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, os.path.dirname(__file__)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "exiting\n"
    assert "Fatal" not in done.stderr


bytes_reversed = _aio.async_function(
    lib.greeter_debug_shapes_submit,
    lib.GREETER_DEBUG_SHAPE_BYTES,
    takes=bytes,
    lift=_pool.BYTES,
)


def test_bytes_arguments_are_sent_as_they_are() -> None:
    async def main() -> list[bytes]:
        return await asyncio.gather(*(bytes_reversed(b"ab%d\xc3\xa9" % i) for i in range(200)))

    assert asyncio.run(main()) == [(b"ab%d\xc3\xa9" % i)[::-1] for i in range(200)]
    # Not encoded by Python: this export takes text, so Rust refuses bytes that are not UTF-8.
    with pytest.raises(greeter.InvalidUtf8Error):
        asyncio.run(bytes_reversed(b"\xff"))
    assert asyncio.run(bytes_reversed(b"")) == b""


@pytest.mark.parametrize("argument", ["ab", bytearray(b"ab"), memoryview(b"ab"), 1, None])
def test_a_bytes_argument_of_another_type_is_refused(argument: Any) -> None:
    with pytest.raises(TypeError, match=f"^data must be bytes, not {type(argument).__name__}$"):
        asyncio.run(bytes_reversed(argument))


def test_the_argument_type_is_str_or_bytes() -> None:
    with pytest.raises(TypeError, match=r"^takes must be str or bytes, not <class 'int'>$"):
        _aio.async_function(lib.greeter_debug_shapes_submit, takes=int)  # type: ignore[call-overload]
