"""Concurrency, a short soak, and the worker pool under submit storms.

Time only bounds how long a loop runs; no test passes or fails on a timing. The long soak
(>= 5 million calls, RSS sampled) is ``benchmarks/workload.py --rss``.
"""

from __future__ import annotations

import asyncio
import gc
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

import greeter
from greeter import _pool
from greeter._greeter_cffi import ffi, lib

THREADS = 16
STRESS_SECONDS = 3.0


@pytest.fixture(autouse=True)
def no_leaked_strings() -> Iterator[None]:
    before = greeter.live_strings()
    yield
    gc.collect()
    assert greeter.live_strings() == before


@pytest.fixture
def default_pool_afterwards() -> Iterator[None]:
    yield
    greeter.shutdown()
    greeter.configure_pool()


def mixed_worker(k: int, deadline: float, counts: list[int], failures: list[str]) -> None:
    """Sync greet/add, RustStrings closed and dropped, and async batches on its own loop."""
    i = 0
    try:
        while i == 0 or time.monotonic() < deadline:  # at least one round each
            name = f"t{k}-{i}-ü"
            got = greeter.greet(name)
            if got != f"Hello, {name}!":
                failures.append(f"greet {name!r} -> {got!r}")
            if greeter.add_numbers(i, -k) != i - k:
                failures.append(f"add {i} {-k}")
            with greeter.greeting(name) as s:
                if s.value != f"Hello, {name}!":
                    failures.append(f"greeting {name!r}")
            dropped = greeter.greeting(name * 40)  # long: freed when collected, never closed
            if bytes(dropped) != f"Hello, {name * 40}!".encode():
                failures.append(f"dropped greeting {name!r}")
            del dropped
            if i % 16 == 0:
                names = [f"{name}-a{j}" for j in range(20)]
                results = asyncio.run(gather_all(names))
                if results != [f"Async Hello, {n}!" for n in names]:
                    failures.append(f"async batch {name!r}")
            i += 1
    except BaseException as e:  # reported, not swallowed: the test fails on it
        failures.append(f"thread {k}: {e!r}")
    counts[k] = i


async def gather_all(names: list[str]) -> list[str]:
    return await asyncio.gather(*(greeter.greet_async(n) for n in names))


