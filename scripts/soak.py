#!/usr/bin/env python3
"""Soak: millions of greeter calls with RSS sampled; fails on memory growth or a live string.

    python scripts/soak.py [--calls 5000000] [--max-growth-mib 16] [--threads 2]

Linux only (the RSS comes from /proc/self/statm), like the package.

Each round makes, per thread, 10,000 greet, 10,000 add_numbers, 2,000 greeting (half
closed, half dropped), 1,000 greet_async (gathered on the thread's own loop) and 100 calls
that fail (a NUL, an overflow). The RSS is sampled after every round; the baseline is taken
after a warm-up (buffers, worker pool, allocator arenas). Every result is checked exactly.
Exits 1 if the RSS grew by more than --max-growth-mib over the baseline or live_strings() is
not 0 at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import threading
import time

import greeter

GREET, ADD, OWNED, ASYNC, ERRORS = 10_000, 10_000, 2_000, 1_000, 100
PER_ROUND = GREET + ADD + OWNED + ASYNC + ERRORS


async def gather(names: list[str]) -> list[str]:
    return await asyncio.gather(*(greeter.greet_async(n) for n in names))


def one_round(tag: str) -> None:
    for _ in range(GREET):
        if greeter.greet(tag) != f"Hello, {tag}!":
            raise AssertionError(f"greet {tag!r}")
    for i in range(ADD):
        if greeter.add_numbers(i, -i) != 0:
            raise AssertionError("add")
    for _ in range(OWNED // 2):
        with greeter.greeting(tag) as s:
            if len(s) != len(tag) + 8:
                raise AssertionError("greeting")
        dropped = greeter.greeting(tag)  # freed when collected
        del dropped
    names = [f"{tag}{i}" for i in range(ASYNC)]
    if asyncio.run(gather(names)) != [f"Async Hello, {n}!" for n in names]:
        raise AssertionError("greet_async")
    for _ in range(ERRORS // 2):
        try:
            greeter.greet("a\0b")
        except greeter.InteriorNulError:
            pass
        else:
            raise AssertionError("a NUL was accepted")
        try:
            greeter.add_numbers(2**31 - 1, 1)
        except greeter.GreeterOverflowError:
            pass
        else:
            raise AssertionError("an overflow was not reported")


def run_rounds(rounds: int, threads: int) -> None:
    if threads == 1:
        for _ in range(rounds):
            one_round("soak")
        return
    failures: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for _ in range(rounds):
                one_round(f"soak{k}")
        except BaseException as e:
            failures.append(e)

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    if failures:
        raise failures[0]


def rss() -> int:
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5_000_000)
    parser.add_argument("--max-growth-mib", type=float, default=16.0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    run_rounds(3, args.threads)  # warm-up
    gc.collect()
    baseline = rss()
    peak = baseline
    calls = 0
    started = time.perf_counter()
    samples: list[int] = []
    while calls < args.calls:
        run_rounds(1, args.threads)
        calls += PER_ROUND * args.threads
        now = rss()
        samples.append(now)
        peak = max(peak, now)
        if len(samples) % 25 == 0:
            print(f"  {calls:>10,} calls  rss {mib(now)}", flush=True)
    elapsed = time.perf_counter() - started
    gc.collect()
    final = rss()
    growth = final - baseline
    live = greeter.live_strings()
    # The second half's samples against the first half's: a leak keeps climbing.
    half = len(samples) // 2
    late_drift = max(samples[half:]) - max(samples[:half]) if half else 0
    print(f"calls {calls:,} in {elapsed:.1f}s ({calls / elapsed:,.0f}/s, {args.threads} threads)")
    print(f"rss baseline {mib(baseline)}, peak {mib(peak)}, final {mib(final)}")
    print(
        f"growth {mib(growth)} (bound {args.max_growth_mib} MiB); "
        f"second-half peak minus first-half peak {mib(late_drift)}"
    )
    print(f"live_strings() {live}")
    ok = growth <= args.max_growth_mib * 2**20 and live == 0
    print("soak: OK" if ok else "soak: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
