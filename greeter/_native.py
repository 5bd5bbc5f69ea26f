"""The only module that touches cffi's ``ffi`` and ``lib``.

Everything here turns cdata into Python values before returning: the public API never sees a
pointer. Statuses become exceptions in one place, :func:`_raise_status`, through the explicit
table :data:`_ERRORS`.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from itertools import repeat as _repeat
from pathlib import Path
from typing import Any, NoReturn, SupportsIndex

from greeter._greeter_cffi import ffi, lib
from greeter._version import __version__
from greeter.errors import (
    GreeterError,
    GreeterOverflowError,
    InteriorNulError,
    InvalidArgumentError,
    InvalidUtf8Error,
    NullPointerError,
    PoolShutDownError,
    QueueFullError,
    RustPanicError,
)

# --- the version handshake ------------------------------------------------------------------

LIBRARY_VERSION: str = ffi.string(lib.greeter_version()).decode("ascii")
if __version__ != LIBRARY_VERSION:
    raise ImportError(
        f"greeter {__version__} found native library version {LIBRARY_VERSION} at "
        f"{Path(__file__).with_name('libgreeter.so')}: the build is mixed; reinstall greeter"
    )

# --- errors -----------------------------------------------------------------------------------

_ERRORS: dict[int, type[GreeterError]] = {
    lib.GREETER_ERR_NULL_POINTER: NullPointerError,
    lib.GREETER_ERR_INVALID_UTF8: InvalidUtf8Error,
    lib.GREETER_ERR_INTERIOR_NUL: InteriorNulError,
    lib.GREETER_ERR_OVERFLOW: GreeterOverflowError,
    lib.GREETER_ERR_PANIC: RustPanicError,
    lib.GREETER_ERR_SHUT_DOWN: PoolShutDownError,
    lib.GREETER_ERR_QUEUE_FULL: QueueFullError,
    lib.GREETER_ERR_INVALID_ARGUMENT: InvalidArgumentError,
}


def _error(code: int, message: Any) -> GreeterError:
    """The exception for a status code and its (possibly NULL) message pointer."""
    text = ffi.string(message).decode("utf-8", "replace") if message else f"error code {code}"
    return _ERRORS.get(code, GreeterError)(code, text)


def _raise_status(status: Any) -> NoReturn:
    """Raises the exception ``status`` describes and frees its message."""
    try:
        raise _error(status.code, status.message)
    finally:
        lib.greeter_status_clear(status)


def _new_status() -> Any:
    return ffi.new("GreeterStatus *")


def _encode(name: str) -> bytes:
    """UTF-8 bytes of ``name``; TypeError for a non-str, UnicodeEncodeError for surrogates."""
    try:
        return _str_encode(name)
    except TypeError:
        raise TypeError(f"name must be str, not {type(name).__name__}") from None


_str_encode = str.encode

# --- sync calls -------------------------------------------------------------------------------
# Hot paths are written for CPython's interpreter: functions and constants bound to module
# globals (a `lib.f` lookup per call costs ~20 ns), no helper calls, one comparison to tell
# success from failure. docs/benchmarks.md has the numbers behind each choice.

_add_checked = lib.greeter_add_numbers_checked
_ADD_OVERFLOWED: int = lib.GREETER_ADD_OVERFLOWED
_greet_small = lib.greeter_greet_small
_greet_many = lib.greeter_greet_many
_greet_owned = lib.greeter_greet
_unpack = ffi.unpack
_NULL = ffi.NULL
_SMALL_BUFFER_LEN: int = lib.GREETER_SMALL_BUFFER_LEN
_GREETING_EXTRA: int = lib.GREETER_GREETING_EXTRA_BYTES
_SMALL_NAME_MAX = _SMALL_BUFFER_LEN - _GREETING_EXTRA
# greet_many's output buffer is written in full before it is read: no need to zero it.
_new_uncleared = ffi.new_allocator(should_clear_after_alloc=False)


def _integer_argument(value: Any, name: str) -> int:
    """``operator.index(value)``: Python's rule for integer arguments."""
    try:
        return _index(value)
    except TypeError:
        raise TypeError(
            f"add_numbers() argument '{name}' must be an integer (int or an object with "
            f"__index__), not {type(value).__name__}"
        ) from None


