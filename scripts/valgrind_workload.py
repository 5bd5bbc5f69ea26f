#!/usr/bin/env python3
"""A representative greeter workload for scripts/valgrind_check.sh (run under memcheck).

Covers: sync greet/add and their errors (also from four threads at once), RustString
closed and dropped, greet_async with cancellation before and after the work reached Rust,
greeter.Greeter objects (refused templates, closed, dropped unclosed, closed while four
threads and queued async calls use them, async calls cancelled), and the tutorial's ctypes
path (add_numbers, greet/free_string, async_greet with a CFUNCTYPE callback that frees the
string). Exits 1 unless live_strings() and live_objects() are back to 0 at the end.

    python scripts/valgrind_workload.py [--rounds N] [--prove-leak]

--prove-leak deliberately leaks one greeter_greet result (never freed), so that the valgrind
check can be shown to fail on a real leak.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import sys
import threading

import greeter
from greeter import _functions


def sync_calls(rounds: int) -> None:
    for i in range(rounds):
        name = f"valgrind-{i}-é"
        assert greeter.greet(name) == f"Hello, {name}!"
        assert greeter.greet(name * 30) == f"Hello, {name * 30}!"  # the greeter_greet path
        assert greeter.add_numbers(i, -7) == i - 7
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


def threaded_errors(rounds: int) -> None:
    """Failing and succeeding calls on several threads at once (shared scratch statuses)."""
    failures: list[str] = []

    def work() -> None:
        for _ in range(rounds * 5):
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


def rust_strings(rounds: int) -> None:
    for i in range(rounds):
        with greeter.greeting(f"closed-{i}") as s:
            assert s.value == f"Hello, closed-{i}!"
        s.close()  # idempotent
        dropped = greeter.greeting(f"dropped-{i}")
        assert bytes(dropped) == f"Hello, dropped-{i}!".encode()
        del dropped  # freed by the cffi destructor, never closed
    gc.collect()


async def async_calls(rounds: int) -> None:
    names = [f"async-{i}" for i in range(rounds)]
    got = await asyncio.gather(*(greeter.greet_async(n) for n in names))
    assert got == [f"Async Hello, {n}!" for n in names]
    # Cancelled before the work reached Rust: the coroutine never submitted.
    early = [asyncio.ensure_future(greeter.greet_async(f"early-{i}")) for i in range(rounds)]
    for t in early:
        t.cancel()
    # Cancelled after it reached Rust: submitted, then cancelled queued, running or done.
    late = [asyncio.ensure_future(greeter.greet_async(f"late-{i}")) for i in range(rounds)]
    await asyncio.sleep(0)
    await asyncio.sleep(0.01)
    for t in late:
        t.cancel()
    results = await asyncio.gather(*early, *late, return_exceptions=True)
    for r in results:
        assert isinstance(r, asyncio.CancelledError) or str(r).startswith("Async Hello, late-")
    # A worker panic on the async path.
    _functions.inject_panics(1)
    try:
        await greeter.greet_async("panic")
    except greeter.RustPanicError:
        pass
    else:
        raise AssertionError("the injected panic was lost")


def greeter_objects(rounds: int) -> None:
    for bad in ("no placeholder", "{nme}", "{name", "{name}\0", "{name}" + "x" * 70_000):
        try:
            greeter.Greeter(bad)
        except greeter.InvalidTemplateError:
            pass
        else:
            raise AssertionError(f"template {bad[:20]!r} was accepted")
    for i in range(rounds):
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
    # Closed while four threads call it: the calls in flight finish, the later ones raise.
    shared = greeter.Greeter("[{name}]")
    errors: list[str] = []

    started = threading.Barrier(5)

    def work() -> None:
        started.wait()
        k = 0
        while True:  # until the close
            try:
                if shared.greet(f"t{k}") != f"[t{k}]":
                    errors.append("wrong greeting")
            except ValueError:
                return
            k += 1

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    started.wait()
    shared.close()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    gc.collect()


async def greeter_objects_async(rounds: int) -> None:
    g = greeter.Greeter("«{name}»")
    done = [asyncio.ensure_future(g.greet_async(f"a{i}")) for i in range(rounds)]
    cancelled = [asyncio.ensure_future(g.greet_async(f"c{i}")) for i in range(rounds)]
    await asyncio.sleep(0)  # submitted: queued or running in Rust
    g.close()  # in flight: they complete, the Rust object outlives the close
    for t in cancelled:
        t.cancel()
    assert await asyncio.gather(*done) == [f"«a{i}»" for i in range(rounds)]
    for r in await asyncio.gather(*cancelled, return_exceptions=True):
        assert isinstance(r, asyncio.CancelledError) or str(r).startswith("«c")


CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


def tutorial_ctypes(rounds: int) -> None:
    lib = ctypes.CDLL(str(greeter.library_path()))
    lib.add_numbers.argtypes = [ctypes.c_int32, ctypes.c_int32]
    lib.add_numbers.restype = ctypes.c_int32
    lib.greet.argtypes = [ctypes.c_char_p]
    lib.greet.restype = ctypes.c_void_p  # a pointer we own, not a copied bytes object
    lib.free_string.argtypes = [ctypes.c_void_p]
    lib.free_string.restype = None
    lib.async_greet.argtypes = [ctypes.c_char_p, CALLBACK]
    lib.async_greet.restype = None

    for i in range(rounds):
        assert lib.add_numbers(i, 5) == i + 5
        ptr = lib.greet(f"tutorial-{i}".encode())
        assert ctypes.string_at(ptr) == f"Hello, tutorial-{i}!".encode()
        lib.free_string(ptr)
    assert lib.greet(None) is None
    assert lib.greet(b"\xff") is None

    received: list[bytes | None] = []
    done = threading.Event()

    def on_result(ptr: int | None) -> None:
        received.append(None if ptr is None else ctypes.string_at(ptr))
        lib.free_string(ptr)
        if len(received) == rounds:
            done.set()

    callback = CALLBACK(on_result)  # kept alive until every call has called back
    for i in range(rounds):
        lib.async_greet(f"tutorial-async-{i}".encode(), callback)
    assert done.wait(120), "tutorial-API callbacks missing"
    got = sorted(r for r in received if r is not None)
    assert got == sorted(f"Async Hello, tutorial-async-{i}!".encode() for i in range(rounds))


def prove_leak() -> None:
    """Leaks one greeting on purpose: greeter_greet's result is never freed."""
    from greeter._greeter_cffi import ffi, lib

    length = ffi.new("size_t *")
    ptr = lib.greeter_greet(b"leaked", 6, length, ffi.NULL)
    assert ptr != ffi.NULL
    del ptr  # the only reference to the string is gone: definitely lost


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--prove-leak", action="store_true")
    args = parser.parse_args()
    sync_calls(args.rounds)
    threaded_errors(args.rounds)
    rust_strings(args.rounds)
    asyncio.run(async_calls(args.rounds))
    greeter_objects(args.rounds)
    asyncio.run(greeter_objects_async(args.rounds))
    tutorial_ctypes(args.rounds)
    if args.prove_leak:
        prove_leak()
    greeter.shutdown()  # join the workers: no thread is left running under valgrind
    gc.collect()
    live = greeter.live_strings()
    objects = greeter.live_objects()  # the pool is joined: no task holds a Greeter any more
    expected = 1 if args.prove_leak else 0
    print(
        f"valgrind workload: {args.rounds} rounds, live_strings() = {live}, "
        f"live_objects() = {objects}"
    )
    if live != expected or objects != 0:
        print(f"live_strings() should be {expected}, live_objects() 0", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
