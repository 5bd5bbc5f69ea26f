"""The short-call module keeps the GIL; the other module releases it; the set stays short.

greeter has two cffi modules over the same library: ``_greeter_cffi`` (every export; each call
releases the GIL, as cffi always does) and ``_greeter_cffi_short`` (only the exports marked
``Short call:``; each call keeps the GIL). These tests show both from Python, with a
deliberately slow diagnostic export that is in both modules, and hold every member of the
short set to the rule that put it there: bounded work, and no lock a worker thread can hold.
"""

from __future__ import annotations

import ast
import inspect
import sys
import sysconfig
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import greeter
from greeter import _greeter_cffi, _greeter_cffi_short
from greeter._core import SHORT_CALL_BYTES
from greeter._greeter_cffi import ffi, lib

short_lib = _greeter_cffi_short.lib
# The short-call module keeps the GIL on CPython only (ffi_build.CPYTHON_SPEEDUPS). PyPy calls C
# functions directly from its JIT, releasing its GIL cheaply, and reports no profile event for
# them: there the module is cffi's ordinary one and these tests have nothing to observe.
cpython_short_calls = pytest.mark.skipif(
    sys.implementation.name != "cpython",
    reason="the short-call module keeps the GIL on CPython only (ffi_build.py)",
)
# greeter.greet()'s buffer: greeter_greet_into reads a name only if its greeting fits.
BUFFER_LEN = 256
EXT_SUFFIX = sysconfig.get_config_var("EXT_SUFFIX")
SPIN_SECONDS = 0.4


# --- the GIL, seen from another thread ---------------------------------------------------------


def longest_stall_of_another_thread(call: Callable[[], object]) -> float:
    """Runs ``call()`` while another thread runs Python in a loop, and returns the longest time
    that thread went without running a single iteration (it needs the GIL for each one)."""
    longest = [0.0]
    stop = threading.Event()
    looping = threading.Event()

    def loop() -> None:
        last = time.monotonic()
        while not stop.is_set():
            now = time.monotonic()
            longest[0] = max(longest[0], now - last)
            last = now
            looping.set()

    thread = threading.Thread(target=loop)
    thread.start()
    try:
        assert looping.wait(10), "the looping thread never ran"
        longest[0] = 0.0
        call()
    finally:
        stop.set()
        thread.join()
    return longest[0]


def spin(module_lib: Any) -> None:
    status = ffi.new("GreeterStatus *")
    module_lib.greeter_debug_spin(int(SPIN_SECONDS * 1e6), status)
    assert status.code == lib.GREETER_OK


@cpython_short_calls
def test_a_short_call_keeps_the_gil_for_its_whole_duration() -> None:
    # While the spin runs with the GIL held, no Python bytecode runs anywhere else: the other
    # thread's stall is at least the whole spin, whatever the machine's load.
    assert longest_stall_of_another_thread(lambda: spin(short_lib)) >= SPIN_SECONDS


def test_the_same_call_through_the_other_module_releases_the_gil() -> None:
    # The same export through _greeter_cffi: the other thread keeps looping during the spin.
    # A stall of half the spin would need the OS to starve it that long; on a loaded machine
    # that can happen once, so up to three tries (a call that kept the GIL stalls every try).
    stalls = []
    for _ in range(3):
        stalls.append(longest_stall_of_another_thread(lambda: spin(lib)))
        if stalls[-1] < SPIN_SECONDS / 2:
            break
    assert min(stalls) < SPIN_SECONDS / 2, stalls


def test_the_short_module_holds_exactly_the_marked_exports(ffi_build: ModuleType) -> None:
    header = (greeter.include_dir() / "greeter.h").read_text(encoding="utf-8")
    marked = list(ffi_build.short_call_declarations(header))
    assert sorted(dir(short_lib)) == sorted(marked)
    short = {
        "greeter_add_numbers",
        "greeter_greet_into",
        "greeter_greet_many",
        "greeter_greet",
        "greeter_string_free",
        "greeter_debug_spin",
    }
    assert short <= set(marked)


