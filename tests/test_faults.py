"""Faults: Rust panics, Python exceptions in the completion path, and fork().

Panics are injected with the documented diagnostic ``greeter._functions.inject_panics(n)``
(``greeter_debug_inject_panics``): the next ``n`` greetings anywhere in the process panic
inside Rust.
"""

from __future__ import annotations

import asyncio
import os
import select
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import greeter
from greeter import _aio, _functions
from greeter._greeter_cffi import ffi, lib


@pytest.fixture(autouse=True)
def disarm_and_count() -> Iterator[None]:
    before = greeter.live_strings()
    yield
    armed = _functions.inject_panics(0)
    assert armed == 0, f"{armed} injected panic(s) were never consumed"
    assert greeter.live_strings() == before


class TestPanicsOnWorkers:
    def test_a_worker_panic_reaches_the_awaiting_task_and_the_pool_keeps_working(self) -> None:
        async def run() -> None:
            assert await greeter.greet_async("warm") == "Async Hello, warm!"
            _functions.inject_panics(1)
            with pytest.raises(greeter.RustPanicError) as info:
                await greeter.greet_async("boom")
            assert info.value.code == lib.GREETER_ERR_PANIC
            assert str(info.value) == "Rust panicked: injected panic (greeter_debug_inject_panics)"
            assert await greeter.greet_async("after") == "Async Hello, after!"

        asyncio.run(run())

    def test_several_panics_among_many_tasks_fail_exactly_that_many(self) -> None:
        async def run() -> list[str | BaseException]:
            _functions.inject_panics(7)
            return await asyncio.gather(
                *(greeter.greet_async(f"n{i}") for i in range(100)), return_exceptions=True
            )

        results = asyncio.run(run())
        panics = [r for r in results if isinstance(r, greeter.RustPanicError)]
        assert len(panics) == 7
        for i, r in enumerate(results):
            assert r == f"Async Hello, n{i}!" or isinstance(r, greeter.RustPanicError)
        # Every worker survived: a full batch afterwards is exact.
        assert asyncio.run(gather_names(200)) == [f"Async Hello, n{i}!" for i in range(200)]

    def test_a_panic_in_the_tutorial_callback_path_delivers_null(self) -> None:
        got: list[Any] = []
        done = threading.Event()

        def on_result(ptr: Any) -> None:
            got.append(ptr == ffi.NULL)
            lib.free_string(ptr)
            done.set()

        callback = ffi.callback("void(char *)", on_result)

        asyncio.run(greeter.greet_async("start the pool"))
        _functions.inject_panics(1)
        lib.async_greet(b"x", callback)
        assert done.wait(10)
        assert got == [True]


class TestPanicsOnTheSyncPath:
    def test_greet_raises_the_panic_instead_of_retrying(self) -> None:
        # Regression: greet() used to retry a failed greeting through greeter_greet, whose
        # fresh greeting succeeded and hid the panic.
        _functions.inject_panics(1)
        with pytest.raises(greeter.RustPanicError) as info:
            greeter.greet("x")
        assert "injected panic" in str(info.value)
        assert greeter.greet("x") == "Hello, x!"

    def test_greet_of_a_long_name_raises_the_panic(self) -> None:
        name = "L" * 1000  # over greet()'s pooled buffer: a second greeter_greet_into call
        _functions.inject_panics(1)
        with pytest.raises(greeter.RustPanicError):
            greeter.greet(name)
        assert greeter.greet(name) == f"Hello, {name}!"

    def test_greeting_raises_the_panic(self) -> None:
        _functions.inject_panics(1)
        with pytest.raises(greeter.RustPanicError):
            greeter.greeting("x")
        with greeter.greeting("x") as s:
            assert s.value == "Hello, x!"

    def test_the_tutorial_greet_returns_null_on_a_panic(self) -> None:
        _functions.inject_panics(1)
        assert lib.greet(b"x") == ffi.NULL
        ptr = lib.greet(b"x")
        assert ffi.string(ptr) == b"Hello, x!"
        lib.free_string(ptr)

    def test_greet_into_reports_the_panic_in_the_thread_status(self) -> None:
        status = ffi.new("GreeterStatus *")
        buf = ffi.new("char[]", 32)
        _functions.inject_panics(1)
        assert lib.greeter_greet_into(b"x", 1, buf, 32) == lib.GREETER_FAILED
        lib.greeter_status_take_thread(status)
        assert status.code == lib.GREETER_ERR_PANIC
        lib.greeter_status_clear(status)


