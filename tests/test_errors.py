"""Bad input and failures become the Python exceptions a user expects."""

from __future__ import annotations

import sys
from decimal import Decimal
from fractions import Fraction
from typing import Any

import pytest

import greeter
from greeter import _core, _functions
from greeter._greeter_cffi import ffi, lib


@pytest.mark.parametrize("bad", [None, 42, b"Alice", bytearray(b"x"), ["Alice"], 3.5])
def test_greet_wrong_type_is_type_error(bad: Any, no_leaks: None) -> None:
    with pytest.raises(TypeError, match=f"name must be str, not {type(bad).__name__}"):
        greeter.greet(bad)
    with pytest.raises(TypeError, match="name must be str"):
        greeter.greeting(bad)


@pytest.mark.parametrize("name", ["\0", "a\0b", "Alice\0", "\0" * 1000, "x" * 300 + "\0"])
def test_nul_in_name_is_value_error(name: str, no_leaks: None) -> None:
    offset = name.encode().index(b"\0")
    with pytest.raises(ValueError, match=f"NUL byte at offset {offset}") as info:
        greeter.greet(name)
    assert isinstance(info.value, greeter.InteriorNulError)
    assert info.value.code == lib.GREETER_ERR_INTERIOR_NUL
    with pytest.raises(greeter.InteriorNulError):
        greeter.greeting(name)


@pytest.mark.parametrize("name", ["\ud800", "a\udfffb", "x" * 300 + "\udc80"])
def test_lone_surrogate_is_unicode_encode_error(name: str, no_leaks: None) -> None:
    with pytest.raises(UnicodeEncodeError, match="surrogates not allowed"):
        greeter.greet(name)
    with pytest.raises(UnicodeEncodeError):
        greeter.greeting(name)


@pytest.mark.parametrize(
    ("a", "b"),
    [(2**31, 0), (0, 2**31), (-(2**31) - 1, 0), (10**30, 1), (0, -(10**30))],
)
def test_argument_outside_i32_is_overflow_error(a: int, b: int) -> None:
    with pytest.raises(
        OverflowError, match=f"^add_numbers arguments must fit in i32, got {a} and {b}$"
    ):
        greeter.add_numbers(a, b)


class _Index:
    """An integer by ``__index__``, which counts its calls and returns or raises ``result``."""

    def __init__(self, result: object) -> None:
        self.result = result
        self.calls = 0

    def __index__(self) -> Any:
        self.calls += 1
        if isinstance(self.result, BaseException):
            raise self.result
        return self.result


def test_an_overflowing_index_is_reported_by_its_value_after_one_call() -> None:
    big: Any = _Index(2**40)
    with pytest.raises(OverflowError) as info:
        greeter.add_numbers(big, 7)
    assert str(info.value) == f"add_numbers arguments must fit in i32, got {2**40} and 7"
    assert big.calls == 1


@pytest.mark.parametrize("argument", ["a", "b"])
def test_an_index_that_fails_is_chained_and_called_once(argument: str) -> None:
    cause = TypeError("no integer here")
    for bad, original in [(_Index(cause), cause), (_Index("3"), None)]:
        args = (bad, 1) if argument == "a" else (1, bad)
        with pytest.raises(TypeError) as info:
            greeter.add_numbers(*args)
        assert str(info.value) == (
            f"add_numbers() argument '{argument}' must be an integer (int or an object with "
            "__index__), not _Index"
        )
        if original is not None:
            assert info.value.__cause__ is original
        else:  # __index__ returned a str: Python's own error says so (3.15 words it anew)
            assert isinstance(info.value.__cause__, TypeError)
            assert "__index__" in str(info.value.__cause__)
            assert "str" in str(info.value.__cause__)
        assert bad.calls == 1


def test_an_index_that_raises_something_else_propagates_it_unchanged() -> None:
    # As operator.index (and every Python built-in taking an integer) does.
    bad: Any = _Index(ValueError("not today"))
    with pytest.raises(ValueError, match=r"^not today$"):
        greeter.add_numbers(1, bad)
    assert bad.calls == 1


def test_the_arguments_are_checked_in_order_on_both_paths() -> None:
    # An out-of-range first argument and a non-integer second one: the second is reported
    # (it is refused by type before the first is converted), whichever path runs.
    not_an_integer: Any = Fraction(1)
    with pytest.raises(TypeError, match="argument 'b' must be an integer"):
        greeter.add_numbers(2**40, not_an_integer)


@pytest.mark.parametrize(
    ("a", "b"), [(2**31 - 1, 1), (-(2**31), -1), (2**31 - 1, 2**31 - 1), (-(2**31), -(2**31))]
)
def test_sum_outside_i32_is_overflow_error(a: int, b: int, no_leaks: None) -> None:
    with pytest.raises(OverflowError, match=f"^{a} \\+ {b} overflows i32$") as info:
        greeter.add_numbers(a, b)
    assert isinstance(info.value, greeter.GreeterOverflowError)
    assert info.value.code == lib.GREETER_ERR_OVERFLOW


