#!/usr/bin/env python3
"""greeter's one representative workload: every public path, its errors, threads, objects,
async calls with cancellation and the tutorial's ctypes path, with exact results.

    python benchmarks/workload.py [--size 200] [--calls N] [--threads 1] [--rss] [--prove-leak]

One pass covers: sync greet/add/greet_many and their errors (also from four threads at once),
RustStrings closed and dropped, greet_async with cancellation before and after the work
reached Rust and a worker panic, greeter.Greeter objects (refused templates, closed, dropped
unclosed, closed while four threads and queued async calls use them, async calls cancelled),
and the tutorial-compatible API through ctypes (add_numbers, greet/free_string, async_greet
with a CFUNCTYPE callback that frees the string). ``--size`` sets how many times each part
repeats in a pass. Passes repeat until ``--calls`` greeter calls were made (default: one
pass), on ``--threads`` threads at once. Exits 1 unless live_strings() and live_objects()
are back to 0 at the end.

Its uses: the valgrind memcheck (``scripts/valgrind_check.sh`` runs one pass under
memcheck; ``--prove-leak`` leaks one greeter_greet result on purpose, so that the check can
be shown to fail on a real leak) and the soak (``--calls 5000000 --rss``: the RSS is sampled
after every pass, and growth over ``--max-growth-mib`` past the warm-up pass fails the run;
``python benchmarks/bench.py --soak`` runs the same).
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import greeter
from greeter._greeter_cffi import ffi, lib


def sync_calls(size: int) -> int:
    """greet (both buffer paths), add_numbers, greet_many and their errors; returns calls made."""
    batch = [f"b{i}" for i in range(10)]
    for i in range(size):
        name = f"workload-{i}-é"
        assert greeter.greet(name) == f"Hello, {name}!"
        assert greeter.greet(name * 30) == f"Hello, {name * 30}!"  # longer than the pooled buffer
        assert greeter.add_numbers(i, -7) == i - 7
        assert greeter.greet_many(batch) == [f"Hello, {b}!" for b in batch]
        for bad in ("a\0b", "x" * 300 + "\0"):
            try:
                greeter.greet(bad)
            except greeter.InteriorNulError:
                pass
            else:
                raise AssertionError("a NUL was accepted")
        try:
            greeter.add_numbers(2**31 - 1, 1 + i)
        except greeter.GreeterOverflowError:
            pass
        else:
            raise AssertionError("overflow not reported")
    return size * 7


def threaded_errors(size: int) -> int:
    """Failing and succeeding calls on four threads at once (shared scratch statuses)."""
    failures: list[str] = []

    def work() -> None:
        for _ in range(size * 5):
            try:
                greeter.greet("a\0b")
            except greeter.InteriorNulError as e:
                if str(e) != "name contains a NUL byte at offset 1":
                    failures.append(repr(e))
            except Exception as e:
                failures.append(repr(e))
            if greeter.greet("ok") != "Hello, ok!":
                failures.append("wrong greeting")

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures, failures[:3]
    return 4 * size * 5 * 2


def rust_strings(size: int) -> int:
    for i in range(size):
        with greeter.greeting(f"closed-{i}") as s:
            assert s.value == f"Hello, closed-{i}!"
        s.close()  # idempotent
        dropped = greeter.greeting(f"dropped-{i}")
        assert bytes(dropped) == f"Hello, dropped-{i}!".encode()
        del dropped  # freed by the cffi destructor, never closed
    gc.collect()
    return size * 2


async def async_calls(size: int) -> int:
    names = [f"async-{i}" for i in range(size)]
    got = await asyncio.gather(*(greeter.greet_async(n) for n in names))
    assert got == [f"Async Hello, {n}!" for n in names]
    # Cancelled before the work reached Rust: the coroutine never submitted.
    early = [asyncio.ensure_future(greeter.greet_async(f"early-{i}")) for i in range(size)]
    for t in early:
        t.cancel()
    # Cancelled after it reached Rust: submitted, then cancelled queued, running or done.
    late = [asyncio.ensure_future(greeter.greet_async(f"late-{i}")) for i in range(size)]
    await asyncio.sleep(0)
    await asyncio.sleep(0.01)
    for t in late:
        t.cancel()
    results = await asyncio.gather(*early, *late, return_exceptions=True)
    for r in results:
        assert isinstance(r, asyncio.CancelledError) or str(r).startswith("Async Hello, late-")
    return size * 3


async def async_panic() -> int:
    """A worker panic on the async path. The injection is process-wide: one thread only."""
    lib.greeter_debug_inject_panics(1)
    try:
        await greeter.greet_async("panic")
    except greeter.RustPanicError:
        pass
    else:
        raise AssertionError("the injected panic was lost")
    return 1


def greeter_objects(size: int) -> int:
    calls = 0
    for bad in ("no placeholder", "{nme}", "{name", "{name}\0", "{name}" + "x" * 70_000):
        calls += 1
        try:
            greeter.Greeter(bad)
        except greeter.InvalidTemplateError:
            pass
        else:
            raise AssertionError(f"template {bad[:20]!r} was accepted")
    for i in range(size):
        with greeter.Greeter(f"{i}: {{name}} {{{{{i}}}}} {{name}}") as g:
            assert g.greet("é") == f"{i}: é {{{i}}} é"
            assert g.greet("x" * 300) == f"{i}: {'x' * 300} {{{i}}} {'x' * 300}"
            assert g.greet_many(["a", "", "世"]) == [
                f"{i}: a {{{i}}} a",
                f"{i}:  {{{i}}} ",
                f"{i}: 世 {{{i}}} 世",
            ]
            try:
                g.greet_many(["ok", "a\0b"])
            except greeter.InteriorNulError:
                pass
            else:
                raise AssertionError("a NUL was accepted")
        dropped = greeter.Greeter("<{name}>")
        assert dropped.greet(str(i)) == f"<{i}>"
        del dropped  # freed by the cffi destructor, never closed
        calls += 7
    # Closed while four threads call it: the calls in flight finish, the later ones raise.
    shared = greeter.Greeter("[{name}]")
    errors: list[str] = []
    made = [0] * 4
    started = threading.Barrier(5)

    def work(n: int) -> None:
        started.wait()
        while True:  # until the close
            try:
                if shared.greet(f"t{made[n]}") != f"[t{made[n]}]":
                    errors.append("wrong greeting")
            except ValueError:
                return
            made[n] += 1

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    started.wait()
    shared.close()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    gc.collect()
    return calls + 2 + sum(made)


async def greeter_objects_async(size: int) -> int:
    g = greeter.Greeter("«{name}»")
    done = [asyncio.ensure_future(g.greet_async(f"a{i}")) for i in range(size)]
    cancelled = [asyncio.ensure_future(g.greet_async(f"c{i}")) for i in range(size)]
    await asyncio.sleep(0)  # submitted: queued or running in Rust
    g.close()  # in flight: they complete, the Rust object outlives the close
    for t in cancelled:
        t.cancel()
    assert await asyncio.gather(*done) == [f"«a{i}»" for i in range(size)]
    for r in await asyncio.gather(*cancelled, return_exceptions=True):
        assert isinstance(r, asyncio.CancelledError) or str(r).startswith("«c")
    return size * 2 + 2


CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def tutorial_ctypes(size: int) -> int:
    tutorial = ctypes.CDLL(str(greeter.library_path()))
    tutorial.add_numbers.argtypes = [ctypes.c_int32, ctypes.c_int32]
    tutorial.add_numbers.restype = ctypes.c_int32
    tutorial.greet.argtypes = [ctypes.c_char_p]
    tutorial.greet.restype = ctypes.c_void_p  # a pointer we own, not a copied bytes object
    tutorial.free_string.argtypes = [ctypes.c_void_p]
    tutorial.free_string.restype = None
    tutorial.async_greet.argtypes = [ctypes.c_char_p, CALLBACK]
    tutorial.async_greet.restype = None

    for i in range(size):
        assert tutorial.add_numbers(i, 5) == i + 5
        ptr = tutorial.greet(f"tutorial-{i}".encode())
        assert ctypes.string_at(ptr) == f"Hello, tutorial-{i}!".encode()
        tutorial.free_string(ptr)
    assert tutorial.greet(None) is None
    assert tutorial.greet(b"\xff") is None

    received: list[bytes | None] = []
    done = threading.Event()

    def on_result(ptr: int | None) -> None:
        received.append(None if ptr is None else ctypes.string_at(ptr))
        tutorial.free_string(ptr)
        if len(received) == size:
            done.set()

    callback = CALLBACK(on_result)  # kept alive until every call has called back
    for i in range(size):
        tutorial.async_greet(f"tutorial-async-{i}".encode(), callback)
    assert done.wait(120), "tutorial-API callbacks missing"
    got = sorted(r for r in received if r is not None)
    assert got == sorted(f"Async Hello, tutorial-async-{i}!".encode() for i in range(size))
    return size * 4 + 2


def one_pass(size: int) -> int:
    """Every part of the workload once (safe to run on several threads at once)."""
    return (
        sync_calls(size)
        + threaded_errors(size)
        + rust_strings(size)
        + asyncio.run(async_calls(size))
        + greeter_objects(size)
        + asyncio.run(greeter_objects_async(size))
        + tutorial_ctypes(size)
    )


def passes_on_threads(size: int, threads: int) -> int:
    """One pass on each of ``threads`` threads at once (the panic on this one, first)."""
    calls = asyncio.run(async_panic())
    if threads == 1:
        return calls + one_pass(size)
    made: list[int] = []
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            made.append(one_pass(size))
        except BaseException as e:
            failures.append(e)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if failures:
        raise failures[0]
    return calls + sum(made)


def prove_leak() -> None:
    """Leaks one greeting on purpose: greeter_greet's result is never freed."""
    length = ffi.new("size_t *")
    ptr = lib.greeter_greet(b"leaked", 6, length)
    assert ptr != ffi.NULL
    del ptr  # the only reference to the string is gone: definitely lost


