"""greeter's functions, as Python: what ``greeter`` exports from here is what :data:`__all__`
lists.

Each wrapper calls its export through the helpers of the layers below (:func:`_core.call`,
:func:`_strings.text`, ...) and returns Python values, never cdata. An asynchronous function is
one line: ``name_async = async_function(lib.greeter_name_submit)``.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterable
from typing import Any

from greeter._aio import async_function
from greeter._core import FAILED, call, lib, short_lib, thread_error
from greeter._strings import (
    BUFFER_LEN,
    give_buffer,
    greet_in_pieces,
    live_strings,
    new_buffer,
    new_uncleared,
    owned_function,
    take_buffer,
    unpack,
)

__all__ = [
    "add_numbers",
    "greet",
    "greet_async",
    "greet_many",
    "greeting",
    "live_strings",
]

# --- greetings --------------------------------------------------------------------------------
# The hot paths: functions and constants bound to module globals (a `lib.f` lookup per call
# costs ~20 ns), no helper call on success, one comparison to tell success from failure.

_index = operator.index
_str_encode = str.encode
_take_buffer = take_buffer
_give_buffer = give_buffer
_new_buffer = new_buffer
_unpack = unpack
_new_uncleared = new_uncleared


def _add_ints(a: int, b: int) -> int:
    """``greeter_add_numbers`` for int arguments only, refusing anything else with TypeError
    before any of its code runs: the rule the CPython extension applies in C (ffi_build.py).
    cffi's own conversion, used elsewhere (PyPy), would call ``__int__``."""
    if isinstance(a, int) and isinstance(b, int):
        total: int = _add_plain(a, b)
        return total
    raise TypeError("an int is required")


_add_plain = short_lib.greeter_add_numbers
# The build chose: CPython's extension refuses non-int arguments itself; elsewhere this does.
_add: Callable[[int, int], int] = _add_plain if lib.GREETER_BINDING_INT_ONLY else _add_ints


def _argument_index(name: str, value: Any) -> int:
    """``operator.index(value)`` (``__index__`` called once), or the TypeError naming the
    argument, chained from the error ``__index__`` raised. Other exceptions propagate."""
    try:
        index: int = _index(value)
    except TypeError as error:
        raise TypeError(
            f"add_numbers() argument '{name}' must be an integer (int or an object with "
            f"__index__), not {type(value).__name__}"
        ) from error
    return index


def _add_indexed(a: Any, b: Any) -> int:
    """add_numbers' cold path, for arguments the extension refused: Python's rule for
    integers applied to each, in order, then the call again."""
    x = _argument_index("a", a)
    y = _argument_index("b", b)
    try:
        total: int = _add(x, y)
    except OverflowError:
        raise OverflowError(f"add_numbers arguments must fit in i32, got {x} and {y}") from None
    if total != FAILED:
        return total
    raise thread_error()


def add_numbers(a: int, b: int) -> int:
    """``a + b`` for 32-bit signed integers.

    Arguments follow Python's rule for integers (``operator.index``): ``int``, ``bool`` and
    objects with ``__index__`` are accepted; a float, Fraction, Decimal or other object with
    only ``__int__`` raises TypeError naming the argument (chained from the error
    ``__index__`` raised, if it did; ``__index__`` runs once). Raises OverflowError naming the
    values for an argument outside i32 and GreeterOverflowError (an OverflowError) for a sum
    outside i32.
    """
    try:
        total: int = _add(a, b)
    except (TypeError, OverflowError):
        # Not both int (refused before any of their code ran, so each __index__ is called
        # once from here), or outside i32: the cold path reports which argument and why.
        return _add_indexed(a, b)
    if total != FAILED:
        return total
    raise thread_error()


_GREETING_EXTRA: int = lib.GREETER_GREETING_EXTRA_BYTES
# Into a pooled buffer: a short call, bounded by BUFFER_LEN (a longer name is not read).
_greet_into_pooled = short_lib.greeter_greet_into
# Into a buffer sized for a longer name: the GIL is released, as for any unbounded call.
_greet_into = lib.greeter_greet_into


# greet() is the function strings.text_function() makes, written out: made by it, greet costs
# 4,533.5 instructions instead of 4,272.4 (+6.1%, scripts/callgrind_calls.py), over the 5% its
# speed gate allows; the generic function pays for choosing its module by the name's length.
def greet(name: str) -> str:
    """``Hello, {name}!``, computed by Rust."""
    try:  # encode inlined: the hot path, where a function call is ~80 ns here
        data = _str_encode(name)
    except TypeError:
        raise TypeError(f"name must be str, not {type(name).__name__}") from None
    try:
        pair = _take_buffer()
    except IndexError:
        pair = _new_buffer()
    buf, view = pair
    n: int = _greet_into_pooled(data, len(data), buf, BUFFER_LEN)
    if 0 <= n <= BUFFER_LEN:
        result: str = view[:n].decode()
        _give_buffer(pair)
        return result
    _give_buffer(pair)
    if n == FAILED:
        raise thread_error()
    # Longer than the pooled buffer: a buffer of the size Rust asked for.
    out = _new_uncleared("char[]", n)
    if _greet_into(data, len(data), out, n) != n:
        raise thread_error()
    long: str = _unpack(out, n).decode()
    return long


greeting = owned_function(
    lib.greeter_greet,
    """``Hello, {name}!`` as a :class:`RustString` that owns the string Rust allocated.""",
    function_name="greeting",
)


_greet_many = lib.greeter_greet_many
# Batches whose greetings take at most this many bytes (about 6 us of Rust work here) keep the
# GIL; a larger batch releases it, so that other threads run while Rust works.
_SHORT_BATCH_BYTES = 1024
_greet_many_short = short_lib.greeter_greet_many


def _greet_packed(data: bytes, count: int) -> list[str]:
    """The greetings of ``count`` names packed as ``greeter_greet_many`` takes them."""
    size = len(data)
    room = size + count * _GREETING_EXTRA  # the documented exact length
    out = _new_uncleared("char[]", room)
    export = _greet_many_short if room <= _SHORT_BATCH_BYTES else _greet_many
    n: int = call(export, data, size, count, out, room)
    if n != room:
        raise RuntimeError(f"greeter_greet_many needs {n} bytes, not the documented {room}")
    greetings: list[str] = _unpack(out, n).decode().split("\0")
    return greetings


def greet_many(names: Iterable[str]) -> list[str]:
    """``[greet(name) for name in names]`` in calls into Rust that take the batch in pieces of
    thousands of names (a small batch is one call).

    The names travel as one UTF-8 buffer joined by NUL (a name can hold none), and the
    greetings come back the same way, written into a buffer this call owns. Raises TypeError
    for a non-str item (or a str/bytes given as ``names``), InteriorNulError for a name holding
    NUL and UnicodeEncodeError for one holding a lone surrogate.
    """
    return greet_in_pieces(names, _greet_packed, _GREETING_EXTRA, 1)


greet_async = async_function(lib.greeter_greet_submit)
greet_async.__doc__ = """``Async Hello, {name}!``, computed on a Rust worker thread.

    Works on any asyncio loop in any thread. Cancelling the awaiting task cancels the Rust
    task if it has not started; either way its result is freed. When the pool's queue is full
    this waits for room (backpressure) instead of failing.
    """


def inject_panics(count: int) -> int:
    """Diagnostic: the next ``count`` greetings anywhere in the process panic inside Rust."""
    previous: int = lib.greeter_debug_inject_panics(count)
    return previous
