"""greet_many: one call into Rust for a whole list, exact results, and every kind of bad input."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest

import greeter
from greeter import _functions
from greeter._greeter_cffi import lib

NAMES = ["Alice", "", "世界", "🦀🐍", "e\u0301 a\u0308\u0323", "\u200d\ufeff\U0010ffff", "Ω" * 300]


def test_greet_many_is_exact_and_in_order(no_leaks: None) -> None:
    assert greeter.greet_many(NAMES) == [f"Hello, {name}!" for name in NAMES]


def test_greet_many_matches_greet_one_by_one(no_leaks: None) -> None:
    names = [f"name{i}" * (i % 7) for i in range(1_000)]
    assert greeter.greet_many(names) == [greeter.greet(name) for name in names]


def test_empty_list_gives_empty_list(no_leaks: None) -> None:
    assert greeter.greet_many([]) == []
    assert greeter.greet_many(()) == []


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ([""], ["Hello, !"]),
        (["", ""], ["Hello, !", "Hello, !"]),
        (["a", ""], ["Hello, a!", "Hello, !"]),
        (["", "b"], ["Hello, !", "Hello, b!"]),
    ],
)
def test_empty_names_are_kept_apart(names: list[str], expected: list[str]) -> None:
    assert greeter.greet_many(names) == expected


def test_ten_thousand_names(no_leaks: None) -> None:
    names = [f"n{i}" for i in range(10_000)]
    result = greeter.greet_many(names)
    assert len(result) == 10_000
    assert result == [f"Hello, n{i}!" for i in range(10_000)]


def test_any_iterable_of_str_is_accepted() -> None:
    def gen() -> Iterator[str]:
        yield "a"
        yield "b"

    assert greeter.greet_many(gen()) == ["Hello, a!", "Hello, b!"]
    assert greeter.greet_many(("x",)) == ["Hello, x!"]

    class Name(str):
        pass

    assert greeter.greet_many([Name("Sub")]) == ["Hello, Sub!"]


def test_long_names_and_a_large_batch(no_leaks: None) -> None:
    names = ["ab€" * 100_000, "", "x" * 1_000_000]
    assert greeter.greet_many(names) == [f"Hello, {name}!" for name in names]


@pytest.mark.parametrize(
    ("names", "index", "kind"),
    [
        (["a", 5, "b"], 1, "int"),
        ([None], 0, "NoneType"),
        (["a", "b", b"c"], 2, "bytes"),
        ([["nested"]], 0, "list"),
    ],
)
def test_non_str_item_is_type_error(names: list[Any], index: int, kind: str) -> None:
    with pytest.raises(TypeError, match=rf"^names\[{index}\] must be str, not {kind}$"):
        greeter.greet_many(names)


@pytest.mark.parametrize("names", ["Alice", b"Alice", bytearray(b"Alice")])
def test_a_single_string_is_type_error(names: Any) -> None:
    # A str is an iterable of str: greeting each character is never what was meant.
    with pytest.raises(TypeError, match="names must be an iterable of str"):
        greeter.greet_many(names)


@pytest.mark.parametrize("names", [None, 5, object()])
def test_not_iterable_is_type_error(names: Any) -> None:
    with pytest.raises(TypeError):
        greeter.greet_many(names)


@pytest.mark.parametrize(
    ("names", "index", "offset"),
    [
        (["a\0b"], 0, 1),
        (["ok", "\0"], 1, 0),
        (["ok", "", "xy\0"], 2, 2),
        (["a", "b\0\0c", "d\0"], 1, 1),
    ],
)
def test_nul_in_a_name_is_interior_nul_error(
    names: list[str], index: int, offset: int, no_leaks: None
) -> None:
    with pytest.raises(greeter.InteriorNulError) as info:
        greeter.greet_many(names)
    assert str(info.value) == f"names[{index}] contains a NUL character at offset {offset}"
    assert info.value.code == lib.GREETER_ERR_INTERIOR_NUL
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("names", [["\ud800"], ["fine", "a\udfffb"], ["x" * 300, "\udc80"]])
def test_lone_surrogate_is_unicode_encode_error(names: list[str], no_leaks: None) -> None:
    with pytest.raises(UnicodeEncodeError, match="surrogates not allowed") as info:
        greeter.greet_many(names)
    # The error names the offending name itself, not the joined batch.
    assert info.value.object in names


def test_a_panic_inside_the_batch_is_reported_and_the_next_call_works(no_leaks: None) -> None:
    _functions.inject_panics(1)
    with pytest.raises(greeter.RustPanicError, match="injected panic"):
        greeter.greet_many(["a", "b"])
    assert greeter.greet_many(["a", "b"]) == ["Hello, a!", "Hello, b!"]


def test_live_strings_back_to_zero_after_every_kind_of_call() -> None:
    gc.collect()
    before = greeter.live_strings()
    greeter.greet_many(NAMES * 100)
    for bad in (["a\0"], ["\ud800"], [1]):
        with pytest.raises((ValueError, TypeError)):
            greeter.greet_many(bad)  # type: ignore[arg-type]  # deliberately wrong types
    _functions.inject_panics(1)
    with pytest.raises(greeter.RustPanicError):
        greeter.greet_many(["x"])
    gc.collect()
    assert greeter.live_strings() == before
    assert before == 0
