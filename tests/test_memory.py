"""Input too large for memory: every path raises MemoryError, none aborts the process.

Two kinds of test. Real inputs whose result cannot be allocated (a template of 10,922
``{name}`` and a 5 MiB name ask for a 57 GB greeting) run in a child process whose address
space is capped (``RLIMIT_AS``), so they fail the same way on every machine, whatever its
memory and overcommit policy. Results that fail to allocate with small inputs use the
documented diagnostic ``greeter_debug_inject_out_of_memory(n)``: the next ``n`` result buffers
anywhere in the process fail as if the system were out of memory.
"""

from __future__ import annotations

import asyncio
import ctypes
import gc
import queue
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

import greeter
from greeter import _pool
from greeter._greeter_cffi import ffi, lib

OUT_OF_MEMORY = "out of memory: cannot allocate {} bytes for the greeting"


@pytest.fixture(autouse=True)
def disarm_and_count() -> Iterator[None]:
    gc.collect()
    before = greeter.live_strings()
    yield
    armed = lib.greeter_debug_inject_out_of_memory(0)
    assert armed == 0, f"{armed} injected allocation failure(s) were never consumed"
    gc.collect()
    assert greeter.live_strings() == before


def _inject(count: int) -> None:
    assert lib.greeter_debug_inject_out_of_memory(count) == 0


def test_the_error_is_a_memory_error_with_its_own_code() -> None:
    assert issubclass(greeter.OutOfMemoryError, MemoryError)
    assert issubclass(greeter.OutOfMemoryError, greeter.GreeterError)
    assert lib.GREETER_ERR_OUT_OF_MEMORY == 10


def test_owned_greeting_that_cannot_be_allocated() -> None:
    _inject(1)
    with pytest.raises(greeter.OutOfMemoryError) as info:
        greeter.greeting("x")
    assert info.value.code == lib.GREETER_ERR_OUT_OF_MEMORY
    assert str(info.value) == OUT_OF_MEMORY.format(len("Hello, x!") + 1)
    with greeter.greeting("x") as s:
        assert s.value == "Hello, x!"


def test_raw_greet_reports_out_of_memory_in_the_threads_status() -> None:
    status = ffi.new("GreeterStatus *")
    _inject(1)
    assert lib.greeter_greet(b"ab", 2, ffi.NULL) == ffi.NULL
    lib.greeter_status_take_thread(status)
    assert status.code == lib.GREETER_ERR_OUT_OF_MEMORY
    assert ffi.string(status.message) == OUT_OF_MEMORY.format(11).encode()
    lib.greeter_status_clear(status)


def test_async_greetings_that_cannot_be_allocated_fail_alone_and_the_pool_goes_on() -> None:
    async def main() -> list[Any]:
        assert await greeter.greet_async("warm") == "Async Hello, warm!"
        _inject(3)
        results: list[Any] = await asyncio.gather(
            *(greeter.greet_async(f"n{i}") for i in range(20)), return_exceptions=True
        )
        assert await greeter.greet_async("after") == "Async Hello, after!"
        return results

    results = asyncio.run(main())
    failed = [r for r in results if isinstance(r, BaseException)]
    assert len(failed) == 3
    for error in failed:
        assert isinstance(error, greeter.OutOfMemoryError)
        assert str(error).startswith("out of memory: cannot allocate ")
    served = sorted(r for r in results if isinstance(r, str))
    assert len(served) == 17
    assert all(r.startswith("Async Hello, n") for r in served)


def test_greeter_async_greeting_that_cannot_be_allocated() -> None:
    g = greeter.Greeter("<{name}|{name}>")

    async def main() -> str:
        _inject(1)
        with pytest.raises(MemoryError) as info:
            await g.greet_async("ab")
        assert str(info.value) == OUT_OF_MEMORY.format(len("<ab|ab>") + 1)
        return await g.greet_async("ab")

    assert asyncio.run(main()) == "<ab|ab>"