def test_both_modules_share_types_and_give_the_same_results() -> None:
    # ffi.include(): a buffer or status made by either ffi passes to either lib.
    buf = _greeter_cffi_short.ffi.new("char[]", BUFFER_LEN)
    status = ffi.new("GreeterStatus *")
    for module_lib in (lib, short_lib):
        assert module_lib.greeter_add_numbers(3, 5) == 8
        assert module_lib.greeter_greet_into(b"World", 5, buf, BUFFER_LEN) == 13
        assert ffi.unpack(buf, 13) == b"Hello, World!"
        module_lib.greeter_debug_spin(lib.GREETER_DEBUG_SPIN_MAX_MICROS + 1, status)
        assert status.code == lib.GREETER_ERR_INVALID_ARGUMENT
        lib.greeter_status_clear(status)


def _thread_code() -> int:
    status = ffi.new("GreeterStatus *")
    lib.greeter_status_take_thread(status)
    code = int(status.code)
    lib.greeter_status_clear(status)
    return code


@given(st.integers(-(2**31), 2**31 - 1), st.integers(-(2**31), 2**31 - 1))
def test_add_is_the_same_call_in_both_modules(a: int, b: int) -> None:
    outputs = [(m.greeter_add_numbers(a, b), _thread_code()) for m in (lib, short_lib)]
    assert outputs[0] == outputs[1]


@given(st.binary(max_size=BUFFER_LEN))
def test_greet_into_is_the_same_call_in_both_modules(name: bytes) -> None:
    outputs = []
    for module_lib in (lib, short_lib):
        buf = ffi.new("char[]", BUFFER_LEN)
        n = module_lib.greeter_greet_into(name, len(name), buf, BUFFER_LEN)
        text = ffi.unpack(buf, n) if 0 <= n <= BUFFER_LEN else b""
        outputs.append((n, text, _thread_code()))
    assert outputs[0] == outputs[1]


@given(st.lists(st.binary(max_size=12), min_size=1, max_size=8), st.integers(0, 3))
def test_greet_many_is_the_same_call_in_both_modules(names: list[bytes], short_by: int) -> None:
    packed = b"\0".join(names)
    room = max(0, len(packed) + lib.GREETER_GREETING_EXTRA_BYTES * len(names) - short_by)
    outputs = []
    for module_lib in (lib, short_lib):
        out, status = ffi.new("char[]", room + 1), ffi.new("GreeterStatus *")
        n = module_lib.greeter_greet_many(packed, len(packed), len(names), out, room, status)
        outputs.append((n, ffi.unpack(out, n) if n <= room else b"", status.code))
        lib.greeter_status_clear(status)
    assert outputs[0] == outputs[1]


@given(st.integers(lib.GREETER_DEBUG_SPIN_MAX_MICROS + 1, 2**32 - 1))
def test_spin_refuses_any_wait_past_its_bound(micros: int) -> None:
    for module_lib in (lib, short_lib):
        status = ffi.new("GreeterStatus *")
        module_lib.greeter_debug_spin(micros, status)
        assert status.code == lib.GREETER_ERR_INVALID_ARGUMENT
        lib.greeter_status_clear(status)


# --- the rule of the set: bounded work, no lock a worker can hold --------------------------------


@dataclass
class ShortCall:
    """How to exercise one short call: inputs it must handle without taking a lock, and how
    its bound is enforced."""

    inputs: list[tuple[Any, ...]]
    # Arguments just past the export's stated bound, and the exact refusal it returns. Empty
    # only for constant_work exports, whose arguments must all be plain numbers.
    over_bound: list[tuple[tuple[Any, ...], int]] = field(default_factory=list)
    constant_work: bool = False
    # Or the length the work grows with, one the caller passes or made (a name's, a string's
    # it was handed), as the export's "Short call:" paragraph states: greeter's wrappers call
    # the short module only when it is at most SHORT_CALL_BYTES (tested below).
    caller_bound: str = ""


def _buffer() -> Any:
    return ffi.new("char[]", BUFFER_LEN)


NAME_MAX = BUFFER_LEN - lib.GREETER_GREETING_EXTRA_BYTES
I32_MAX = 2**31 - 1
STATUS_TYPE = ffi.typeof("GreeterStatus *")
STRING_TYPE = ffi.typeof("char *")