def rss_bytes() -> int:
    """Resident memory, from /proc (Linux only, like the package)."""
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@dataclass
class Run:
    """What a run did: calls, passes, time, and the RSS after each pass."""

    calls: int = 0
    passes: int = 0
    seconds: float = 0.0
    rss: list[int] = field(default_factory=list)


def run(size: int, calls: int, threads: int, on_pass: Callable[[Run], None] | None = None) -> Run:
    """Passes until ``calls`` calls were made (at least one pass)."""
    done = Run()
    started = time.perf_counter()
    while done.passes == 0 or done.calls < calls:
        done.calls += passes_on_threads(size, threads)
        done.passes += 1
        done.rss.append(rss_bytes())
        if on_pass is not None:
            on_pass(done)
    done.seconds = time.perf_counter() - started
    return done


def finish(leaked: int, out: Callable[[str], None]) -> bool:
    """Joins the workers (no thread left running under valgrind) and checks the counters."""
    greeter.shutdown()
    gc.collect()
    live, objects = greeter.live_strings(), greeter.live_objects()
    out(f"live Rust strings at the end: {live}, live Rust objects: {objects}")
    return live == leaked and objects == 0


def mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def soak(
    calls: int, size: int, threads: int, max_growth_mib: float, out: Callable[[str], None]
) -> int:
    """``calls`` calls after a warm-up pass, RSS sampled after each pass; an exit status."""
    run(size, 0, threads)  # warm-up: buffers, worker pool, allocator arenas
    gc.collect()
    baseline = rss_bytes()

    def progress(done: Run) -> None:
        if done.passes % 25 == 0:
            out(f"  {done.calls:>12,} calls  RSS {mib(done.rss[-1])}")

    done = run(size, calls, threads, progress)
    gc.collect()
    final = rss_bytes()
    half = done.rss[len(done.rss) // 2 :]
    out(
        f"soak: {done.calls:,} mixed calls in {done.passes:,} passes on {threads} thread(s), "
        f"{done.seconds:.1f} s ({done.calls / done.seconds:,.0f} calls/s)"
    )
    out(
        f"  RSS: after the warm-up {mib(baseline)}, peak {mib(max(done.rss))}, end {mib(final)}; "
        f"growth {mib(final - baseline)} (bound {max_growth_mib} MiB), "
        f"over the second half {mib(half[-1] - half[0])}"
    )
    ok = finish(0, out) and final - baseline <= max_growth_mib * 2**20
    out("soak: OK" if ok else "soak: FAILED")
    return 0 if ok else 1


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid int value: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[1])
    parser.add_argument("--size", type=positive, default=200, help="repeats of each part per pass")
    parser.add_argument("--calls", type=positive, default=1, help="passes until this many calls")
    parser.add_argument("--threads", type=positive, default=1, help="passes on this many threads")
    parser.add_argument("--rss", action="store_true", help="soak: sample and bound the RSS")
    parser.add_argument("--max-growth-mib", type=float, default=16.0)
    parser.add_argument("--prove-leak", action="store_true", help="leak one string on purpose")
    args = parser.parse_args(argv)
    if args.rss:
        return soak(args.calls, args.size, args.threads, args.max_growth_mib, print)
    done = run(args.size, args.calls, args.threads)
    if args.prove_leak:
        prove_leak()
    print(f"workload: {done.calls:,} calls in {done.passes} pass(es) of size {args.size}")
    leaked = 1 if args.prove_leak else 0
    if not finish(leaked, print):
        print(f"live_strings() should be {leaked}, live_objects() 0", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