_index = operator.index


def add_numbers(a: int, b: int) -> int:
    """``a + b`` for 32-bit signed integers.

    Arguments follow Python's rule for integers (``operator.index``): ``int``, ``bool`` and
    objects with ``__index__`` are accepted; a float, Fraction, Decimal or other object with
    only ``__int__`` raises TypeError naming the argument. Raises OverflowError for an
    argument outside i32 and GreeterOverflowError (an OverflowError) for a sum outside i32.
    """
    # cffi would convert through __int__ (Decimal("3.9") to 3): anything but a plain int goes
    # through operator.index first. The two exact type checks cost ~360 instructions of the
    # call's ~2,400 (callgrind); a.__class__ is cheaper but can lie (a mock's spec), `a | 0`
    # too but lets objects with __or__ and __int__ through, operator.index always is no cheaper.
    if type(a) is not int or type(b) is not int:
        a, b = _integer_argument(a, "a"), _integer_argument(b, "b")
    try:
        total: int = _add_checked(a, b)
    except OverflowError:
        raise OverflowError(f"add_numbers arguments must fit in i32, got {a} and {b}") from None
    if total != _ADD_OVERFLOWED:
        return total
    status = _new_status()
    lib.greeter_add_numbers(a, b, status)  # the same check, with its message
    _raise_status(status)


# Caller-owned output buffers for greet(), GREETER_SMALL_BUFFER_LEN bytes each, with a cffi
# buffer view of each (slicing the view copies the bytes out more cheaply than ffi.unpack,
# which parses keyword arguments). A call takes a pair from the pool and gives it back after
# copying the result (or the error message) out, so a re-entrant greet (a signal handler, a
# finaliser, another thread while this one is inside Rust with the GIL released) never writes
# into a buffer that is still being read: it takes another pair, or makes one. list.pop and
# list.append are atomic under the GIL.
def _new_buffer() -> tuple[Any, Any]:
    buf = ffi.new("char[]", _SMALL_BUFFER_LEN)
    return buf, ffi.buffer(buf)


_buffers: list[tuple[Any, Any]] = [_new_buffer() for _ in range(4)]
_take_buffer = _buffers.pop
_give_buffer = _buffers.append


def greet(name: str) -> str:
    """``Hello, {name}!``, computed by Rust."""
    try:  # _encode inlined: the hot path, where a function call is ~80 ns here
        data = _str_encode(name)
    except TypeError:
        raise TypeError(f"name must be str, not {type(name).__name__}") from None
    size = len(data)
    if size > _SMALL_NAME_MAX:
        with greeting_bytes(data) as owned:
            return owned.value
    try:
        pair = _take_buffer()
    except IndexError:
        pair = _new_buffer()
    buf, view = pair
    n: int = _greet_small(data, size, buf)
    if n >= 0:
        result: str = view[:n].decode()
        _give_buffer(pair)
        return result
    # greeter_greet_small wrote the error message into the buffer.
    error = _error(-n, buf)
    _give_buffer(pair)
    raise error