# One entry per export of the short-call module; the test below fails for a missing one.
SHORT_CALLS: dict[str, Callable[[], ShortCall]] = {
    "greeter_add_numbers": lambda: ShortCall(
        inputs=[(3, 5), (I32_MAX, I32_MAX), (-I32_MAX - 1, -1)], constant_work=True
    ),
    "greeter_greet_into": lambda: ShortCall(
        inputs=[
            (b"World", 5, _buffer(), BUFFER_LEN),
            (b"x" * NAME_MAX, NAME_MAX, _buffer(), BUFFER_LEN),
            (b"\xff", 1, _buffer(), BUFFER_LEN),  # refused (UTF-8) with a message: no lock
            (b"a\0b", 3, _buffer(), BUFFER_LEN),
        ],
        over_bound=[
            # The bound is the caller's buffer: a name too long for it is not read, and the
            # room it needs comes back, even for a length no buffer could hold.
            ((b"x" * (NAME_MAX + 1), NAME_MAX + 1, _buffer(), BUFFER_LEN), BUFFER_LEN + 1),
            ((b"x", 2**62, _buffer(), BUFFER_LEN), 2**62 + lib.GREETER_GREETING_EXTRA_BYTES),
        ],
    ),
    "greeter_greet_many": lambda: ShortCall(
        inputs=[
            (b"Ann\0Bo", 6, 2, _buffer(), BUFFER_LEN, ffi.new("GreeterStatus *")),
            (b"a\xff", 2, 1, _buffer(), BUFFER_LEN, ffi.new("GreeterStatus *")),  # refused
        ],
        over_bound=[
            # As for greet_into: greetings that cannot fit are not read, whatever the length.
            ((b"a\0b", 3, 2, _buffer(), 18, ffi.new("GreeterStatus *")), 19),
            ((ffi.NULL, 2**62, 2, _buffer(), BUFFER_LEN, ffi.new("GreeterStatus *")), 2**62 + 16),
        ],
    ),
    "greeter_greeter_greet_into": lambda: _greeter_greet_into_case(),
    "greeter_greet": lambda: ShortCall(
        inputs=[
            (b"World", 5, ffi.new("size_t *")),
            (b"x" * SHORT_CALL_BYTES, SHORT_CALL_BYTES, ffi.NULL),
            (b"\xff", 1, ffi.NULL),  # refused (UTF-8) with a message: no lock
            (b"a\0b", 3, ffi.NULL),
        ],
        caller_bound="name_len",
    ),
    "greeter_string_free": lambda: ShortCall(
        inputs=[(lib.greeter_greet(b"x" * SHORT_CALL_BYTES, SHORT_CALL_BYTES, ffi.NULL),)],
        caller_bound="the length of the string freed",
    ),
    "greeter_debug_spin": lambda: ShortCall(
        inputs=[(0, ffi.NULL), (1000, ffi.new("GreeterStatus *"))],
        over_bound=[
            (
                (lib.GREETER_DEBUG_SPIN_MAX_MICROS + 1, ffi.new("GreeterStatus *")),
                lib.GREETER_ERR_INVALID_ARGUMENT,
            )
        ],
    ),
}


def _greeter_greet_into_case() -> ShortCall:
    # A two-placeholder template: a greeting is 3 literal bytes plus the name twice.
    text = b"<{name}|{name}>"
    handle = ffi.gc(lib.greeter_greeter_new(text, len(text), ffi.NULL), lib.greeter_greeter_free)
    fits = (BUFFER_LEN - 3) // 2
    return ShortCall(
        inputs=[
            (handle, b"World", 5, _buffer(), BUFFER_LEN),
            (handle, b"x" * fits, fits, _buffer(), BUFFER_LEN),
            (handle, b"\xff", 1, _buffer(), BUFFER_LEN),
            (handle, b"a\0b", 3, _buffer(), BUFFER_LEN),
        ],
        over_bound=[
            ((handle, b"x" * (fits + 1), fits + 1, _buffer(), BUFFER_LEN), 2 * fits + 5),
            ((handle, b"x", 2**61, _buffer(), BUFFER_LEN), 2**62 + 3),
        ],
    )