async def gather_names(n: int) -> list[str]:
    return await asyncio.gather(*(greeter.greet_async(f"n{i}") for i in range(n)))


async def until_submitted(n: int) -> None:
    """greet_async submits the calls of one loop iteration together, from a callback the first
    of them schedules: yield until ``n`` calls of this loop are in Rust."""
    completions = _aio._completions_for(asyncio.get_running_loop())
    for _ in range(100):
        if len(completions.waiting) >= n:
            return
        await asyncio.sleep(0)
    raise AssertionError(f"{len(completions.waiting)} of {n} calls submitted")


def wait_until_readable(loop: asyncio.AbstractEventLoop) -> None:
    """Blocks the loop's thread until its completion queue holds a completion."""
    fd = _aio._registry[loop].queue.fd
    readable, _, _ = select.select([fd], [], [], 10)
    assert readable == [fd], "no completion arrived"


class TestPythonExceptionsInTheCompletionPath:
    def test_a_raising_done_callback_does_not_stop_the_loop(self) -> None:
        errors: list[BaseException | None] = []

        def raising(_: asyncio.Future[str]) -> None:
            raise RuntimeError("done-callback failure")

        async def run() -> list[str]:
            loop = asyncio.get_running_loop()
            loop.set_exception_handler(lambda _loop, ctx: errors.append(ctx.get("exception")))
            task = asyncio.ensure_future(greeter.greet_async("a"))
            task.add_done_callback(raising)
            assert await task == "Async Hello, a!"
            await asyncio.sleep(0)  # let the done-callbacks run
            return await gather_names(50)

        assert asyncio.run(run()) == [f"Async Hello, n{i}!" for i in range(50)]
        assert len(errors) == 1
        assert isinstance(errors[0], RuntimeError)
        assert str(errors[0]) == "done-callback failure"

    def test_a_completion_for_a_cancelled_task_is_dropped_and_freed(self) -> None:
        async def run() -> list[str]:
            loop = asyncio.get_running_loop()
            task = asyncio.ensure_future(greeter.greet_async("late"))
            await until_submitted(1)
            wait_until_readable(loop)  # the completion is waiting, not yet drained
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            return await gather_names(20)

        assert asyncio.run(run()) == [f"Async Hello, n{i}!" for i in range(20)]

    def test_a_future_cancelled_by_hand_before_its_completion_is_skipped(self) -> None:
        async def run() -> list[str]:
            loop = asyncio.get_running_loop()
            completions = _aio._completions_for(loop)
            task = asyncio.ensure_future(greeter.greet_async("hand"))
            await until_submitted(1)
            ((_, future, _, _),) = completions.waiting.values()
            wait_until_readable(loop)
            future.cancel()
            # The reader fires before the task wakes up: the completion arrives for a future
            # that is already done; it must be skipped and its string freed.
            completions._on_readable()
            assert not completions.waiting
            with pytest.raises(asyncio.CancelledError):
                await task
            return await gather_names(20)

        assert asyncio.run(run()) == [f"Async Hello, n{i}!" for i in range(20)]

    def test_cancelling_before_and_after_the_work_reaches_rust(self) -> None:
        async def run() -> list[str]:
            before = asyncio.ensure_future(greeter.greet_async("never submitted"))
            before.cancel()  # cancelled before its first step: Rust never sees it
            after = [asyncio.ensure_future(greeter.greet_async(f"c{i}")) for i in range(200)]
            await until_submitted(200)
            for t in after:
                t.cancel()
            results = await asyncio.gather(before, *after, return_exceptions=True)
            assert isinstance(results[0], asyncio.CancelledError)
            for r in results[1:]:
                assert isinstance(r, asyncio.CancelledError)
            return await gather_names(20)

        assert asyncio.run(run()) == [f"Async Hello, n{i}!" for i in range(20)]


