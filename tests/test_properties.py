"""Property tests: every input either gives the exact result or the documented exception.

Two layers are fuzzed:
- the public API (``greet``, ``greeting``, ``greet_many``, ``greet_async``, ``add_numbers``)
  with any Python value;
- every function the C header declares (the ``greeter_`` API and the tutorial-compatible four)
  through the raw cffi binding, with arbitrary bytes, embedded NULs, invalid UTF-8, huge
  lengths, stated lengths shorter than the buffer and NULL pointers. Each such test says which
  exports it covers (``@covers``), and a test fails when the header declares one that no
  property test covers. A stated length *longer* than the real buffer is not tried: no C API
  can detect it (the callee cannot know the size of the caller's allocation), so it is the
  caller's contract, not something a test can hold the library to.

After each example every string handed out is freed and ``live_strings()`` is back where it
started.
"""

from __future__ import annotations

import asyncio
import re
import sys
import threading
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import greeter
from greeter._greeter_cffi import ffi, lib
from greeter._greeter_cffi_short import lib as short_lib

PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

I32_MIN = -(2**31)
I32_MAX = 2**31 - 1
ISIZE_MAX = 2**63 - 1
SIZE_MAX = 2**64 - 1

# Text greeter accepts: anything without NUL or a lone surrogate (Python never pairs
# surrogates inside a str, so every surrogate code point is "lone" here).
_char = st.characters(exclude_categories=["Cs"], exclude_characters="\0")
valid_text = st.one_of(
    st.text(_char, max_size=40),
    # Long names take greet()'s fallback path (greeting over its 256-byte buffer).
    st.text(_char, min_size=120, max_size=400),
)
_any_but_surrogates = st.characters(exclude_categories=["Cs"])
surrogates = st.integers(0xD800, 0xDFFF).map(chr)
non_str = st.one_of(
    st.none(),
    st.binary(max_size=10),
    st.integers(),
    st.floats(),
    st.lists(st.text(max_size=3), max_size=2),
    st.builds(bytearray, st.binary(max_size=5)),
)


@pytest.fixture(autouse=True)
def no_leaked_strings() -> Iterator[None]:
    before = greeter.live_strings()
    yield
    assert greeter.live_strings() == before


