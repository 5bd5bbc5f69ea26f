"""Strings and ownership: RustString frees exactly once, nothing leaks, ctypes shares the build."""

from __future__ import annotations

import copy
import ctypes
import gc
import pickle
import weakref
from collections.abc import Callable
from typing import Any

import pytest

import greeter
from greeter import _strings
from greeter._greeter_cffi import lib


def test_rust_string_context_manager(no_leaks: None) -> None:
    before = greeter.live_strings()
    with greeter.greeting("Alice") as s:
        assert isinstance(s, greeter.RustString)
        assert greeter.live_strings() == before + 1
        assert s.value == "Hello, Alice!"
        assert bytes(s) == b"Hello, Alice!"
        assert not s.closed
        assert repr(s) == "<RustString 'Hello, Alice!'>"
    assert s.closed
    assert repr(s) == "<RustString closed>"
    assert greeter.live_strings() == before


def test_close_is_idempotent_and_frees_once(no_leaks: None) -> None:
    before = greeter.live_strings()
    s = greeter.greeting("Bob")
    s.close()
    s.close()
    with s:
        pass
    assert greeter.live_strings() == before


@pytest.mark.parametrize("read", [lambda s: s.value, bytes, str])
def test_reading_after_close_is_value_error(read: object, no_leaks: None) -> None:
    s = greeter.greeting("Carol")
    s.close()
    with pytest.raises(ValueError, match=r"^I/O operation on closed RustString$"):
        read(s)  # type: ignore[operator]


def test_rust_string_cannot_be_made_directly() -> None:
    with pytest.raises(TypeError, match=r"use greeter\.greeting\(\)"):
        greeter.RustString()


@pytest.mark.parametrize(
    "duplicate",
    [copy.copy, copy.deepcopy, pickle.dumps, lambda s: pickle.dumps(s, protocol=0)],
    ids=["copy", "deepcopy", "pickle", "pickle-0"],
)
def test_a_rust_string_cannot_be_copied_or_pickled(
    duplicate: Callable[[greeter.RustString], object], no_leaks: None
) -> None:
    s = greeter.greeting("Ann")
    with pytest.raises(TypeError, match=r"^a RustString cannot be copied or pickled"):
        duplicate(s)
    before = greeter.live_strings()
    s.close()
    assert greeter.live_strings() == before - 1  # still the one owner: freed at close()
    with pytest.raises(TypeError, match=r"^a RustString cannot be copied or pickled"):
        duplicate(s)


def test_dropped_rust_string_is_freed(no_leaks: None) -> None:
    before = greeter.live_strings()
    s = greeter.greeting("Dave")
    ref = weakref.ref(s)
    assert greeter.live_strings() == before + 1
    del s
    gc.collect()
    assert ref() is None
    assert greeter.live_strings() == before


def test_live_strings_back_to_zero_after_100k_greets() -> None:
    gc.collect()
    before = greeter.live_strings()
    for i in range(100_000):
        assert greeter.greet(f"n{i}") == f"Hello, n{i}!"
    assert greeter.live_strings() == before


def test_live_strings_back_to_zero_after_10k_unclosed_rust_strings() -> None:
    gc.collect()
    before = greeter.live_strings()
    for i in range(10_000):
        s = greeter.greeting(f"n{i}")
        assert s.value == f"Hello, n{i}!"
        del s  # never closed
    gc.collect()
    assert greeter.live_strings() == before


def test_live_strings_is_zero_at_rest() -> None:
    gc.collect()
    assert greeter.live_strings() == 0


def _tutorial_library() -> ctypes.CDLL:
    """The tutorial's ctypes code, against our library.

    The article never sets ``restype``, so ctypes assumes a C ``int`` return and truncates the
    64-bit pointer ``greet`` returns to 32 bits; freeing or reading that is undefined
    behaviour. Declaring argtypes/restype is the fix, so we declare them. ``c_void_p`` keeps the
    pointer as an integer we can free (``c_char_p`` would convert it to bytes and lose it).
    """
    lib = ctypes.CDLL(str(greeter.library_path()))
    lib.add_numbers.argtypes = [ctypes.c_int32, ctypes.c_int32]
    lib.add_numbers.restype = ctypes.c_int32
    lib.greet.argtypes = [ctypes.c_char_p]
    lib.greet.restype = ctypes.c_void_p
    lib.free_string.argtypes = [ctypes.c_void_p]
    lib.free_string.restype = None
    return lib


def test_tutorial_ctypes_sync_code_runs_against_our_library(no_leaks: None) -> None:
    lib = _tutorial_library()
    assert lib.add_numbers(3, 5) == 8
    name_ptr = ctypes.c_char_p(b"Alice")  # the article: "Alice".encode("utf-8")
    greet_result = lib.greet(name_ptr)
    assert greet_result
    greeting = ctypes.c_char_p(greet_result).value
    assert greeting is not None
    assert greeting.decode("utf-8") == "Hello, Alice!"
    lib.free_string(greet_result)


def test_tutorial_ctypes_shares_state_with_the_binding(no_leaks: None) -> None:
    # One copy of the Rust state: a string ctypes holds shows in the binding's counter.
    lib = _tutorial_library()
    before = greeter.live_strings()
    ptr = lib.greet(b"Eve")
    assert greeter.live_strings() == before + 1
    lib.free_string(ptr)
    assert greeter.live_strings() == before


def test_tutorial_greet_bad_input_returns_null_not_unknown(no_leaks: None) -> None:
    lib = _tutorial_library()
    assert lib.greet(None) is None
    assert lib.greet(b"\xff\xfe") is None
    lib.free_string(None)


def test_tutorial_add_wraps_like_the_tutorials_release_build() -> None:
    assert _tutorial_library().add_numbers(2**31 - 1, 1) == -(2**31)


def test_library_and_header_are_shipped() -> None:
    assert greeter.library_path().name == "libgreeter.so"
    assert greeter.library_path().is_file()
    header = greeter.include_dir() / "greeter.h"
    assert header.is_file()
    assert "greeter_greet(" in header.read_text()


@pytest.mark.parametrize("name", ["", "World", "é" * 124, "x" * 249, "🌍" * 5000])
def test_the_recipe_text_helper_fits_a_pooled_buffer_or_asks_again(name: str) -> None:
    # text() on a map_text_into-shaped export (greeter_greet_into has that shape): a text over
    # the pooled buffer takes a second call with a buffer of the length the first one gave.
    assert _strings.text(lib.greeter_greet_into, name) == f"Hello, {name}!"


@pytest.mark.parametrize(
    ("name", "error"),
    [("a\0", greeter.InteriorNulError), (b"a", TypeError), ("\ud800", UnicodeEncodeError)],
)
def test_the_recipe_text_helper_raises_the_exports_failure(name: Any, error: type) -> None:
    with pytest.raises(error):
        _strings.text(lib.greeter_greet_into, name)