def rule_violations(name: str, function: Any, case: ShortCall) -> list[str]:
    """What keeps ``function`` from being a short call; empty when it is one."""
    problems = []
    kinds = [arg.kind for arg in ffi.typeof(function).args]
    if not (
        case.over_bound or case.caller_bound or (case.constant_work and set(kinds) <= {"primitive"})
    ):
        problems.append(f"{name}: no enforced bound (and not constant work on plain numbers)")
    calls = [(args, None) for args in case.inputs] + list(case.over_bound)
    for args, refusal in calls:
        before = lib.greeter_debug_locks_taken()
        result = function(*args)
        taken = lib.greeter_debug_locks_taken() - before
        if result is None and refusal is not None:  # a void export reports in its status
            result = args[-1].code
        # Free what the call handed out: a failure's message, a string.
        for arg in args:
            if not isinstance(arg, int | bytes) and ffi.typeof(arg) is STATUS_TYPE:
                lib.greeter_status_clear(arg)
        if not isinstance(result, int | None) and ffi.typeof(result) is STRING_TYPE:
            lib.greeter_string_free(result)
            if result == ffi.NULL:  # a refusal into the thread's status: taken
                _thread_code()
        if taken:
            problems.append(f"{name}{args!r:.60} took {taken} pool/queue lock(s)")
        if refusal is not None and result != refusal:
            problems.append(f"{name}{args!r:.60} returned {result}, not the refusal {refusal}")
    return problems


@pytest.mark.parametrize("name", sorted(dir(short_lib)))
def test_every_short_call_is_bounded_and_takes_no_lock(name: str) -> None:
    assert name in SHORT_CALLS, (
        f"{name} is marked 'Short call:' but has no entry in SHORT_CALLS: add its inputs and "
        "the refusal past its bound"
    )
    assert rule_violations(name, getattr(short_lib, name), SHORT_CALLS[name]()) == []


def test_the_rule_catches_an_export_that_takes_a_lock() -> None:
    # The probe is real: the pool's getters lock the pool, cancelling locks its task table. Put
    # in the short set, they would fail the test above.
    for name in ["greeter_pool_size", "greeter_task_cancel"]:
        function = getattr(lib, name)
        status = ffi.new("GreeterStatus *")
        args = (ffi.NULL, ffi.NULL, status) if name == "greeter_pool_size" else (12345, status)
        problems = rule_violations(name, function, ShortCall(inputs=[args], constant_work=True))
        assert any("lock" in p for p in problems), (name, problems)


def test_the_rule_catches_an_unbounded_export() -> None:
    # greeter_greet reads and allocates for a name of any length: it enforces no bound of its
    # own, and a bound claimed for it (a huge name left unread) does not hold.
    length = ffi.new("size_t *")
    case = ShortCall(inputs=[(b"Ann", 3, length)])
    problems = rule_violations("greeter_greet", lib.greeter_greet, case)
    assert problems == ["greeter_greet: no enforced bound (and not constant work on plain numbers)"]
    claimed = ShortCall(inputs=[], over_bound=[((ffi.NULL, 2**62, length), 2**62 + 8)])
    problems = rule_violations("greeter_greet", lib.greeter_greet, claimed)
    assert len(problems) == 1
    assert "not the refusal" in problems[0]


# --- greeter's wrappers: short inputs through the short module, the rest through the other ------


def _exports_called(call: Callable[[], object]) -> list[str]:
    """The exports ``call()`` calls, in order, as ``short.<name>`` or ``lib.<name>``."""
    exports = {id(getattr(lib, n)): f"lib.{n}" for n in dir(lib) if callable(getattr(lib, n))}
    exports.update({id(getattr(short_lib, n)): f"short.{n}" for n in dir(short_lib)})
    seen: list[str] = []

    def profile(frame: object, event: str, arg: object) -> None:
        if event == "c_call" and id(arg) in exports:
            seen.append(exports[id(arg)])

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return seen


def test_the_hot_paths_name_their_constants() -> None:
    # GREETER_FAILED and the pooled buffers' length are read by name, never written out.
    for function in (greeter.add_numbers, greeter.greet, greeter.Greeter.greet):
        consts = inspect.unwrap(function).__code__.co_consts
        assert lib.GREETER_FAILED not in consts, function
        assert BUFFER_LEN not in consts, function


@cpython_short_calls
def test_add_numbers_keeps_the_gil() -> None:
    assert _exports_called(lambda: greeter.add_numbers(3, 5)) == ["short.greeter_add_numbers"]
    with pytest.raises(OverflowError):
        _exports_called(lambda: greeter.add_numbers(2**31 - 1, 1))