FORK_CHILD = textwrap.dedent(
    """
    import asyncio, os, sys, threading, time
    import greeter

    async def batch(prefix, n):
        return await asyncio.gather(*(greeter.greet_async(f"{prefix}{i}") for i in range(n)))

    # The parent's pool is running, with another thread busy on it, when it forks.
    assert asyncio.run(batch("p", 100)) == [f"Async Hello, p{i}!" for i in range(100)]
    stop = threading.Event()
    def busy():
        while not stop.is_set():
            asyncio.run(batch("b", 20))
    worker = threading.Thread(target=busy)
    worker.start()
    time.sleep(0.05)

    pid = os.fork()
    if pid == 0:
        ok = greeter.greet("child") == "Hello, child!"
        ok = ok and asyncio.run(greeter.greet_async("child")) == "Async Hello, child!"
        ok = ok and asyncio.run(batch("c", 300)) == [f"Async Hello, c{i}!" for i in range(300)]
        greeter.shutdown()
        os._exit(0 if ok else 3)

    deadline = time.monotonic() + 30
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            print("child hung")
            stop.set()
            worker.join()
            sys.exit(4)
        time.sleep(0.01)
    stop.set()
    worker.join()
    # The parent is unaffected by its child.
    assert asyncio.run(batch("q", 50)) == [f"Async Hello, q{i}!" for i in range(50)]
    sys.exit(os.waitstatus_to_exitcode(status))
    """
)


FORK_WITH_THE_REGISTRY_LOCK_HELD = textwrap.dedent(
    """
    import asyncio, os, signal, sys, threading
    import greeter
    from greeter import _aio

    assert asyncio.run(greeter.greet_async("parent")) == "Async Hello, parent!"
    # Another thread is registering a loop at the moment of the fork: it holds the lock.
    held, release = threading.Event(), threading.Event()
    def holder():
        with _aio._registry_lock:
            held.set()
            release.wait()
    thread = threading.Thread(target=holder)
    thread.start()
    held.wait()
    pid = os.fork()
    if pid == 0:
        signal.alarm(20)  # a hung child dies of SIGALRM instead of hanging the test
        ok = asyncio.run(greeter.greet_async("child")) == "Async Hello, child!"
        os._exit(0 if ok else 3)
    release.set()
    thread.join()
    _, status = os.waitpid(pid, 0)
    sys.exit(os.waitstatus_to_exitcode(status))
    """
)


class TestFork:
    def test_a_lock_held_by_another_thread_at_fork_does_not_hang_the_child(self) -> None:
        # Regression: the child inherited _registry_lock locked by a thread that does not exist
        # there, and its first greet_async waited forever (exit code -14: killed by SIGALRM).
        proc = subprocess.run(
            [sys.executable, "-c", FORK_WITH_THE_REGISTRY_LOCK_HELD],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr

    def test_a_fork_child_gets_a_fresh_pool_and_exact_results(self, tmp_path: Path) -> None:
        # Run from an empty directory: `-c` puts the working directory on sys.path, and the
        # installed package, not a source tree, must be imported.
        proc = subprocess.run(
            [sys.executable, "-c", FORK_CHILD],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr

    # The pool's worker threads are running when it forks: that is the case under test, so
    # Python 3.12's warning about forking a multi-threaded process is expected here.
    @pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
    def test_fork_forgets_the_parents_queues_in_the_child(self) -> None:
        asyncio.run(greeter.greet_async("registered"))
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(greeter.greet_async("kept"))
            assert loop in _aio._registry
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child reports through its exit code
                os._exit(0 if len(_aio._registry) == 0 else 5)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0
            assert loop in _aio._registry, "the parent keeps its queues"
        finally:
            loop.close()


class TestReentrantCallbacks:
    def test_a_tutorial_callback_may_shut_the_pool_down_from_its_worker(self) -> None:
        # Regression: the worker tried to join itself; the join panicked (EDEADLK), the panic
        # was caught, and the remaining workers were left unjoined.
        asyncio.run(greeter.greet_async("start the pool"))
        returned = threading.Event()

        def on_result(ptr: Any) -> None:
            lib.free_string(ptr)
            lib.greeter_pool_shutdown(ffi.NULL)
            returned.set()

        callback = ffi.callback("void(char *)", on_result)
        try:
            lib.async_greet(b"x", callback)
            assert returned.wait(10)
            with pytest.raises(greeter.PoolShutDownError):
                asyncio.run(greeter.greet_async("refused"))
        finally:
            greeter.shutdown()
            greeter.configure_pool()
        assert asyncio.run(greeter.greet_async("again")) == "Async Hello, again!"