def greet_many(names: Iterable[str]) -> list[str]:
    """``[greet(name) for name in names]`` in one call into Rust.

    The names travel as one UTF-8 buffer joined by NUL (a name can hold none), and the
    greetings come back the same way, written into a buffer this call owns. Raises TypeError
    for a non-str item (or a str/bytes given as ``names``), InteriorNulError for a name holding
    NUL and UnicodeEncodeError for one holding a lone surrogate.
    """
    if isinstance(names, (str, bytes, bytearray)):
        raise TypeError(f"names must be an iterable of str, not {type(names).__name__}")
    items = names if type(names) is list else list(names)
    count = len(items)
    if not count:
        return []
    try:
        data = "\0".join(items).encode()
    except TypeError:
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise TypeError(f"names[{i}] must be str, not {type(item).__name__}") from None
        raise
    except UnicodeEncodeError:
        for item in items:
            item.encode()  # raises the error for the first bad name itself
        raise
    size = len(data)
    room = size + count * _GREETING_EXTRA  # the documented exact length
    out = _new_uncleared("char[]", room)
    status = _new_status()
    n: int = _greet_many(data, size, count, out, room, status)
    if 0 <= n <= room:
        greetings: list[str] = _unpack(out, n).decode().split("\0")
        return greetings
    if n >= 0:
        raise RuntimeError(f"greeter_greet_many needs {n} bytes, not the documented {room}")
    if n == -lib.GREETER_ERR_INTERIOR_NUL:
        # Rust knows a name held NUL; say which one.
        lib.greeter_status_clear(status)
        i, item = next((i, item) for i, item in enumerate(items) if "\0" in item)
        raise InteriorNulError(
            -n, f"names[{i}] contains a NUL character at offset {item.index(chr(0))}"
        )
    _raise_status(status)


# Scratch space for greeting(): a status and a length, pooled like greet()'s buffers.
_owned_scratch: list[tuple[Any, Any]] = []
_take_owned_scratch = _owned_scratch.pop
_give_owned_scratch = _owned_scratch.append


def greeting_bytes(data: bytes) -> RustString:
    """The greeting for UTF-8 ``data`` as a RustString owning Rust's allocation."""
    try:
        status, length = _take_owned_scratch()
    except IndexError:
        status, length = _new_status(), ffi.new("size_t *")
    ptr = _greet_owned(data, len(data), length, status)
    if ptr == _NULL:
        try:
            _raise_status(status)  # leaves the status cleared
        finally:
            _give_owned_scratch((status, length))
    n: int = length[0]
    _give_owned_scratch((status, length))
    return _adopt(ptr, n)


def greeting(name: str) -> RustString:
    """``Hello, {name}!`` as a :class:`RustString` that owns the string Rust allocated."""
    return greeting_bytes(_encode(name))


def live_strings() -> int:
    """Strings Rust handed out (greetings and error messages) and has not had back."""
    count: int = lib.greeter_live_strings()
    return count


_gc = ffi.gc
_string_free = lib.greeter_string_free
_new_object = object.__new__


class RustString:
    """A string allocated by Rust and owned by this object until :meth:`close`.

    ``close()`` (or leaving a ``with`` block) frees it with ``greeter_string_free`` exactly
    once; closing again does nothing. An object never closed is freed when it is collected.
    Reading a closed RustString raises ValueError, like a closed file. Copying or pickling one
    raises TypeError: it is the only owner of its string.
    """

    # How the string is freed exactly once, without a lock: ``_ptr`` is the only reference to
    # a cdata made by ffi.gc, whose destructor (greeter_string_free) runs when that cdata's
    # last reference goes. close() drops ours; on CPython the string is freed right then. A
    # read running on another thread holds its own reference to the cdata while it copies, so
    # a concurrent close() defers the free until that copy is done: never a use after free.
    __slots__ = ("__weakref__", "_len", "_ptr")

    _ptr: Any
    _len: int

    def __init__(self) -> None:
        raise TypeError("RustString cannot be created directly; use greeter.greeting()")

    @property
    def closed(self) -> bool:
        """True once the string has been freed."""
        return self._ptr is None

    def close(self) -> None:
        """Frees the string now. Idempotent."""
        self._ptr = None

    def __bytes__(self) -> bytes:
        ptr = self._ptr
        if ptr is None:
            raise ValueError("I/O operation on closed RustString")
        data: bytes = _unpack(ptr, self._len)
        return data

    @property
    def value(self) -> str:
        """The string, decoded from UTF-8."""
        ptr = self._ptr
        if ptr is None:
            raise ValueError("I/O operation on closed RustString")
        text: str = _unpack(ptr, self._len).decode()
        return text

    def __str__(self) -> str:
        return self.value

    def __len__(self) -> int:
        """The length in bytes, without the terminating NUL."""
        return self._len

    def __repr__(self) -> str:
        if self._ptr is None:
            return "<RustString closed>"
        return f"<RustString {self.value!r}>"

    def __enter__(self) -> RustString:
        return self

    def __reduce_ex__(self, protocol: SupportsIndex) -> NoReturn:
        # copy.copy, copy.deepcopy and pickle all come here. A copy sharing the pointer would
        # keep the string alive past close(); one that owns a second Rust string would need a
        # second allocation Rust never made. A RustString owns one string: copy its value.
        raise TypeError(
            "a RustString cannot be copied or pickled: it is the one owner of a string Rust "
            "allocated; copy its value (s.value or bytes(s)) instead"
        )

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _adopt(ptr: Any, length: int) -> RustString:
    """A RustString owning ``ptr`` (``length`` bytes plus NUL), handed out by Rust."""
    self: RustString = _new_object(RustString)
    # Freed when this cdata goes: at close(), or when the object is collected unclosed.
    # No size= hint: on CPython it only adds accounting (~500 ns a string on this machine).
    self._ptr = _gc(ptr, _string_free)
    self._len = length
    return self


