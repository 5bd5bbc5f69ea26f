"""Interpreter exit while other threads are inside greeter calls, and closed completion queues.

The main thread returns while a daemon thread's event loop has thousands of greet_async calls
in flight, so at exit that thread is often inside a call into Rust with the GIL released. The
queue such a call uses must not be freed under it: the process must exit 0, every time.

The first scenario runs in ``GREETER_EXIT_RUNS`` fresh interpreters (3 by default, a quick
check; CI's own step runs it 200 times, see .ci/run), the others in an eighth as many (at
least 2); two at a time.
"""

from __future__ import annotations

import asyncio
import errno
import gc
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor

import pytest

import greeter
from greeter import _aio, _core, _pool
from greeter._greeter_cffi import lib

RUNS = int(os.environ.get("GREETER_EXIT_RUNS", "3"))

# The daemon thread's loop is busy with greet_async when the main thread returns 0.1 s later.
_PRELUDE = """
import asyncio, threading, time, greeter
"""
_EPILOGUE = """
threading.Thread(target=daemon, daemon=True).start()
time.sleep(0.1)
"""
SCENARIOS = {
    # Loop after loop, each left running with 10,000 calls in flight. Each stays referenced:
    # a loop the script dropped could be collected with tasks still pending, and asyncio would
    # report that as "Task was destroyed but it is pending!", the script's fault, not greeter's.
    "loops_left_running": """
def daemon():
    left_running = []
    while True:
        loop = asyncio.new_event_loop()
        left_running.append(loop)
        for i in range(10_000):
            loop.create_task(greeter.greet_async(f"n{i}"))
        for _ in range(50):
            loop.run_until_complete(asyncio.sleep(0))
""",
    # Mostly inside greeter_queue_drain: bursts of 5,000 completions to drain.
    "inside_a_drain": """
def daemon():
    async def bursts():
        while True:
            await asyncio.gather(*(greeter.greet_async(f"n{i}") for i in range(5_000)))
    asyncio.new_event_loop().run_until_complete(bursts())
""",
    # Mostly inside greeter_greet_submit: 64 names of 256 KiB per batch, each scanned
    # to its last byte (a NUL, so the completions are short errors).
    "inside_a_submit": """
def daemon():
    name = "x" * 262_143 + "\\0"
    async def bursts():
        while True:
            await asyncio.gather(
                *(greeter.greet_async(name) for _ in range(64)), return_exceptions=True
            )
    asyncio.new_event_loop().run_until_complete(bursts())
""",
}


def _run_once(code: str) -> tuple[int, str]:
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
        )
    except subprocess.TimeoutExpired:
        return -1, "timed out after 60 s"
    return done.returncode, done.stderr


@pytest.mark.parametrize(
    ("scenario", "runs"),
    [
        ("loops_left_running", RUNS),
        ("inside_a_drain", max(2, RUNS // 8)),
        ("inside_a_submit", max(2, RUNS // 8)),
    ],
)
def test_many_runs_exit_cleanly_while_a_daemon_loop_is_inside_greeter(
    scenario: str, runs: int
) -> None:
    code = textwrap.dedent(_PRELUDE + SCENARIOS[scenario] + _EPILOGUE)
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(_run_once, [code] * runs))
    failed = [(rc, err[-300:]) for rc, err in outcomes if rc != 0 or not _only_unawaited(err)]
    assert failed == [], f"{len(failed)} of {runs} runs failed"


def _only_unawaited(stderr: str) -> bool:
    """True when stderr is empty or holds only asyncio's own report of tasks the script created
    and never awaited, failed by the pool's shutdown at exit (what asyncio prints for any task
    whose exception nobody retrieves)."""
    lines = stderr.splitlines()
    reports = sum(line == "Task exception was never retrieved" for line in lines)
    tracebacks = sum(line == "Traceback (most recent call last):" for line in lines)
    shut_down = sum(line.startswith("greeter.errors.PoolShutDownError: ") for line in lines)
    return not stderr or 0 < reports == tracebacks == shut_down


@pytest.mark.skipif(
    _core.RELEASE_AT_CLOSE,
    reason="there a call in flight is counted, not held (tests/test_ownership.py checks that way)",
)
def test_closing_defers_the_free_while_a_call_holds_the_queue() -> None:
    queue = _pool.CompletionQueue()
    fd = queue.fd
    in_call = queue._ptr  # what a call running on another thread holds as its argument
    queue.close()
    assert queue.closed
    os.fstat(fd)  # not freed: the call's reference keeps the queue and its descriptor
    del in_call
    gc.collect()
    with pytest.raises(OSError, match=rf"\[Errno {errno.EBADF}\]"):
        os.fstat(fd)  # the last reference went: freed, descriptor closed


def test_a_closed_queue_refuses_submits_and_drains_nothing() -> None:
    queue = _pool.CompletionQueue()
    queue.close()
    queue.close()  # idempotent
    with pytest.raises(greeter.PoolShutDownError, match="completion queue is closed"):
        queue.submit(lib.greeter_greet_submit, (), [b"a"])
    assert queue.drain() == []


@pytest.mark.usefixtures("no_leaks")
def test_greet_async_on_a_loop_whose_queue_was_closed_raises_a_greeter_error() -> None:
    # What exit-time cleanup on another thread did to a running loop: a clear error on the
    # awaiting task, never a TypeError from cffi.
    async def main() -> None:
        assert await greeter.greet_async("a") == "Async Hello, a!"
        _aio._completions_for(asyncio.get_running_loop()).queue.close()
        with pytest.raises(greeter.PoolShutDownError, match="completion queue is closed"):
            await asyncio.wait_for(greeter.greet_async("b"), 30)

    asyncio.run(main())


def test_a_loop_running_at_interpreter_exit_keeps_its_queue_through_the_exit_hooks() -> None:
    # An exit hook that runs after weakref.finalize's exit hook (registered later: hooks run
    # last in, first out) still gets a greeting from the loop a daemon thread is running.
    code = """
        import asyncio, atexit, threading, greeter

        def at_exit():
            late = asyncio.run_coroutine_threadsafe(greeter.greet_async("late"), loop)
            print(late.result(timeout=30))

        atexit.register(at_exit)
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        async def first():
            await greeter.greet_async("first")
            ready.set()

        def run():
            loop.create_task(first())
            loop.run_forever()

        threading.Thread(target=run, daemon=True).start()
        assert ready.wait(30)
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, "Async Hello, late!\n", "")
