"""greeter from Python: results, owned strings, errors and asyncio.

python examples/hello.py
"""

from __future__ import annotations

import asyncio

import greeter

print(greeter.add_numbers(3, 5))
print(greeter.greet("Alice"))
with greeter.greeting("Bob") as owned:  # a RustString: Rust's allocation, freed on exit
    print(owned.value)
print(greeter.greet_many(["Ann", "Bo"]))
print(asyncio.run(greeter.greet_async("Carol")))
try:
    greeter.add_numbers(2**31 - 1, 1)
except greeter.GreeterOverflowError as exc:
    print(f"{type(exc).__name__}: {exc}")
print(f"live strings: {greeter.live_strings()}")