@cpython_short_calls
def test_greet_keeps_the_gil_for_names_that_fit_its_buffer() -> None:
    name_max = BUFFER_LEN - lib.GREETER_GREETING_EXTRA_BYTES
    # greet() passes its buffers' length: the pooled buffers must have it.
    assert greeter._strings.BUFFER_LEN == BUFFER_LEN
    assert {len(view) for _, view in greeter._strings._buffers} == {BUFFER_LEN}
    for name in ["World", "é" * (name_max // 2)]:
        called = _exports_called(partial(greeter.greet, name))
        assert called == ["short.greeter_greet_into"]
    # A longer name: the short call returns the room it needs without reading the name, and
    # the greeting is made by the call that releases the GIL.
    long = "x" * (name_max + 1)
    assert _exports_called(lambda: greeter.greet(long)) == [
        "short.greeter_greet_into",
        "lib.greeter_greet_into",
    ]


@cpython_short_calls
def test_greeter_greet_keeps_the_gil_for_names_that_fit_its_buffer() -> None:
    g = greeter.Greeter("Hi {name}, {name}!")
    name_max = (BUFFER_LEN - len("Hi , !")) // 2
    called = _exports_called(partial(g.greet, "x" * name_max))
    assert called == ["short.greeter_greeter_greet_into"]
    long = "x" * (name_max + 1)
    assert _exports_called(partial(g.greet, long)) == [
        "short.greeter_greeter_greet_into",
        "lib.greeter_greeter_greet_into",
    ]
    assert g.greet(long) == f"Hi {long}, {long}!"


def _greeting_closed(name: str) -> None:
    greeter.greeting(name).close()


@cpython_short_calls
def test_greeting_keeps_the_gil_for_names_up_to_the_short_call_bound() -> None:
    # Made and freed by short calls for a name of at most SHORT_CALL_BYTES; a longer one is
    # made by the call that releases the GIL, and its string, copied into Python by then (as
    # long a task as freeing it), is freed by the short call.
    for name, made in [("World", "short"), ("x" * SHORT_CALL_BYTES, "short"), ("é" * 513, "lib")]:
        called = _exports_called(partial(_greeting_closed, name))
        assert called == [f"{made}.greeter_greet", "short.greeter_string_free"], name


@cpython_short_calls
def test_greet_many_keeps_the_gil_for_batches_up_to_1_kib_of_greetings() -> None:
    assert greeter._functions._SHORT_BATCH_BYTES == 1024
    extra = lib.GREETER_GREETING_EXTRA_BYTES
    # 60 greetings joined by 59 NULs: 17 * 60 - 1 = 1,019 bytes, plus 4, 5 or 6 more.
    for more, export in [(4, "short"), (5, "short"), (6, "lib")]:
        names = ["x" * 8] * 59 + ["x" * (8 + more)]
        room = len("\0".join(names).encode()) + extra * len(names)
        assert room == 1019 + more
        called = _exports_called(partial(greeter.greet_many, names))
        assert called == [f"{export}.greeter_greet_many"], (room, called)
        assert greeter.greet_many(names) == [greeter.greet(n) for n in names]


def test_greeter_never_reads_ffi_errno() -> None:
    # The short-call module skips cffi's errno bookkeeping, which only ffi.errno (and
    # ffi.getwinerror) would show. No greeter module reads either.
    package = Path(greeter.__file__).parent
    for source in package.glob("*.py"):
        names = {
            node.attr
            for node in ast.walk(ast.parse(source.read_text()))
            if isinstance(node, ast.Attribute)
        }
        assert not names & {"errno", "getwinerror"}, source.name


def test_the_short_module_is_built_for_the_limited_api_on_cpython() -> None:
    assert _greeter_cffi_short.__file__ is not None
    # CPython: the limited API (one cp311-abi3 wheel); elsewhere, the interpreter's own suffix.
    suffix = ".abi3.so" if sys.implementation.name == "cpython" else EXT_SUFFIX
    assert Path(_greeter_cffi_short.__file__).name == f"_greeter_cffi_short{suffix}"
    assert Path(_greeter_cffi.__file__ or "").parent == Path(_greeter_cffi_short.__file__).parent
