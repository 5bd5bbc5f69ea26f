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


def test_reading_while_another_thread_closes_is_exact_or_value_error() -> None:
    # close() on one thread while others read: each read copies the whole string or sees a
    # closed RustString, never freed memory; the string is freed exactly once.
    gc.collect()
    before = greeter.live_strings()
    outcomes: set[str] = set()
    for round_ in range(300):
        s = greeter.greeting(f"race{round_}" * 20)
        expected = f"Hello, {f'race{round_}' * 20}!"
        start = threading.Barrier(3)

        def read(
            s: greeter.RustString = s, expected: str = expected, start: threading.Barrier = start
        ) -> None:
            start.wait()
            for _ in range(50):
                try:
                    value = s.value
                except ValueError:
                    outcomes.add("closed")
                    return
                outcomes.add("exact" if value == expected else f"WRONG {value!r}")

        def close(s: greeter.RustString = s, start: threading.Barrier = start) -> None:
            start.wait()
            s.close()

        threads = [threading.Thread(target=f) for f in (read, read, close)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert s.closed
    assert outcomes <= {"exact", "closed"}
    gc.collect()
    assert greeter.live_strings() == before