def test_tutorial_greet_returns_null() -> None:
    tutorial = ctypes.CDLL(str(greeter.library_path()))
    tutorial.greet.argtypes = [ctypes.c_char_p]
    tutorial.greet.restype = ctypes.c_void_p
    _inject(1)
    assert tutorial.greet(b"Alice") is None


def test_tutorial_async_greet_calls_back_null_and_the_worker_goes_on() -> None:
    tutorial = ctypes.CDLL(str(greeter.library_path()))
    callback_type = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
    tutorial.async_greet.argtypes = [ctypes.c_char_p, callback_type]
    tutorial.async_greet.restype = None
    tutorial.free_string.argtypes = [ctypes.c_void_p]
    tutorial.free_string.restype = None
    received: queue.Queue[str | None] = queue.Queue()

    def on_greeting(ptr: int | None) -> None:
        received.put(ctypes.string_at(ptr).decode() if ptr else None)
        tutorial.free_string(ptr)

    callback = callback_type(on_greeting)
    _inject(1)
    tutorial.async_greet(b"Bo", callback)
    assert received.get(timeout=30) is None  # from the worker: the greeting failed there
    tutorial.async_greet(b"Bo", callback)
    assert received.get(timeout=30) == "Async Hello, Bo!"


def test_a_batch_python_cannot_pack_fails_its_calls_instead_of_hanging(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def no_memory(*args: object) -> tuple[int, int]:
        raise MemoryError("no room to pack the names")

    async def main() -> list[Any]:
        assert await greeter.greet_async("warm") == "Async Hello, warm!"
        with monkeypatch.context() as patch:
            patch.setattr(_pool.CompletionQueue, "submit", no_memory)
            results: list[Any] = await asyncio.wait_for(
                asyncio.gather(
                    *(greeter.greet_async("x") for _ in range(3)), return_exceptions=True
                ),
                timeout=30,
            )
        assert await greeter.greet_async("after") == "Async Hello, after!"
        return results

    results = asyncio.run(main())
    assert [type(r) for r in results] == [MemoryError] * 3
    assert [str(r) for r in results] == ["no room to pack the names"] * 3


# The reproducer: a valid template (under the 64 KiB limit) and a 5 MiB name, in a process
# whose address space is capped at 4 GiB, so the 57 GB greeting cannot be allocated anywhere.
_TOO_LARGE = textwrap.dedent(
    """
    import asyncio, resource
    import greeter

    limit = 4 << 30
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    g = greeter.Greeter("{name}" * 10922)
    name = "x" * (5 << 20)

    def outcome(call):
        try:
            call()
        except MemoryError as e:
            return type(e).__name__
        return "no error"

    async def main():
        for label, make in [("greet_async", lambda: g.greet_async(name)),
                            ("gather", lambda: asyncio.gather(g.greet_async(name),
                                                              g.greet_async("ab")))]:
            try:
                result = await make()
            except MemoryError as e:
                print(label, type(e).__name__, e.code, flush=True)
            else:
                print(label, "no error", [len(r) for r in result])
        print("served", await greeter.greet_async("Ann"), len(await g.greet_async("ab")))

    print("greet", outcome(lambda: g.greet(name)), flush=True)
    print("greet_many", outcome(lambda: g.greet_many([name, "a"])), flush=True)
    asyncio.run(main())
    """
)


def test_results_too_large_for_memory_raise_memory_error_on_every_path() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _TOO_LARGE], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    code = lib.GREETER_ERR_OUT_OF_MEMORY
    assert done.stdout.splitlines() == [
        "greet MemoryError",
        "greet_many MemoryError",
        f"greet_async OutOfMemoryError {code}",
        f"gather OutOfMemoryError {code}",
        f"served Async Hello, Ann! {2 * 10922}",
    ]
    assert "memory allocation of" not in done.stderr
