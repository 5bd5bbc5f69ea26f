"""greet_many: one call into Rust for a small list, in pieces for a large one; exact results,
and every kind of bad input."""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import greeter
from greeter import _functions, _objects
from greeter._greeter_cffi import lib
from greeter._strings import PIECE_BYTES, PIECE_NAMES

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


# --- large batches: pieces of at most PIECE_NAMES names and about PIECE_BYTES bytes ------------

# (template or None for greeter.greet_many, what a name's greeting is)
TEMPLATES = [None, "Hello, {name}!", "{name} and {name}: {{x}}", "{name}" * 100]


def batch_and_one(template: str | None) -> tuple[Callable[..., list[str]], Callable[[str], str]]:
    if template is None:
        return greeter.greet_many, greeter.greet
    g = greeter.Greeter(template)
    return g.greet_many, g.greet


# The batch exports, as the modules call them (a module global each, looked up per call).
BATCH_EXPORTS = [
    (_functions, "_greet_many"),
    (_functions, "_greet_many_short"),
    (_objects, "_greeter_greet_many"),
]


def rust_batch_calls(batch: Callable[..., list[str]], names: Any) -> tuple[list[str], int]:
    """The batch's result and how many times it called a batch export: each is wrapped to
    count its calls (a profile hook would see cffi calls on CPython only, not on PyPy)."""
    calls = 0

    def counting(export: Callable[..., int]) -> Callable[..., int]:
        def call(*args: Any) -> int:
            nonlocal calls
            calls += 1
            return export(*args)

        return call

    saved = [(module, name, getattr(module, name)) for module, name in BATCH_EXPORTS]
    for module, name, export in saved:
        setattr(module, name, counting(export))
    try:
        result = batch(names)
    finally:
        for module, name, export in saved:
            setattr(module, name, export)
    return result, calls


def mixed_names(count: int) -> list[str]:
    """Names of every length class, with multi-byte characters, in a repeating order."""
    kinds = ["", "a", "世界", "🦀" * 7, "Ω" * 40, "name"]
    return [f"{kinds[i % len(kinds)]}{i}" for i in range(count)]


@pytest.mark.parametrize("template", TEMPLATES)
def test_a_batch_crossing_piece_boundaries_equals_greeting_each_name(
    template: str | None, no_leaks: None
) -> None:
    batch, one = batch_and_one(template)
    copies = len(one("x")) - len(one(""))
    count = 2 * PIECE_NAMES + 3
    names = mixed_names(count)
    long = PIECE_BYTES // copies
    long_names = ["x" * (long // 3), *names[:5], "é" * (long // 2), "y"] * 3
    for case in (names, long_names, names[: PIECE_NAMES + 1], iter(names)):
        given = list(case)
        result = batch(given if not isinstance(case, Iterator) else iter(given))
        assert result == [one(name) for name in given]


@pytest.mark.parametrize("template", TEMPLATES[:2])
def test_a_small_batch_is_one_call_and_a_large_one_a_call_per_piece(
    template: str | None,
) -> None:
    batch, _ = batch_and_one(template)
    for count in (1, 1_000, PIECE_NAMES):
        assert rust_batch_calls(batch, ["n"] * count)[1] == 1
    for pieces in (2, 3, 5):
        names = ["n"] * (pieces * PIECE_NAMES - 1)
        assert rust_batch_calls(batch, names)[1] == pieces


@pytest.mark.parametrize("template", TEMPLATES)
def test_long_names_make_more_pieces_each_within_the_byte_bound(template: str | None) -> None:
    batch, one = batch_and_one(template)
    copies = len(one("x")) - len(one(""))
    for size in (PIECE_BYTES // (64 * copies), PIECE_BYTES // (8 * copies)):
        for names in (["x" * size] * 40, ["s", "x" * size] * 20):
            result, calls = rust_batch_calls(batch, names)
            greetings = sum(len(greeting) + 1 for greeting in result)
            assert result == [one(name) for name in names]
            # At most PIECE_BYTES of greetings a piece unless one name takes more; no piece
            # of one name while two fit.
            assert calls >= min(len(names), math.ceil(greetings / PIECE_BYTES))
            assert calls <= 2 * math.ceil(greetings / PIECE_BYTES)


def later_piece_batch(bad: Any) -> tuple[list[Any], int]:
    """A batch with ``bad`` in its third piece, and its index."""
    names: list[Any] = [f"n{i}" for i in range(3 * PIECE_NAMES)]
    index = 2 * PIECE_NAMES + 17
    names[index] = bad
    return names, index


@pytest.mark.parametrize("template", TEMPLATES[:2])
def test_errors_in_a_later_piece_name_their_index_in_the_whole_batch(
    template: str | None, no_leaks: None
) -> None:
    batch, _ = batch_and_one(template)
    names, index = later_piece_batch("ab\0c")
    with pytest.raises(greeter.InteriorNulError) as nul:
        batch(names)
    assert str(nul.value) == f"names[{index}] contains a NUL character at offset 2"
    assert nul.value.code == lib.GREETER_ERR_INTERIOR_NUL

    names, index = later_piece_batch(3.5)
    with pytest.raises(TypeError, match=rf"^names\[{index}\] must be str, not float$"):
        batch(names)

    names, index = later_piece_batch("a\udc80")
    with pytest.raises(UnicodeEncodeError, match="surrogates not allowed") as surrogate:
        batch(names)
    assert surrogate.value.object == "a\udc80"

    # Long names: pieces cut by bytes.
    names = ["x" * (PIECE_BYTES // 4)] * 12 + ["long\0"]
    with pytest.raises(greeter.InteriorNulError, match=r"^names\[12\] contains a NUL"):
        batch(names)


@pytest.mark.parametrize("template", TEMPLATES[:2])
def test_errors_across_pieces_keep_the_order_of_one_call(template: str | None) -> None:
    # One call would meet a non-str while joining, then a surrogate while encoding, then a
    # NUL in Rust: whichever piece each is in.
    batch, _ = batch_and_one(template)
    names, _ = later_piece_batch(None)
    names[3] = "nul\0"
    names[PIECE_NAMES + 1] = "\ud800"
    with pytest.raises(TypeError, match=rf"^names\[{2 * PIECE_NAMES + 17}\] must be str"):
        batch(names)
    names, _ = later_piece_batch("\ud800")
    names[3] = "nul\0"
    with pytest.raises(UnicodeEncodeError):
        batch(names)