class _IntOnly:
    """Converts with int() but is not an integer: no __index__."""

    def __int__(self) -> int:
        return 3


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "3",
        3.0,
        3.9,
        b"3",
        [3],
        Fraction(7, 2),
        Fraction(4),
        Decimal("3.9"),
        Decimal(3),
        _IntOnly(),
    ],
)
def test_add_a_non_integer_is_a_type_error_naming_the_argument(bad: Any) -> None:
    # Python's rule for integer arguments (operator.index): no truncation through __int__.
    kind = type(bad).__name__
    with pytest.raises(
        TypeError, match=f"^add_numbers\\(\\) argument 'a' must be an integer .*not {kind}$"
    ):
        greeter.add_numbers(bad, 1)
    with pytest.raises(
        TypeError, match=f"^add_numbers\\(\\) argument 'b' must be an integer .*not {kind}$"
    ):
        greeter.add_numbers(1, bad)
    # The binding's call refuses anything but int before any conversion runs (cffi alone
    # would have converted a Fraction or a Decimal through __int__): on CPython the extension
    # itself, for every int32_t parameter; elsewhere the same rule in Python (ffi_build.py).
    with pytest.raises(TypeError, match=r"^an int is required$"):
        _functions._add(bad, 1)
    if lib.GREETER_BINDING_INT_ONLY:
        with pytest.raises(TypeError, match=r"^an int is required$"):
            lib.add_numbers(bad, 1)
    assert bool(lib.GREETER_BINDING_INT_ONLY) is (sys.implementation.name == "cpython")


def test_panic_reaches_python_as_an_exception(no_leaks: None) -> None:
    _functions.inject_panics(1)
    with pytest.raises(greeter.RustPanicError) as info:
        greeter.greet("Alice")
    assert str(info.value) == "Rust panicked: injected panic (greeter_debug_inject_panics)"
    assert info.value.code == lib.GREETER_ERR_PANIC
    assert isinstance(info.value, Exception)
    # The next call is unaffected: the panic was caught per call.
    assert greeter.greet("Alice") == "Hello, Alice!"


def test_panic_through_greeting(no_leaks: None) -> None:
    _functions.inject_panics(1)
    with pytest.raises(greeter.RustPanicError, match="injected panic"):
        greeter.greeting("Alice")
    assert greeter.greeting("Bob").value == "Hello, Bob!"


def test_errors_are_exceptions_not_base_exceptions() -> None:
    for cls in (
        greeter.GreeterError,
        greeter.RustPanicError,
        greeter.GreeterOverflowError,
        greeter.InteriorNulError,
        greeter.PoolShutDownError,
        greeter.QueueFullError,
    ):
        assert issubclass(cls, greeter.GreeterError)
        assert issubclass(cls, Exception)
    assert issubclass(greeter.GreeterOverflowError, OverflowError)
    assert issubclass(greeter.InteriorNulError, ValueError)


def test_every_rust_error_code_has_its_exception() -> None:
    codes = {name: getattr(lib, name) for name in dir(lib) if name.startswith("GREETER_ERR_")}
    assert set(codes.values()) == set(_core.ERRORS)
    assert len(codes) == len(set(codes.values()))


def test_raw_status_errors_become_exceptions(no_leaks: None) -> None:
    status = ffi.new("GreeterStatus *")
    out_len = ffi.new("size_t *")
    assert lib.greeter_greet(ffi.NULL, 0, out_len) == ffi.NULL
    lib.greeter_status_take_thread(status)
    error = _core.status_error(status)
    assert isinstance(error, greeter.NullPointerError)
    assert str(error) == "name is NULL"
    assert status.message == ffi.NULL
    assert status.code == lib.GREETER_OK
    assert lib.greeter_greet(b"\xff\xfe", 2, out_len) == ffi.NULL
    lib.greeter_status_take_thread(status)
    with pytest.raises(greeter.InvalidUtf8Error, match="not valid UTF-8"):
        raise _core.status_error(status)


def test_one_helper_calls_an_export_and_raises_its_status(no_leaks: None) -> None:
    with pytest.raises(greeter.InvalidUtf8Error, match="not valid UTF-8"):
        _core.call(lib.greeter_greeter_new, b"\xff", 1)
    ptr = _core.call(lib.greeter_greeter_new, b"Hi {name}", 9)
    assert ptr != ffi.NULL
    lib.greeter_greeter_free(ptr)
    # A zero result is only a failure when the status says so: 0 names greet to 0 bytes.
    assert _core.call(lib.greeter_greet_many, ffi.NULL, 0, 0, ffi.NULL, 0) == 0
    with pytest.raises(greeter.NullPointerError, match="queue is NULL"):
        _core.call(lib.greeter_queue_fd, ffi.NULL)


def test_an_int64_export_fails_with_greeter_failed_and_returns_anything_else(
    no_leaks: None,
) -> None:
    """int64_t's failure value is GREETER_FAILED, not zero: call_i64 reads the status after
    it, and a zero or a negative number is a result."""

    def export(result: int, code: int, status: Any) -> int:
        status.code = code
        return result

    assert _core.call_i64(export, 0, lib.GREETER_OK) == 0
    assert _core.call_i64(export, -5, lib.GREETER_OK) == -5
    with pytest.raises(greeter.GreeterOverflowError, match="error code"):
        _core.call_i64(export, lib.GREETER_FAILED, lib.GREETER_ERR_OVERFLOW)
    assert _core.call_i64(export, lib.GREETER_FAILED, lib.GREETER_OK) == lib.GREETER_FAILED


def test_hot_paths_report_through_the_thread_status(no_leaks: None) -> None:
    assert lib.greeter_add_numbers(2**31 - 1, 1) == lib.GREETER_FAILED
    error = _core.thread_error()
    assert isinstance(error, greeter.GreeterOverflowError)
    assert str(error) == "2147483647 + 1 overflows i32"
    # Taken once: a second take finds nothing to report.
    assert _core.thread_error().code == lib.GREETER_OK
