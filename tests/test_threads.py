"""Threads: concurrent calls give exact results (cffi releases the GIL around each call)."""

from __future__ import annotations

import gc
import threading

import greeter

THREADS = 8
CALLS = 10_000


def test_eight_threads_ten_thousand_distinct_names_each() -> None:
    gc.collect()
    before = greeter.live_strings()
    wrong: list[tuple[str, str]] = []
    start = threading.Barrier(THREADS)

    def work(t: int) -> None:
        start.wait()
        for i in range(CALLS):
            name = f"thread{t}-call{i}-{'é' * (i % 7)}"
            result = greeter.greet(name)
            if result != f"Hello, {name}!":
                wrong.append((name, result))
            if i % 10 == 0:
                with greeter.greeting(name) as s:
                    if s.value != f"Hello, {name}!":
                        wrong.append((name, s.value))
            if greeter.add_numbers(i, t) != i + t:
                wrong.append((name, "add"))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
    gc.collect()
    assert greeter.live_strings() == before
