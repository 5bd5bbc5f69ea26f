"""Property tests: every input either gives the exact result or the documented exception.

Two layers are fuzzed:
- the public API (``greet``, ``greeting``, ``greet_async``, ``add_numbers``) with any Python
  value;
- every ``greeter_`` C function (and the seed's four) through the raw cffi binding, with
  arbitrary bytes, embedded NULs, invalid UTF-8, huge lengths, stated lengths shorter than the
  buffer and NULL pointers. A stated length *longer* than the real buffer is not tried: no C
  API can detect it (the callee cannot know the size of the caller's allocation), so it is
  the caller's contract, not something a test can hold the library to.

After each example every string handed out is freed and ``live_strings()`` is back where it
started.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import greeter
from greeter._greeter_cffi import ffi, lib

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


class TestRawGreet:
    @PROPS
    @given(buffer_and_stated_length(), st.booleans(), st.booleans())
    def test_greeter_greet_gives_the_greeting_or_the_right_status(
        self, case: tuple[bytes, int], with_len: bool, with_status: bool
    ) -> None:
        data, stated = case
        buf = ffi.new("char[]", data)  # one byte longer (a NUL) than data
        out_len = ffi.new("size_t *") if with_len else ffi.NULL
        status = new_status() if with_status else ffi.NULL
        ptr = lib.greeter_greet(buf, stated, out_len, status)
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
        if with_status:
            assert take_status(status) == want

    @PROPS
    @given(st.integers(0, SIZE_MAX))
    def test_a_null_name_is_refused_whatever_its_length(self, stated: int) -> None:
        status = new_status()
        assert lib.greeter_greet(ffi.NULL, stated, ffi.NULL, status) == ffi.NULL
        assert take_status(status) == lib.GREETER_ERR_NULL_POINTER
        assert lib.greeter_greet_into(ffi.NULL, stated, ffi.NULL, 0, status) == -1
        assert take_status(status) == lib.GREETER_ERR_NULL_POINTER

    @PROPS
    @given(names_bytes, st.integers(ISIZE_MAX + 1, SIZE_MAX))
    def test_a_length_over_isize_max_is_refused_before_any_read(
        self, data: bytes, stated: int
    ) -> None:
        status = new_status()
        assert lib.greeter_greet(data, stated, ffi.NULL, status) == ffi.NULL
        assert take_status(status) == lib.GREETER_ERR_INVALID_ARGUMENT
        out = ffi.new("char[]", 8)
        n = lib.greeter_greet_into(b"ok", 2, out, stated, status)
        assert n == -lib.GREETER_ERR_INVALID_ARGUMENT
        assert take_status(status) == lib.GREETER_ERR_INVALID_ARGUMENT
        queue = lib.greeter_queue_new(ffi.NULL)
        try:
            assert lib.greeter_greet_submit(data, stated, queue, status) == 0
            assert take_status(status) == lib.GREETER_ERR_INVALID_ARGUMENT
        finally:
            lib.greeter_queue_free(queue)

    @PROPS
    @given(buffer_and_stated_length(), st.integers(0, 600), st.booleans())
    def test_greet_into_writes_exactly_or_only_reports_the_length(
        self, case: tuple[bytes, int], room: int, with_status: bool
    ) -> None:
        data, stated = case
        sentinel = b"\xa5" * (room + 4)
        out = ffi.new("char[]", sentinel)
        status = new_status() if with_status else ffi.NULL
        n = lib.greeter_greet_into(data, stated, out, room, status)
        want = expected_code(data[:stated])
        written = ffi.unpack(out, room + 4)
        if want == lib.GREETER_OK:
            expected = b"Hello, " + data[:stated] + b"!"
            assert n == len(expected)
            if len(expected) <= room:
                assert written == expected + sentinel[len(expected) :]
            else:
                assert written == sentinel, "nothing is written when the greeting does not fit"
        else:
            assert n == -want
            assert written == sentinel
        if with_status:
            assert take_status(status) == want

    @PROPS
    @given(names_bytes, st.integers(1, SIZE_MAX))
    def test_greet_into_refuses_a_null_buffer_with_room(self, data: bytes, room: int) -> None:
        status = new_status()
        n = lib.greeter_greet_into(data, len(data), ffi.NULL, room, status)
        want = expected_code(data)
        expected = lib.GREETER_ERR_NULL_POINTER if want == lib.GREETER_OK else want
        assert n == -expected
        assert take_status(status) == expected

    @PROPS
    @given(st.binary(max_size=64))
    def test_the_seed_greet_takes_a_c_string(self, data: bytes) -> None:
        # A C string ends at its first NUL: the seed API greets that prefix.
        prefix = data.split(b"\0", 1)[0]
        ptr = lib.greet(ffi.new("char[]", data))
        if expected_code(prefix) == lib.GREETER_OK:
            assert ffi.string(ptr) == b"Hello, " + prefix + b"!"
            lib.free_string(ptr)
        else:
            assert ptr == ffi.NULL
        assert lib.greet(ffi.NULL) == ffi.NULL
        lib.free_string(ffi.NULL)
        lib.greeter_string_free(ffi.NULL)


class TestRawNumbers:
    @PROPS
    @given(st.integers(I32_MIN, I32_MAX), st.integers(I32_MIN, I32_MAX), st.booleans())
    def test_every_add_is_exact_wrapped_or_reported(
        self, a: int, b: int, with_status: bool
    ) -> None:
        total = a + b
        fits = I32_MIN <= total <= I32_MAX
        assert lib.greeter_add_numbers_checked(a, b) == (
            total if fits else lib.GREETER_ADD_OVERFLOWED
        )
        wrapped = (total - I32_MIN) % 2**32 + I32_MIN
        assert lib.add_numbers(a, b) == wrapped
        status = new_status() if with_status else ffi.NULL
        assert lib.greeter_add_numbers(a, b, status) == (total if fits else 0)
        if with_status:
            want = lib.GREETER_OK if fits else lib.GREETER_ERR_OVERFLOW
            assert take_status(status) == want

    @PROPS
    @given(st.integers(2**40, 2**64 - 1))
    def test_cancelling_an_unknown_task_is_not_found(self, task_id: int) -> None:
        assert lib.greeter_task_cancel(task_id) == 0


class TestRawQueues:
    @settings(PROPS, max_examples=80)
    @given(st.lists(buffer_and_stated_length(), max_size=10), st.integers(1, 4))
    def test_submitted_names_complete_exactly_once_or_are_refused(
        self, cases: list[tuple[bytes, int]], batch: int
    ) -> None:
        status = new_status()
        queue = lib.greeter_queue_new(status)
        assert queue != ffi.NULL
        assert take_status(status) == lib.GREETER_OK
        try:
            expected: dict[int, bytes] = {}
            for data, stated in cases:
                task_id = lib.greeter_greet_submit(ffi.new("char[]", data), stated, queue, status)
                want = expected_code(data[:stated])
                assert take_status(status) == want
                if want == lib.GREETER_OK:
                    assert task_id != 0
                    expected[task_id] = b"Async Hello, " + data[:stated] + b"!"
                else:
                    assert task_id == 0
            assert lib.greeter_greet_submit(b"x", 1, ffi.NULL, status) == 0
            assert take_status(status) == lib.GREETER_ERR_NULL_POINTER
            got = drain(queue, len(expected), batch)
            assert got == expected
        finally:
            lib.greeter_queue_free(queue)

    def test_null_and_empty_arguments_are_harmless(self) -> None:
        out = ffi.new("GreeterCompletion[]", 2)
        queue = lib.greeter_queue_new(ffi.NULL)
        try:
            assert lib.greeter_queue_fd(ffi.NULL) == -1
            assert lib.greeter_queue_fd(queue) >= 0
            assert lib.greeter_queue_drain(ffi.NULL, out, 2) == 0
            assert lib.greeter_queue_drain(queue, ffi.NULL, 2) == 0
            assert lib.greeter_queue_drain(queue, out, 0) == 0
            lib.greeter_completions_release(ffi.NULL, 2**64 - 1)
            lib.greeter_completions_release(out, 0)
            lib.greeter_status_clear(ffi.NULL)
            lib.greeter_queue_free(ffi.NULL)
        finally:
            lib.greeter_queue_free(queue)

    @settings(PROPS, max_examples=40)
    @given(st.binary(max_size=32))
    def test_the_seed_async_greet_calls_back_exactly_once(self, data: bytes) -> None:
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


def drain(queue: Any, count: int, batch: int) -> dict[int, bytes]:
    """Drains ``count`` completions, ``batch`` at a time; each task id must come once."""
    out = ffi.new("GreeterCompletion[]", batch)
    got: dict[int, bytes] = {}
    deadline = 2000
    while len(got) < count:
        n = lib.greeter_queue_drain(queue, out, batch)
        for i in range(n):
            item = out[i]
            assert item.status.code == lib.GREETER_OK
            assert item.task_id not in got
            got[item.task_id] = ffi.unpack(item.value, item.value_len)
        lib.greeter_completions_release(out, n)
        if n == 0:
            deadline -= 1
            assert deadline > 0, "completions did not arrive"
            threading.Event().wait(0.005)
    assert lib.greeter_queue_drain(queue, out, batch) == 0
    return got


class TestRawPoolAndDiagnostics:
    @settings(PROPS, max_examples=60)
    @given(st.integers(0, SIZE_MAX), st.integers(0, SIZE_MAX))
    def test_configure_refuses_absurd_sizes_and_never_starts_the_pool(
        self, threads: int, capacity: int
    ) -> None:
        greeter.shutdown()
        try:
            greeter.configure_pool()
            default_threads = lib.greeter_pool_threads()
            status = new_status()
            code = lib.greeter_pool_configure(threads, capacity, status)
            want = lib.GREETER_OK if threads <= 1024 else lib.GREETER_ERR_INVALID_ARGUMENT
            assert code == want
            assert take_status(status) == want
            assert not lib.greeter_pool_is_running()
            if code == lib.GREETER_OK:
                assert lib.greeter_pool_threads() == (threads or default_threads)
                assert lib.greeter_pool_queue_capacity() == (capacity or 65536)
        finally:
            greeter.configure_pool()
        assert lib.greeter_pool_configure(2**64 - 1, 0, ffi.NULL) == (
            lib.GREETER_ERR_INVALID_ARGUMENT
        )

    def test_configure_is_refused_while_the_pool_runs(self) -> None:
        asyncio.run(greeter.greet_async("start the pool"))
        status = new_status()
        assert lib.greeter_pool_configure(1, 1, status) == lib.GREETER_ERR_INVALID_ARGUMENT
        assert take_status(status) == lib.GREETER_ERR_INVALID_ARGUMENT
        with pytest.raises(greeter.InvalidArgumentError):
            greeter.configure_pool(threads=2**40)

    @settings(PROPS, max_examples=30)
    @given(st.integers(0, 2**32 - 1))
    def test_inject_panics_reports_what_was_armed(self, count: int) -> None:
        try:
            assert lib.greeter_debug_inject_panics(count) == 0
        finally:
            assert lib.greeter_debug_inject_panics(0) == count

    def test_the_version_is_static(self) -> None:
        assert ffi.string(lib.greeter_version()).decode() == greeter.__version__