# --- the worker pool --------------------------------------------------------------------------


def pool_configure(threads: int, queue_capacity: int) -> None:
    status = _new_status()
    if lib.greeter_pool_configure(threads, queue_capacity, status) != lib.GREETER_OK:
        _raise_status(status)


def pool_shutdown() -> None:
    lib.greeter_pool_shutdown()


def pool_size() -> tuple[int, int]:
    return int(lib.greeter_pool_threads()), int(lib.greeter_pool_queue_capacity())


def task_cancel(task_id: int) -> int:
    """1: removed before it started; 2: running, result dropped; 0: already finished."""
    outcome: int = lib.greeter_task_cancel(task_id)
    return outcome


Completion = tuple[int, str | None, GreeterError | None]

_DRAIN_BATCH = 1024
_DRAIN_TEXT = 64 * 1024
_drain_packed = lib.greeter_queue_drain_packed
_submit = lib.greeter_greet_submit
_submit_many = lib.greeter_greet_submit_many
_LENS_TYPE = ffi.typeof("size_t[]")
_new_lens = ffi.new


_queue_free = lib.greeter_queue_free


def _closed_queue_error() -> PoolShutDownError:
    return PoolShutDownError(
        lib.GREETER_ERR_SHUT_DOWN, "this event loop's completion queue is closed"
    )