def expected_code(data: bytes) -> int:
    """The status greeter must give a name of these bytes (UTF-8 is checked before NUL)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return int(lib.GREETER_ERR_INVALID_UTF8)
    if b"\0" in data:
        return int(lib.GREETER_ERR_INTERIOR_NUL)
    return int(lib.GREETER_OK)


def new_status() -> Any:
    return ffi.new("GreeterStatus *")


def take_status(status: Any) -> int:
    """The code in ``status``, after checking its message matches and freeing it."""
    code = int(status.code)
    if code == lib.GREETER_OK:
        assert status.message == ffi.NULL
    else:
        assert status.message != ffi.NULL
        assert ffi.string(status.message)  # a readable, non-empty description
    lib.greeter_status_clear(status)
    assert status.code == lib.GREETER_OK
    assert status.message == ffi.NULL
    return code


# --- the public API ---------------------------------------------------------------------------


class TestPublicTextInputs:
    @PROPS
    @given(valid_text)
    def test_greet_and_greeting_are_exact(self, name: str) -> None:
        assert greeter.greet(name) == f"Hello, {name}!"
        with greeter.greeting(name) as owned:
            assert owned.value == f"Hello, {name}!"
            assert len(owned) == len(f"Hello, {name}!".encode())

    @settings(PROPS, max_examples=60)
    @given(st.lists(valid_text, max_size=12))
    def test_greet_async_is_exact(self, names: list[str]) -> None:
        async def run() -> list[str]:
            return await asyncio.gather(*(greeter.greet_async(n) for n in names))

        assert asyncio.run(run()) == [f"Async Hello, {n}!" for n in names]

    @PROPS
    @given(st.text(_any_but_surrogates, max_size=20), st.text(_any_but_surrogates, max_size=20))
    def test_a_nul_is_refused_everywhere(self, head: str, tail: str) -> None:
        name = f"{head}\0{tail}"
        for call in (greeter.greet, greeter.greeting):
            with pytest.raises(greeter.InteriorNulError) as info:
                call(name)
            assert isinstance(info.value, ValueError)
        with pytest.raises(greeter.InteriorNulError):
            asyncio.run(greeter.greet_async(name))

    @PROPS
    @given(st.text(_char, max_size=10), surrogates, st.text(max_size=10))
    def test_a_lone_surrogate_is_refused_everywhere(
        self, head: str, surrogate: str, tail: str
    ) -> None:
        name = head + surrogate + tail
        for call in (greeter.greet, greeter.greeting):
            with pytest.raises(UnicodeEncodeError):
                call(name)
        with pytest.raises(UnicodeEncodeError):
            asyncio.run(greeter.greet_async(name))

    @PROPS
    @given(non_str)
    def test_a_non_str_is_a_type_error(self, value: object) -> None:
        for call in (greeter.greet, greeter.greeting):
            with pytest.raises(TypeError):
                call(value)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            asyncio.run(greeter.greet_async(value))  # type: ignore[arg-type]


class TestPublicAddNumbers:
    @PROPS
    @given(st.integers(I32_MIN, I32_MAX), st.integers(I32_MIN, I32_MAX))
    def test_adds_exactly_or_reports_overflow(self, a: int, b: int) -> None:
        if I32_MIN <= a + b <= I32_MAX:
            assert greeter.add_numbers(a, b) == a + b
        else:
            with pytest.raises(greeter.GreeterOverflowError) as info:
                greeter.add_numbers(a, b)
            assert isinstance(info.value, OverflowError)
            assert str(info.value) == f"{a} + {b} overflows i32"

    @PROPS
    @given(
        st.one_of(st.integers(max_value=I32_MIN - 1), st.integers(min_value=I32_MAX + 1)),
        st.integers(I32_MIN, I32_MAX),
    )
    def test_an_argument_outside_i32_is_an_overflow_error(self, big: int, small: int) -> None:
        with pytest.raises(OverflowError):
            greeter.add_numbers(big, small)
        with pytest.raises(OverflowError):
            greeter.add_numbers(small, big)

    @PROPS
    @given(st.one_of(st.none(), st.floats(), st.text(max_size=3), st.binary(max_size=3)))
    def test_a_non_integer_is_a_type_error(self, value: object) -> None:
        with pytest.raises(TypeError):
            greeter.add_numbers(value, 1)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            greeter.add_numbers(1, value)  # type: ignore[arg-type]


# --- the raw C API ----------------------------------------------------------------------------

COVERED: set[str] = set()
_Test = TypeVar("_Test", bound=Callable[..., None])


def covers(*exports: str) -> Callable[[_Test], _Test]:
    """Records that the decorated property test (hypothesis ``@given``) exercises ``exports``."""

    def mark(test: _Test) -> _Test:
        assert hasattr(test, "hypothesis"), f"{test.__name__}: put @covers above @given"
        COVERED.update(exports)
        return test

    return mark


def header_exports(ffi_build: ModuleType) -> set[str]:
    """The functions the installed header declares."""
    return set(ffi_build.header_functions(greeter.include_dir() / "greeter.h"))


def missing_property_tests(declared: set[str]) -> set[str]:
    return declared - COVERED


def test_every_export_in_the_header_has_a_property_test(ffi_build: ModuleType) -> None:
    declared = header_exports(ffi_build)
    assert {"greeter_greet", "greeter_queue_drain", "async_greet"} <= declared
    assert missing_property_tests(declared) == set()


def test_an_export_without_a_property_test_is_reported(ffi_build: ModuleType) -> None:
    declared = header_exports(ffi_build) | {"greeter_new_thing"}
    assert missing_property_tests(declared) == {"greeter_new_thing"}


names_bytes = st.one_of(
    st.binary(max_size=64),
    st.text(max_size=30).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.text(_char, max_size=30).map(str.encode),
)


@st.composite
def buffer_and_stated_length(draw: st.DrawFn) -> tuple[bytes, int]:
    """Bytes and a stated length no longer than them (a longer one cannot be detected)."""
    data = draw(names_bytes)
    return data, draw(st.integers(0, len(data)))


def thread_code() -> int:
    """The code in the calling thread's status (a hot path's failure), after taking it."""
    status = new_status()
    lib.greeter_status_take_thread(status)
    return take_status(status)


class TestRawGreet:
    @covers("greeter_greet", "greeter_string_free", "greeter_status_clear")
    @PROPS
    @given(buffer_and_stated_length(), st.booleans(), st.booleans())
    def test_greeter_greet_gives_the_greeting_or_the_right_status(
        self, case: tuple[bytes, int], with_len: bool, short: bool
    ) -> None:
        data, stated = case
        buf = ffi.new("char[]", data)  # one byte longer (a NUL) than data
        out_len = ffi.new("size_t *") if with_len else ffi.NULL
        export = short_lib.greeter_greet if short else lib.greeter_greet
        ptr = export(buf, stated, out_len)
        want = expected_code(data[:stated])
        if want == lib.GREETER_OK:
            expected = b"Hello, " + data[:stated] + b"!"
            assert ptr != ffi.NULL
            assert ffi.string(ptr) == expected
            if with_len:
                assert out_len[0] == len(expected)
            lib.greeter_string_free(ptr)
        else:
            assert ptr == ffi.NULL
        lib.greeter_string_free(ffi.NULL)
        short_lib.greeter_string_free(ffi.NULL)
        assert thread_code() == want

    @covers("greeter_greet_into", "greeter_status_take_thread")
    @PROPS
    @given(st.integers(0, SIZE_MAX))
    def test_a_null_name_is_refused_whatever_its_length(self, stated: int) -> None:
        assert lib.greeter_greet(ffi.NULL, stated, ffi.NULL) == ffi.NULL
        assert thread_code() == lib.GREETER_ERR_NULL_POINTER
        out = ffi.new("char[]", 16)
        n = lib.greeter_greet_into(ffi.NULL, stated, out, 16)
        if stated + 8 <= 16:
            assert n == lib.GREETER_FAILED
            assert thread_code() == lib.GREETER_ERR_NULL_POINTER
            assert thread_code() == lib.GREETER_OK, "taken once"
        elif stated <= ISIZE_MAX - 8:
            assert n == stated + 8, "too long for the buffer: the name is not read"
        else:
            assert n == lib.GREETER_FAILED
            assert thread_code() == lib.GREETER_ERR_INVALID_ARGUMENT

    @covers("greeter_greet", "greeter_greet_into", "greeter_greet_submit")
    @PROPS
    @given(names_bytes, st.integers(ISIZE_MAX + 1, SIZE_MAX))
    def test_a_length_over_isize_max_is_refused_before_any_read(
        self, data: bytes, stated: int
    ) -> None:
        status = new_status()
        assert lib.greeter_greet(data, stated, ffi.NULL) == ffi.NULL
        assert thread_code() == lib.GREETER_ERR_INVALID_ARGUMENT
        assert lib.greeter_greet_into(data, stated, ffi.NULL, 0) == lib.GREETER_FAILED
        assert thread_code() == lib.GREETER_ERR_INVALID_ARGUMENT
        queue = lib.greeter_queue_new(ffi.NULL)
        try:
            lens = ffi.new("size_t[]", [stated])
            first = ffi.new("uint64_t *")
            assert lib.greeter_greet_submit(data, lens, 1, queue, first, status) == 0
            assert take_status(status) == lib.GREETER_ERR_INVALID_ARGUMENT
        finally:
            lib.greeter_queue_free(queue)

    @covers("greeter_greet_into")
    @PROPS
    @given(buffer_and_stated_length(), st.integers(0, 600))
    def test_greet_into_writes_exactly_or_only_reports_the_length(
        self, case: tuple[bytes, int], room: int
    ) -> None:
        data, stated = case
        sentinel = b"\xa5" * (room + 4)
        out = ffi.new("char[]", sentinel)
        n = lib.greeter_greet_into(data, stated, out, room)
        want = expected_code(data[:stated])
        written = ffi.unpack(out, room + 4)
        expected = b"Hello, " + data[:stated] + b"!"
        if len(expected) > room:
            assert n == len(expected), "too long for the buffer: the name is not read"
            assert written == sentinel, "nothing is written when the greeting does not fit"
        elif want == lib.GREETER_OK:
            assert n == len(expected)
            assert written == expected + sentinel[len(expected) :]
        else:
            assert n == lib.GREETER_FAILED
            assert written == sentinel
            assert thread_code() == want

    @covers("greeter_greet_into")
    @PROPS
    @given(names_bytes, st.integers(1, SIZE_MAX))
    def test_greet_into_refuses_a_null_buffer_with_room(self, data: bytes, room: int) -> None:
        assert lib.greeter_greet_into(data, len(data), ffi.NULL, room) == lib.GREETER_FAILED
        assert thread_code() == lib.GREETER_ERR_NULL_POINTER

    @covers("greeter_greet_many")
    @PROPS
    @given(st.lists(names_bytes, max_size=8), st.integers(-1, 1), st.integers(0, 400))
    def test_greet_many_writes_every_greeting_or_reports_why(
        self, names: list[bytes], miscount: int, room: int
    ) -> None:
        packed = b"\0".join(names)
        count = max(len(names) + miscount, 0)
        out = ffi.new("char[]", room + 4)
        status = new_status()
        n = lib.greeter_greet_many(packed, len(packed), count, out, room, status)
        code = take_status(status)
        needed = len(packed) + count * lib.GREETER_GREETING_EXTRA_BYTES
        if count == 0:
            want = lib.GREETER_OK if not packed else lib.GREETER_ERR_INVALID_ARGUMENT
        elif needed > room:
            want = lib.GREETER_OK  # too long for the buffer: the names are not read
            assert n == needed
            assert ffi.unpack(out, room + 4) == bytes(room + 4), "nothing is written"
        elif expected_code(packed.replace(b"\0", b"x")) == lib.GREETER_ERR_INVALID_UTF8:
            want = lib.GREETER_ERR_INVALID_UTF8  # checked first, on the whole packed buffer
        elif packed.count(b"\0") + 1 != count:
            want = lib.GREETER_ERR_INTERIOR_NUL
        else:
            want = lib.GREETER_OK
        assert code == want
        if want != lib.GREETER_OK:
            assert n == 0
            return
        if count and needed <= room:
            greetings = b"\0".join(b"Hello, " + name + b"!" for name in packed.split(b"\0"))
            assert n == len(greetings)
            assert ffi.unpack(out, n) == greetings

    @covers("greet", "free_string")
    @PROPS
    @given(st.binary(max_size=64))
    def test_the_tutorial_greet_takes_a_c_string(self, data: bytes) -> None:
        # A C string ends at its first NUL: the tutorial-compatible API greets that prefix.
        prefix = data.split(b"\0", 1)[0]
        ptr = lib.greet(ffi.new("char[]", data))
        if expected_code(prefix) == lib.GREETER_OK:
            assert ffi.string(ptr) == b"Hello, " + prefix + b"!"
            lib.free_string(ptr)
        else:
            assert ptr == ffi.NULL
        assert lib.greet(ffi.NULL) == ffi.NULL
        lib.free_string(ffi.NULL)


class TestRawNumbers:
    @covers("greeter_add_numbers", "add_numbers", "greeter_status_take_thread")
    @PROPS
    @given(st.integers(I32_MIN, I32_MAX), st.integers(I32_MIN, I32_MAX))
    def test_every_add_is_exact_wrapped_or_reported(self, a: int, b: int) -> None:
        total = a + b
        fits = I32_MIN <= total <= I32_MAX
        assert lib.greeter_add_numbers(a, b) == (total if fits else lib.GREETER_FAILED)
        assert thread_code() == (lib.GREETER_OK if fits else lib.GREETER_ERR_OVERFLOW)
        wrapped = (total - I32_MIN) % 2**32 + I32_MIN
        assert lib.add_numbers(a, b) == wrapped

    @covers("greeter_task_cancel")
    @PROPS
    @given(st.integers(2**40, 2**64 - 1), st.booleans())
    def test_cancelling_an_unknown_task_is_not_found(self, task_id: int, with_status: bool) -> None:
        status = new_status() if with_status else ffi.NULL
        assert lib.greeter_task_cancel(task_id, status) == 0
        if with_status:
            assert take_status(status) == lib.GREETER_OK


def submit(
    queue: Any, names: list[bytes], status: Any, export: Any = lib.greeter_greet_submit
) -> tuple[int, int]:
    """A submit export (``greeter_greet_submit``) on packed ``names``: (first id, accepted)."""
    first = ffi.new("uint64_t *")
    lens = ffi.new("size_t[]", [len(n) for n in names])
    n = export(b"".join(names), lens, len(names), queue, first, status)
    return int(first[0]), int(n)


def drain(queue: Any, count: int, batch: int, text_len: int = 4096) -> dict[int, tuple[int, bytes]]:
    """Drains ``count`` completions, at most ``batch`` at a time; each task id must come once.
    Returns ``{task id: (code, bytes)}``."""
    ids = ffi.new("uint64_t[]", batch)
    codes = ffi.new("GreeterCode[]", batch)
    lens = ffi.new("size_t[]", batch)
    text = ffi.new("char[]", text_len)
    used, left = ffi.new("size_t *"), ffi.new("size_t *")
    status = new_status()
    got: dict[int, tuple[int, bytes]] = {}
    deadline = 2000
    args = (ids, codes, lens, batch, text, text_len, used, left, status)
    while len(got) < count:
        n = lib.greeter_queue_drain(queue, *args)
        assert take_status(status) == lib.GREETER_OK
        data, at = ffi.unpack(text, used[0]) if n else b"", 0
        for i in range(n):
            assert ids[i] not in got
            got[ids[i]] = (codes[i], data[at : at + lens[i]])
            at += lens[i]
        assert at == len(data), "the lengths add up to the bytes used"
        if n == 0:
            deadline -= 1
            assert deadline > 0, "completions did not arrive"
            threading.Event().wait(0.005)
    assert lib.greeter_queue_drain(queue, *args) == 0
    assert (left[0], take_status(status)) == (0, lib.GREETER_OK)
    return got


def template_pieces(data: bytes) -> list[bytes] | int:
    """The literal pieces of a valid template (bytes), or the code that refuses it: over
    64 KiB first, then UTF-8, then the rules (``{name}``, ``{{``, ``}}``; any other brace or
    a NUL refused; at least one ``{name}``)."""
    if len(data) > lib.GREETER_TEMPLATE_MAX_BYTES:
        return int(lib.GREETER_ERR_INVALID_TEMPLATE)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return int(lib.GREETER_ERR_INVALID_UTF8)
    pieces = [b""]
    for token in re.findall(rb"\{name\}|\{\{|\}\}|[{}\0]|[^{}\0]+", data):
        if token == b"{name}":
            pieces.append(b"")
        elif token in (b"{{", b"}}"):
            pieces[-1] += token[:1]
        elif token in (b"{", b"}", b"\0"):
            return int(lib.GREETER_ERR_INVALID_TEMPLATE)
        else:
            pieces[-1] += token
    return pieces if len(pieces) > 1 else int(lib.GREETER_ERR_INVALID_TEMPLATE)


template_bytes = st.one_of(
    names_bytes,
    st.lists(st.sampled_from([b"{name}", b"{", b"}", b"{{", b"}}", b"a", b"\xc3\xa9", b"\0"])).map(
        b"".join
    ),
)


@st.composite
def valid_template(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    """A template valid by construction (literal text, braces doubled, around placeholders)
    and its literal pieces."""
    pieces = [
        p.encode() for p in draw(st.lists(st.text(_char, max_size=8), min_size=2, max_size=4))
    ]
    escaped = [p.replace(b"{", b"{{").replace(b"}", b"}}") for p in pieces]
    return b"{name}".join(escaped), pieces


def new_greeter(data: bytes) -> Any:
    """A greeter handle for a valid template, freed with greeter_greeter_free when collected."""
    handle = lib.greeter_greeter_new(data, len(data), ffi.NULL)
    assert handle != ffi.NULL
    return ffi.gc(handle, lib.greeter_greeter_free)


class TestRawGreeterObjects:
    @covers("greeter_greeter_new", "greeter_greeter_free", "greeter_live_objects")
    @PROPS
    @given(template_bytes, st.booleans())
    def test_new_parses_or_reports_and_free_drops_the_reference(
        self, data: bytes, with_status: bool
    ) -> None:
        before = lib.greeter_live_objects()
        status = new_status() if with_status else ffi.NULL
        handle = lib.greeter_greeter_new(data, len(data), status)
        want = template_pieces(data)
        if isinstance(want, int):
            assert handle == ffi.NULL
            if with_status:
                assert take_status(status) == want
            assert lib.greeter_live_objects() == before
        else:
            assert handle != ffi.NULL
            if with_status:
                assert take_status(status) == lib.GREETER_OK
            assert lib.greeter_live_objects() == before + 1
            lib.greeter_greeter_free(handle)
        lib.greeter_greeter_free(ffi.NULL)
        assert lib.greeter_live_objects() == before

    @covers("greeter_greeter_new")
    @PROPS
    @given(st.integers(1, SIZE_MAX), st.integers(ISIZE_MAX + 1, SIZE_MAX))
    def test_new_refuses_null_and_lengths_over_isize_max(self, stated: int, huge: int) -> None:
        status = new_status()
        assert lib.greeter_greeter_new(ffi.NULL, stated, status) == ffi.NULL
        code = take_status(status)
        if stated <= lib.GREETER_TEMPLATE_MAX_BYTES:
            assert code == lib.GREETER_ERR_NULL_POINTER
        else:
            assert code in (lib.GREETER_ERR_NULL_POINTER, lib.GREETER_ERR_INVALID_ARGUMENT)
        assert lib.greeter_greeter_new(b"{name}", huge, status) == ffi.NULL
        assert take_status(status) == lib.GREETER_ERR_INVALID_ARGUMENT

    @covers("greeter_greeter_greet_into", "greeter_status_take_thread")
    @PROPS
    @given(valid_template(), buffer_and_stated_length(), st.integers(0, 300))
    def test_greet_into_writes_exactly_or_only_reports_the_length(
        self, valid: tuple[bytes, list[bytes]], case: tuple[bytes, int], room: int
    ) -> None:
        template, pieces = valid
        handle = new_greeter(template)
        data, stated = case
        sentinel = b"\xa5" * (room + 4)
        out = ffi.new("char[]", sentinel)
        n = lib.greeter_greeter_greet_into(handle, data, stated, out, room)
        expected = data[:stated].join(pieces)
        written = ffi.unpack(out, room + 4)
        if len(expected) > room:
            assert n == len(expected), "too long for the buffer: the name is not read"
            assert written == sentinel
        elif expected_code(data[:stated]) == lib.GREETER_OK:
            assert n == len(expected)
            assert written == expected + sentinel[len(expected) :]
        else:
            assert n == lib.GREETER_FAILED
            assert written == sentinel
            assert thread_code() == expected_code(data[:stated])
        assert lib.greeter_greeter_greet_into(ffi.NULL, data, stated, out, room) == (
            lib.GREETER_FAILED
        )
        assert thread_code() == lib.GREETER_ERR_NULL_POINTER
        assert lib.greeter_greeter_greet_into(handle, data, ISIZE_MAX + 1, out, room) == (
            lib.GREETER_FAILED
        )
        assert thread_code() == lib.GREETER_ERR_INVALID_ARGUMENT

    @covers("greeter_greeter_greet_many")
    @PROPS
    @given(valid_template(), st.lists(names_bytes, max_size=8), st.integers(-1, 1))
    def test_greet_many_writes_every_greeting_or_reports_why(
        self, valid: tuple[bytes, list[bytes]], names: list[bytes], miscount: int
    ) -> None:
        template, pieces = valid
        handle = new_greeter(template)
        packed = b"\0".join(names)
        count = max(len(names) + miscount, 0)
        room = 1000
        out = ffi.new("char[]", room)
        status = new_status()
        n = lib.greeter_greeter_greet_many(handle, packed, len(packed), count, out, room, status)
        if count == 0:
            want = lib.GREETER_OK if not packed else lib.GREETER_ERR_INVALID_ARGUMENT
        elif expected_code(packed.replace(b"\0", b"x")) == lib.GREETER_ERR_INVALID_UTF8:
            want = lib.GREETER_ERR_INVALID_UTF8
        elif packed.count(b"\0") + 1 != count:
            want = lib.GREETER_ERR_INTERIOR_NUL
        else:
            want = lib.GREETER_OK
        assert take_status(status) == want
        if want != lib.GREETER_OK or count == 0:
            assert n == 0
        else:
            expected = b"\0".join(name.join(pieces) for name in packed.split(b"\0"))
            assert n == len(expected)
            if n <= room:
                assert ffi.unpack(out, n) == expected
        assert (
            lib.greeter_greeter_greet_many(ffi.NULL, packed, len(packed), count, out, 0, status)
            == 0
        )
        assert take_status(status) == lib.GREETER_ERR_NULL_POINTER

    @covers("greeter_greeter_greet_submit")
    @settings(PROPS, max_examples=60)
    @given(valid_template(), st.lists(buffer_and_stated_length(), max_size=10), st.integers(1, 4))
    def test_submitted_names_complete_by_the_template_after_the_handle_is_freed(
        self, valid: tuple[bytes, list[bytes]], cases: list[tuple[bytes, int]], batch: int
    ) -> None:
        template, pieces = valid
        before = lib.greeter_live_objects()
        handle = lib.greeter_greeter_new(template, len(template), ffi.NULL)
        status = new_status()
        queue = lib.greeter_queue_new(ffi.NULL)
        try:
            names = [data[:stated] for data, stated in cases]
            first = ffi.new("uint64_t *")
            lens = ffi.new("size_t[]", [len(n) for n in names])
            args = (b"".join(names), lens, len(names), queue, first, status)
            n = lib.greeter_greeter_greet_submit(handle, *args)
            assert (n, take_status(status)) == (len(names), lib.GREETER_OK)
            lib.greeter_greeter_free(handle)  # the tasks hold their own references
            expected = {}
            for i, name in enumerate(names):
                code = expected_code(name)
                expected[first[0] + i] = (
                    code,
                    name.join(pieces) if code == lib.GREETER_OK else None,
                )
            got = drain(queue, len(names), batch)
            assert {k: (c, t if c == lib.GREETER_OK else None) for k, (c, t) in got.items()} == (
                expected
            )
            # Each job drops its reference before its completion is delivered.
            assert lib.greeter_live_objects() == before
            assert lib.greeter_greeter_greet_submit(ffi.NULL, *args) == 0
            assert take_status(status) == lib.GREETER_ERR_NULL_POINTER
        finally:
            lib.greeter_queue_free(queue)


class TestRawQueues:
    @covers(
        "greeter_queue_new",
        "greeter_queue_fd",
        "greeter_greet_submit",
        "greeter_queue_drain",
        "greeter_queue_free",
    )
    @settings(PROPS, max_examples=80)
    @given(st.lists(buffer_and_stated_length(), max_size=10), st.integers(1, 4))
    def test_submitted_names_complete_exactly_once_with_their_text_or_error(
        self, cases: list[tuple[bytes, int]], batch: int
    ) -> None:
        status = new_status()
        queue = lib.greeter_queue_new(status)
        assert queue != ffi.NULL
        assert take_status(status) == lib.GREETER_OK
        try:
            assert lib.greeter_queue_fd(queue, status) >= 0
            assert take_status(status) == lib.GREETER_OK
            names = [data[:stated] for data, stated in cases]
            first, n = submit(queue, names, status)
            assert (n, take_status(status)) == (len(names), lib.GREETER_OK)
            expected = {}
            for i, name in enumerate(names):
                code = expected_code(name)
                text = b"Async Hello, " + name + b"!" if code == lib.GREETER_OK else None
                expected[first + i] = (code, text)
            got = drain(queue, len(names), batch)
            assert {k: (c, t if c == lib.GREETER_OK else None) for k, (c, t) in got.items()} == (
                expected
            )
            assert all(t for c, t in got.values() if c != lib.GREETER_OK), "errors have messages"
            assert submit(ffi.NULL, [b"x"], status) == (0, 0)
            assert take_status(status) == lib.GREETER_ERR_NULL_POINTER
        finally:
            lib.greeter_queue_free(queue)
            lib.greeter_queue_free(ffi.NULL)

    def test_null_and_empty_arguments_are_reported_not_crashed(self) -> None:
        status = new_status()
        ids = ffi.new("uint64_t[]", 2)
        codes = ffi.new("GreeterCode[]", 2)
        lens = ffi.new("size_t[]", 2)
        text = ffi.new("char[]", 8)
        queue = lib.greeter_queue_new(ffi.NULL)
        try:
            assert lib.greeter_queue_fd(ffi.NULL, status) == 0
            assert take_status(status) == lib.GREETER_ERR_NULL_POINTER
            args = (ids, codes, lens, 2, text, 8, ffi.NULL, ffi.NULL, status)
            assert lib.greeter_queue_drain(ffi.NULL, *args) == 0
            assert take_status(status) == lib.GREETER_ERR_NULL_POINTER
            no_ids = (ffi.NULL, codes, lens, 2, text, 8, ffi.NULL, ffi.NULL, status)
            assert lib.greeter_queue_drain(queue, *no_ids) == 0
            assert take_status(status) == lib.GREETER_ERR_NULL_POINTER
            no_lens = (ids, codes, ffi.NULL, 2, text, 8, ffi.NULL, ffi.NULL, status)
            assert lib.greeter_queue_drain(queue, *no_lens) == 0
            assert take_status(status) == lib.GREETER_ERR_NULL_POINTER
            empty = (ffi.NULL, ffi.NULL, ffi.NULL, 0, ffi.NULL, 0, ffi.NULL, ffi.NULL, status)
            assert lib.greeter_queue_drain(queue, *empty) == 0
            assert take_status(status) == lib.GREETER_OK
            lib.greeter_status_clear(ffi.NULL)
        finally:
            lib.greeter_queue_free(queue)

    @covers("async_greet", "free_string")
    @settings(PROPS, max_examples=40)
    @given(st.binary(max_size=32))
    def test_the_tutorial_async_greet_calls_back_exactly_once(self, data: bytes) -> None:
        prefix = data.split(b"\0", 1)[0]
        results: list[bytes | None] = []
        done = threading.Event()

        def on_result(ptr: Any) -> None:
            results.append(None if ptr == ffi.NULL else ffi.string(ptr))
            lib.free_string(ptr)
            done.set()

        callback = ffi.callback("void(char *)", on_result)

        lib.async_greet(ffi.new("char[]", data), callback)
        assert done.wait(10)
        if expected_code(prefix) == lib.GREETER_OK:
            assert results == [b"Async Hello, " + prefix + b"!"]
        else:
            assert results == [None]
        results.clear()
        done.clear()
        lib.async_greet(ffi.NULL, callback)
        assert results == [None], "a NULL name calls back at once, on the calling thread"
        lib.async_greet(b"x", ffi.NULL)  # no callback: a no-op


class TestRawShapes:
    @covers("greeter_debug_shapes_submit")
    @settings(PROPS, max_examples=60)
    @given(
        st.sampled_from(
            [
                lib.GREETER_DEBUG_SHAPE_BYTES,
                lib.GREETER_DEBUG_SHAPE_INTEGER,
                lib.GREETER_DEBUG_SHAPE_GREETER,
            ]
        ),
        st.lists(
            st.one_of(st.binary(max_size=12), st.sampled_from([b"{name}", b"<{name}>"])), max_size=6
        ),
        st.integers(1, 4),
    )
    def test_each_shape_crosses_as_its_bytes(
        self, shape: int, texts: list[bytes], batch: int
    ) -> None:
        before = lib.greeter_live_objects()
        status = new_status()
        queue = lib.greeter_queue_new(status)
        try:
            first = ffi.new("uint64_t *")
            lens = ffi.new("size_t[]", [len(t) for t in texts])
            n = lib.greeter_debug_shapes_submit(
                shape, b"".join(texts), lens, len(texts), queue, first, status
            )
            assert (n, take_status(status)) == (len(texts), lib.GREETER_OK)
            got = drain(queue, len(texts), batch)
        finally:
            lib.greeter_queue_free(queue)
        for i, text in enumerate(texts):
            code, data = got[first[0] + i]
            want = expected_code(text)
            is_template = text in (b"{name}", b"<{name}>")
            if (
                want == lib.GREETER_OK
                and shape == lib.GREETER_DEBUG_SHAPE_GREETER
                and not is_template
            ):
                want = int(lib.GREETER_ERR_INVALID_TEMPLATE)
            assert code == want
            if code != lib.GREETER_OK:
                assert data, "errors have messages"
            elif shape == lib.GREETER_DEBUG_SHAPE_BYTES:
                assert data == text[::-1]
            elif shape == lib.GREETER_DEBUG_SHAPE_INTEGER:
                assert data == (-len(text)).to_bytes(8, sys.byteorder, signed=True)
            else:
                handle = ffi.cast("GreeterGreeter *", int.from_bytes(data, sys.byteorder))
                out = ffi.new("char[]", 16)
                k = lib.greeter_greeter_greet_into(handle, b"Al", 2, out, 16)
                assert ffi.unpack(out, k) == text.replace(b"{name}", b"Al")
                lib.greeter_greeter_free(handle)
        assert lib.greeter_live_objects() == before


class TestRawPoolAndDiagnostics:
    @covers("greeter_pool_configure", "greeter_pool_size", "greeter_pool_shutdown")
    @settings(PROPS, max_examples=60)
    @given(st.integers(0, SIZE_MAX), st.integers(0, SIZE_MAX))
    def test_configure_refuses_absurd_sizes_and_never_starts_the_pool(
        self, threads: int, capacity: int
    ) -> None:
        status = new_status()
        lib.greeter_pool_shutdown(status)
        assert take_status(status) == lib.GREETER_OK
        size = ffi.new("size_t[2]")
        try:
            greeter.configure_pool()
            lib.greeter_pool_size(size, size + 1, status)
            assert take_status(status) == lib.GREETER_OK
            default_threads = size[0]
            lib.greeter_pool_configure(threads, capacity, status)
            want = lib.GREETER_OK if threads <= 1024 else lib.GREETER_ERR_INVALID_ARGUMENT
            assert take_status(status) == want
            if want == lib.GREETER_OK:
                lib.greeter_pool_size(size, size + 1, ffi.NULL)
                assert (size[0], size[1]) == (threads or default_threads, capacity or 65536)
        finally:
            greeter.configure_pool()
        lib.greeter_pool_size(ffi.NULL, ffi.NULL, status)
        assert take_status(status) == lib.GREETER_OK

    def test_configure_is_refused_while_the_pool_runs(self) -> None:
        asyncio.run(greeter.greet_async("start the pool"))
        status = new_status()
        lib.greeter_pool_configure(1, 1, status)
        assert take_status(status) == lib.GREETER_ERR_INVALID_ARGUMENT
        with pytest.raises(greeter.InvalidArgumentError):
            greeter.configure_pool(threads=2**40)

    @covers("greeter_debug_inject_panics")
    @settings(PROPS, max_examples=30)
    @given(st.integers(0, 2**32 - 1))
    def test_inject_panics_reports_what_was_armed(self, count: int) -> None:
        try:
            assert lib.greeter_debug_inject_panics(count) == 0
        finally:
            assert lib.greeter_debug_inject_panics(0) == count

    @covers("greeter_debug_inject_out_of_memory")
    @settings(PROPS, max_examples=30)
    @given(st.integers(0, 2**32 - 1))
    def test_inject_out_of_memory_reports_what_was_armed(self, count: int) -> None:
        try:
            assert lib.greeter_debug_inject_out_of_memory(count) == 0
        finally:
            assert lib.greeter_debug_inject_out_of_memory(0) == count

    @covers("greeter_debug_spin", "greeter_debug_locks_taken")
    @settings(PROPS, max_examples=30)
    @given(st.one_of(st.integers(0, 200), st.integers(1_000_001, 2**32 - 1)))
    def test_spin_is_bounded_and_takes_no_lock(self, micros: int) -> None:
        status = new_status()
        before = lib.greeter_debug_locks_taken()
        lib.greeter_debug_spin(micros, status)
        assert lib.greeter_debug_locks_taken() == before
        limit = lib.GREETER_DEBUG_SPIN_MAX_MICROS
        want = lib.GREETER_OK if micros <= limit else lib.GREETER_ERR_INVALID_ARGUMENT
        assert take_status(status) == want

    @covers("greeter_version", "greeter_live_strings")
    @settings(PROPS, max_examples=20)
    @given(st.integers(0, 5))
    def test_the_version_is_static_and_live_strings_counts_exactly(self, k: int) -> None:
        assert ffi.string(lib.greeter_version()).decode() == greeter.__version__
        assert lib.greeter_version() == lib.greeter_version()
        before = lib.greeter_live_strings()
        held = [lib.greeter_greet(b"x", 1, ffi.NULL) for _ in range(k)]
        assert lib.greeter_live_strings() == before + k
        for ptr in held:
            lib.greeter_string_free(ptr)
        assert lib.greeter_live_strings() == before
