"""greet_async: Rust worker threads completing asyncio futures, under load and cancellation."""

from __future__ import annotations

import asyncio
import ctypes
import gc
import queue
import random
import subprocess
import sys
import textwrap
import threading
import time
from typing import Any

import pytest

import greeter
from greeter import _aio, _functions
from greeter._greeter_cffi import lib as cffi_lib

# Every async test ends with no greeter string left alive.
pytestmark = pytest.mark.usefixtures("no_leaks")


def test_greet_async_is_exact() -> None:
    for name in ["Alice", "", "世界", "🦀", "e\u0301"]:
        assert asyncio.run(greeter.greet_async(name)) == f"Async Hello, {name}!"


def test_one_hundred_thousand_gathered_calls() -> None:
    async def main() -> list[str]:
        return await asyncio.gather(*(greeter.greet_async(f"n{i}") for i in range(100_000)))

    results = asyncio.run(main())
    assert results == [f"Async Hello, n{i}!" for i in range(100_000)]


def test_asyncio_run_many_times() -> None:
    for i in range(50):
        assert asyncio.run(greeter.greet_async(f"run{i}")) == f"Async Hello, run{i}!"


def test_cancellation_storm() -> None:
    rng = random.Random(20261124)
    total = 10_000
    cancel = set(rng.sample(range(total), total // 2))

    order = sorted(cancel, key=lambda _: rng.random())
    thirds = [order[: len(order) // 3], order[len(order) // 3 : 2 * len(order) // 3]]
    thirds.append(order[2 * len(order) // 3 :])

    async def main() -> list[Any]:
        tasks = [asyncio.ensure_future(greeter.greet_async(f"n{i}")) for i in range(total)]
        # Before any task ran: these never reach Rust.
        for i in thirds[0]:
            tasks[i].cancel()
        await asyncio.sleep(0)  # the others submit; Rust queues and runs them
        # While queued, running or completed in Rust.
        for i in thirds[1]:
            tasks[i].cancel()
        # At random points while completions are drained.
        for k, i in enumerate(thirds[2]):
            if k % 50 == 0:
                await asyncio.sleep(0)
            tasks[i].cancel()
        return await asyncio.gather(*tasks, return_exceptions=True)

    results = asyncio.run(main())
    cancelled = set()
    for i, result in enumerate(results):
        if isinstance(result, asyncio.CancelledError):
            cancelled.add(i)
        else:
            assert result == f"Async Hello, n{i}!"
    assert cancelled <= cancel
    assert set(thirds[0]) <= cancelled


def test_four_threads_each_with_its_own_loop() -> None:
    errors: list[str] = []

    def run(t: int) -> None:
        async def main() -> list[str]:
            names = [f"t{t}-{i}" for i in range(5_000)]
            return await asyncio.gather(*(greeter.greet_async(n) for n in names))

        results = asyncio.run(main())
        if results != [f"Async Hello, t{t}-{i}!" for i in range(5_000)]:
            errors.append(f"thread {t}")

    threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []


def test_loop_closed_with_work_in_flight() -> None:
    loop = asyncio.new_event_loop()
    tasks = [loop.create_task(greeter.greet_async(f"n{i}")) for i in range(1_000)]
    loop.run_until_complete(asyncio.sleep(0))  # every task has submitted
    loop.close()
    del tasks
    gc.collect()
    # A later loop (the registration sweeps the closed one) still gets exact results.
    assert asyncio.run(greeter.greet_async("after")) == "Async Hello, after!"


def test_errors_raise_on_the_awaiting_task() -> None:
    async def main() -> None:
        with pytest.raises(greeter.InteriorNulError, match="NUL byte at offset 1"):
            await greeter.greet_async("a\0b")
        with pytest.raises(UnicodeEncodeError):
            await greeter.greet_async("\ud800")
        with pytest.raises(TypeError, match="name must be str, not int"):
            await greeter.greet_async(5)  # type: ignore[arg-type]
        _functions.inject_panics(1)
        with pytest.raises(greeter.RustPanicError, match="injected panic"):
            await greeter.greet_async("boom")
        assert await greeter.greet_async("fine") == "Async Hello, fine!"

    asyncio.run(main())


def test_shutdown_refuses_work_and_configure_restarts() -> None:
    greeter.shutdown()
    try:
        with pytest.raises(greeter.PoolShutDownError, match="shut down"):
            asyncio.run(greeter.greet_async("late"))
        greeter.configure_pool()  # re-opens it; the next submit starts it
        assert asyncio.run(greeter.greet_async("restarted")) == "Async Hello, restarted!"
        with pytest.raises(greeter.InvalidArgumentError, match="running; shut it down"):
            greeter.configure_pool(threads=2, queue_capacity=10)
        with pytest.raises(OverflowError):
            greeter.configure_pool(threads=-1)
    finally:
        greeter.shutdown()
        greeter.configure_pool()
    assert greeter.pool_size()[1] == 65_536
    assert asyncio.run(greeter.greet_async("again")) == "Async Hello, again!"


def test_configured_size_is_used() -> None:
    greeter.shutdown()
    try:
        greeter.configure_pool(threads=3, queue_capacity=100)
        assert greeter.pool_size() == (3, 100)

        async def main() -> list[str]:
            return await asyncio.gather(*(greeter.greet_async(f"q{i}") for i in range(2_000)))

        # More tasks than the queue holds: greet_async waits for room instead of failing.
        assert asyncio.run(main()) == [f"Async Hello, q{i}!" for i in range(2_000)]
    finally:
        greeter.shutdown()
        greeter.configure_pool()


def _run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_interpreter_exit_with_ten_thousand_calls_in_flight() -> None:
    done = _run_python(
        """
        import asyncio, sys, greeter

        async def main():
            for i in range(10_000):
                asyncio.ensure_future(greeter.greet_async(f"n{i}"))
            await asyncio.sleep(0)  # every call has run up to its await
            await asyncio.sleep(0)  # and their batch has been submitted
            sys.exit(0)

        asyncio.run(main())
        """
    )
    assert (done.returncode, done.stderr) == (0, "")


def test_thread_exit_with_calls_in_flight_then_interpreter_exit() -> None:
    done = _run_python(
        """
        import asyncio, threading, greeter

        def worker():
            loop = asyncio.new_event_loop()
            for i in range(10_000):
                loop.create_task(greeter.greet_async(f"n{i}"))
            loop.run_until_complete(asyncio.sleep(0))
            # the thread ends with its loop open and the work in flight

        threading.Thread(target=worker, daemon=True).start()
        t = threading.Thread(target=worker)
        t.start()
        t.join()
        print("exiting")
        """
    )
    assert done.returncode == 0
    assert done.stdout == "exiting\n"
    assert "Fatal" not in done.stderr


def _tutorial_async_library() -> tuple[ctypes.CDLL, Any]:
    lib = ctypes.CDLL(str(greeter.library_path()))
    callback_type = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
    lib.async_greet.argtypes = [ctypes.c_char_p, callback_type]
    lib.async_greet.restype = None
    lib.free_string.argtypes = [ctypes.c_void_p]
    lib.free_string.restype = None
    return lib, callback_type


def test_tutorial_async_greet_through_a_ctypes_callback() -> None:
    lib, callback_type = _tutorial_async_library()
    received: queue.Queue[str | None] = queue.Queue()

    def on_greeting(ptr: int | None) -> None:
        received.put(ctypes.string_at(ptr).decode() if ptr else None)
        lib.free_string(ptr)  # the callback owns the string

    callback = callback_type(on_greeting)  # kept alive until every call has called back
    names = [f"tutorial{i}" for i in range(1_000)]
    for name in names:
        buf = ctypes.create_string_buffer(name.encode())
        lib.async_greet(buf, callback)
        del buf  # freed at once: Rust copied the name before returning
    got = sorted(str(received.get(timeout=30)) for _ in names)
    assert got == sorted(f"Async Hello, {n}!" for n in names)


def test_tutorial_async_greet_bad_input_calls_back_with_null() -> None:
    lib, callback_type = _tutorial_async_library()
    received: list[int | None] = []
    callback = callback_type(received.append)
    lib.async_greet(None, callback)
    lib.async_greet(b"\xff", callback)
    assert received == [None, None]  # synchronously, on this thread


def test_one_bad_name_in_a_batch_fails_alone() -> None:
    # The calls of one loop iteration are submitted together: a NUL in one name must fail
    # only its own await, with its own message.
    async def main() -> list[Any]:
        names = ["a", "b\0c", "d", "\0", "e"]
        results: list[Any] = await asyncio.gather(
            *(greeter.greet_async(n) for n in names), return_exceptions=True
        )
        return results

    results = asyncio.run(main())
    assert results[0] == "Async Hello, a!"
    assert results[2] == "Async Hello, d!"
    assert results[4] == "Async Hello, e!"
    assert isinstance(results[1], greeter.InteriorNulError)
    assert str(results[1]) == "name contains a NUL byte at offset 1"
    assert isinstance(results[3], greeter.InteriorNulError)
    assert str(results[3]) == "name contains a NUL byte at offset 0"


def test_cancelled_before_its_batch_is_submitted_is_never_submitted() -> None:
    async def main() -> tuple[list[str], int]:
        tasks = [asyncio.ensure_future(greeter.greet_async(f"n{i}")) for i in range(100)]
        await asyncio.sleep(0)  # every task has run up to its await: the batch is pending
        for task in tasks[::2]:
            task.cancel()
        done = await asyncio.gather(*tasks[1::2])
        for task in tasks[::2]:
            assert task.cancelled()
        completions = greeter._aio._completions_for(asyncio.get_running_loop())
        return done, len(completions.waiting) + len(completions.pending)

    done, left = asyncio.run(main())
    assert done == [f"Async Hello, n{i}!" for i in range(1, 100, 2)]
    assert left == 0


def test_greet_async_outside_a_running_asyncio_loop_says_it_needs_one() -> None:
    coroutine = greeter.greet_async("x")
    with pytest.raises(RuntimeError, match=r"^greet_async needs a running asyncio event loop"):
        coroutine.send(None)  # awaited with no event loop at all


def test_greet_async_under_trio_says_it_needs_an_asyncio_loop() -> None:
    trio = pytest.importorskip("trio")
    with pytest.raises(RuntimeError, match=r"^greet_async needs a running asyncio event loop"):
        trio.run(greeter.greet_async, "x")


def test_one_readiness_callback_resolves_a_bounded_batch() -> None:
    # 5,000 completions waiting at once are delivered over several loop iterations, at most
    # one batch per iteration, so other callbacks run in between.
    async def main() -> list[int]:
        tasks = [asyncio.ensure_future(greeter.greet_async(f"n{i}")) for i in range(5_000)]
        await asyncio.sleep(0)  # every task has run up to its await
        await asyncio.sleep(0)  # and their batch has been submitted
        time.sleep(0.5)  # the loop is busy while the workers complete every task
        done: list[int] = []
        while not done or done[-1] < len(tasks):
            await asyncio.sleep(0)  # one loop iteration
            done.append(sum(t.done() for t in tasks))
        assert [t.result() for t in tasks[:2]] == ["Async Hello, n0!", "Async Hello, n1!"]
        return done

    done = asyncio.run(main())
    steps = [b - a for a, b in zip([0, *done], done, strict=False)]
    batch = greeter._aio._COMPLETIONS_PER_CALLBACK
    assert 0 < batch < 5_000
    assert max(steps) <= batch
    assert len([s for s in steps if s]) >= -(-5_000 // batch)


def test_several_async_functions_in_one_loop_iteration_each_get_their_results() -> None:
    # Each asynchronous function is one submit export; the calls of one iteration are grouped
    # by function, one call into Rust per group, completions through the one queue.
    other = _aio.async_function(cffi_lib.greeter_greet_submit)

    async def main() -> list[str]:
        calls = [(greeter.greet_async if i % 3 else other)(f"n{i}") for i in range(300)]
        return await asyncio.gather(*calls)

    assert asyncio.run(main()) == [f"Async Hello, n{i}!" for i in range(300)]
    assert other.__name__ == "greet_async"