class CompletionQueue:
    """A Rust completion queue for one event loop; see ``greeter_queue_new``.

    Not thread-safe: one event loop thread submits and drains. ``cancel`` (through
    :func:`task_cancel`) may come from any thread. After :meth:`close`, submits raise
    PoolShutDownError and drains return nothing.
    """

    # How the queue is never freed while a call uses it, without a lock: as for RustString,
    # ``_ptr`` is the only reference to a cdata made by ffi.gc, whose destructor
    # (greeter_queue_free, which drops Python's reference to the Rust queue) runs when that
    # cdata's last reference goes. Each call passes the cdata as an argument and so holds it
    # while Rust runs with the GIL released: a close() on another thread (an exit-time
    # finalizer, say) defers the free until the call returns.

    def __init__(self) -> None:
        status = _new_status()
        ptr = lib.greeter_queue_new(status)
        if ptr == _NULL:
            _raise_status(status)
        self._ptr: Any = _gc(ptr, _queue_free)
        self.fd: int = lib.greeter_queue_fd(ptr)
        # Reused per queue: only its loop's thread submits and drains, and neither nests.
        self._status = _new_status()
        # greeter_queue_drain_packed writes a batch into flat arrays: three bulk copies per
        # batch instead of several cffi field accesses per completion, and nothing to release.
        self._ids = ffi.new("uint64_t[]", _DRAIN_BATCH)
        self._codes = ffi.new("GreeterCode[]", _DRAIN_BATCH)
        self._text = ffi.new("char[]", _DRAIN_TEXT)
        self._used = ffi.new("size_t *")
        self._left = ffi.new("size_t *")
        self._first = ffi.new("uint64_t *")

    def submit(self, data: bytes) -> int:
        """Queues the async greeting of UTF-8 ``data``; returns the task id."""
        ptr = self._ptr
        if ptr is None:
            raise _closed_queue_error()
        task_id: int = _submit(data, len(data), ptr, self._status)
        if task_id == 0:
            _raise_status(self._status)
        return task_id

    def submit_many(self, names: list[bytes]) -> tuple[int, int]:
        """Queues the async greetings of the UTF-8 ``names`` in one call: ``(first_id, n)``,
        the first ``n`` accepted with ids ``first_id, first_id + 1, ...`` (``n`` is less than
        ``len(names)`` when the pool's queue is nearly full). Raises QueueFullError when none
        fits, PoolShutDownError after shutdown. A name Rust refuses (NUL) still gets its id;
        its error arrives as its completion."""
        ptr = self._ptr
        if ptr is None:
            raise _closed_queue_error()
        first = self._first
        n: int = _submit_many(
            b"".join(names),
            _new_lens(_LENS_TYPE, [len(d) for d in names]),
            len(names),
            ptr,
            first,
            self._status,
        )
        if n == 0 and names:
            _raise_status(self._status)
        first_id: int = first[0]
        return first_id, n

    def drain(self, limit: int = _DRAIN_BATCH) -> list[Completion]:
        """Up to ``limit`` waiting completions, oldest first, as ``(task_id, value, error)``.
        The descriptor stays readable while more are waiting."""
        out: list[Completion] = []
        ptr = self._ptr
        if ptr is None:
            return out
        ids, codes, used, left = self._ids, self._codes, self._used, self._left
        text, room = self._text, _DRAIN_TEXT
        while len(out) < limit:
            want = min(limit - len(out), _DRAIN_BATCH)
            n: int = _drain_packed(ptr, ids, codes, want, text, room, used, left)
            if n == 0:
                if used[0] <= room:
                    break  # nothing waiting
                # One text larger than the buffer: a buffer for it, this drain only.
                room = used[0]
                text = _new_uncleared("char[]", room)
                continue
            texts = _unpack(text, used[0]).decode().split("\0")
            task_ids: list[int] = _unpack(ids, n)
            status: list[int] = _unpack(codes, n)
            if any(status):
                for task_id, code, value in zip(task_ids, status, texts, strict=True):
                    if code:
                        out.append((task_id, None, _ERRORS.get(code, GreeterError)(code, value)))
                    else:
                        out.append((task_id, value, None))
            else:
                out.extend(zip(task_ids, texts, _repeat(None)))
            if not left[0]:
                break
        return out

    @property
    def closed(self) -> bool:
        """True once :meth:`close` (or :meth:`forget`) ran."""
        return self._ptr is None

    def close(self) -> None:
        """Drops Python's reference: the queue is closed and freed at once, or when a call in
        progress on another thread returns; later completions for it are dropped by Rust.
        Idempotent."""
        self._ptr = None

    def forget(self) -> None:
        """Drops the queue without freeing it (a fork child must not touch the parent's locks)."""
        ptr, self._ptr = self._ptr, None
        if ptr is not None:
            _gc(ptr, None)  # detaches greeter_queue_free from the cdata


def inject_panics(count: int) -> int:
    """Diagnostic: the next ``count`` greetings anywhere in the process panic inside Rust."""
    previous: int = lib.greeter_debug_inject_panics(count)
    return previous