class TestThreads:
    def test_sixteen_threads_mixing_every_call_get_exact_results(self) -> None:
        counts = [0] * THREADS
        failures: list[str] = []
        deadline = time.monotonic() + STRESS_SECONDS
        threads = [
            threading.Thread(target=mixed_worker, args=(k, deadline, counts, failures))
            for k in range(THREADS)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
            assert not t.is_alive(), "a stress thread hung"
        assert failures == []
        assert all(c > 0 for c in counts), counts

    def test_failing_and_succeeding_greets_on_many_threads_keep_their_own_status(
        self,
    ) -> None:
        # Regression: greet() gave its (buffer, status) pair back to the shared pool before
        # reading and clearing the status of a failure. Another thread could take the pair and
        # overwrite the status meanwhile: a wrong exception ("error code 0"), a message read
        # after it was freed, then a double free ("malloc(): unaligned tcache chunk detected"
        # after ~9M calls of the soak).
        failures: list[str] = []

        def hammer() -> None:
            for _ in range(10_000):
                try:
                    greeter.greet("a\0b")
                except greeter.InteriorNulError as e:
                    if str(e) != "name contains a NUL byte at offset 1":
                        failures.append(repr(e))
                        return
                except BaseException as e:
                    failures.append(repr(e))
                    return
                else:
                    failures.append("a NUL was accepted")
                    return
                if greeter.greet("ok") != "Hello, ok!":
                    failures.append("wrong greeting")
                    return

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert failures == []

    def test_one_rust_string_read_and_closed_from_many_threads(self) -> None:
        for _ in range(50):
            s = greeter.greeting("shared")
            seen: list[str] = []
            start = threading.Barrier(8)

            def use(
                s: greeter.RustString = s,
                seen: list[str] = seen,
                start: threading.Barrier = start,
            ) -> None:
                start.wait()
                for _ in range(20):
                    try:
                        seen.append(s.value)
                    except ValueError:
                        seen.append("closed")
                    s.close()

            threads = [threading.Thread(target=use) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert set(seen) <= {"Hello, shared!", "closed"}
            assert s.closed


def rss() -> int:
    """The resident set size in bytes, from /proc (Linux, like the package)."""
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class TestShortSoak:
    def test_hundreds_of_thousands_of_calls_do_not_grow_memory(self) -> None:
        def round_of_calls(n: int) -> None:
            for i in range(n):
                assert greeter.greet("soak") == "Hello, soak!"
                assert greeter.add_numbers(i, 1) == i + 1
                if i % 4 == 0:
                    with greeter.greeting("soak") as s:
                        assert len(s) == 12
            names = [f"s{j}" for j in range(500)]
            assert asyncio.run(gather_all(names)) == [f"Async Hello, {n}!" for n in names]

        round_of_calls(20_000)  # warm up: buffers, pool, allocator arenas
        gc.collect()
        start = rss()
        for _ in range(5):
            round_of_calls(30_000)  # 5 x (30k greet + 30k add + 7.5k greeting + 500 async)
        gc.collect()
        growth = rss() - start
        # Generous: a leak of one greeting per call would be > 5 MiB here.
        assert growth < 8 * 2**20, f"RSS grew by {growth} bytes"
        assert greeter.live_strings() == 0


class BlockedWorker:
    """Occupies a worker thread through the tutorial's async_greet: its callback waits."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.freed = threading.Event()

        def on_result(ptr: Any) -> None:
            self.started.set()
            self.release.wait(30)
            lib.free_string(ptr)
            self.freed.set()

        callback = ffi.callback("void(char *)", on_result)

        self._callback = callback  # kept alive until it has run
        lib.async_greet(b"block", callback)
        assert self.started.wait(10), "the blocking task never started"

    def unblock(self) -> None:
        self.release.set()
        assert self.freed.wait(10)


class TestBackpressure:
    @pytest.mark.usefixtures("default_pool_afterwards")
    def test_a_storm_larger_than_the_queue_waits_for_room_and_is_exact(self) -> None:
        greeter.shutdown()
        greeter.configure_pool(threads=1, queue_capacity=64)
        names = [f"storm{i}" for i in range(5000)]
        assert asyncio.run(gather_all(names)) == [f"Async Hello, {n}!" for n in names]
        assert greeter.pool_size() == (1, 64)

    @pytest.mark.usefixtures("default_pool_afterwards")
    def test_awaiting_tasks_wait_while_the_only_worker_is_busy(self) -> None:
        greeter.shutdown()
        greeter.configure_pool(threads=1, queue_capacity=8)
        blocked = BlockedWorker()

        async def run() -> list[str]:
            pending = asyncio.ensure_future(gather_all([f"w{i}" for i in range(100)]))
            await asyncio.sleep(0.05)  # they fill the queue and wait for room
            assert not pending.done()
            blocked.unblock()
            return await pending

        assert asyncio.run(run()) == [f"Async Hello, w{i}!" for i in range(100)]

    @pytest.mark.usefixtures("default_pool_afterwards")
    def test_the_raw_submit_reports_queue_full(self) -> None:
        greeter.shutdown()
        greeter.configure_pool(threads=1, queue_capacity=64)
        blocked = BlockedWorker()
        queue = _pool.CompletionQueue()

        def submit(name: bytes) -> int:
            first, n = queue.submit(lib.greeter_greet_submit, (), [name])
            assert n == 1
            return first

        try:
            ids = [submit(f"q{i}".encode()) for i in range(64)]
            with pytest.raises(greeter.QueueFullError) as info:
                submit(b"one too many")
            assert info.value.code == lib.GREETER_ERR_QUEUE_FULL
            assert isinstance(info.value, RuntimeError)
            # Cancelling a queued task makes room for exactly one more.
            assert _pool.task_cancel(ids.pop()) == 1
            ids.append(submit(b"q63"))
            with pytest.raises(greeter.QueueFullError):
                submit(b"still full")
            blocked.unblock()
            got: dict[int, bytes | None] = {}
            deadline = time.monotonic() + 30
            while len(got) < 64 and time.monotonic() < deadline:
                for task_id, value, error in queue.drain():
                    assert error is None
                    assert task_id not in got
                    got[task_id] = value
                time.sleep(0.001)
            want = {task_id: f"Async Hello, q{i}!".encode() for i, task_id in enumerate(ids)}
            assert got == want
        finally:
            queue.close()

    @pytest.mark.usefixtures("default_pool_afterwards")
    def test_a_shut_down_pool_fails_queued_and_new_work(self) -> None:
        greeter.shutdown()
        greeter.configure_pool(threads=1, queue_capacity=16)
        blocked = BlockedWorker()

        async def run() -> list[str | BaseException]:
            pending = asyncio.ensure_future(
                asyncio.gather(
                    *(greeter.greet_async(f"x{i}") for i in range(5)), return_exceptions=True
                )
            )
            await asyncio.sleep(0.01)  # all five queued behind the blocked worker
            threading.Timer(0.05, blocked.release.set).start()
            greeter.shutdown()  # fails the queued five, joins the worker once released
            return await pending

        results = asyncio.run(run())
        assert len(results) == 5
        assert all(isinstance(r, greeter.PoolShutDownError) for r in results), results
        with pytest.raises(greeter.PoolShutDownError):
            asyncio.run(greeter.greet_async("refused"))
