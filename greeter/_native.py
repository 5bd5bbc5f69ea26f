"""The only module that touches cffi's ``ffi`` and ``lib``.

Everything here turns cdata into Python values before returning: the public API never sees a
pointer. Statuses become exceptions in one place, :func:`_raise_status`, through the explicit
table :data:`_ERRORS`.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, NoReturn

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
# Hot functions are bound to module globals: a `lib.f` lookup per call costs ~20 ns.

_add_wide = lib.greeter_add_numbers_wide
_greet_into = lib.greeter_greet_into
_unpack = ffi.unpack
_NULL = ffi.NULL
_I32_MIN = -(2**31)
_I32_MAX = 2**31 - 1


def add_numbers(a: int, b: int) -> int:
    """``a + b`` for 32-bit signed integers.

    Raises TypeError for a non-integer, OverflowError for an argument outside i32 and
    GreeterOverflowError (an OverflowError) for a sum outside i32.
    """
    try:
        total: int = _add_wide(a, b)  # cffi raises TypeError for a non-integer
    except OverflowError:
        raise OverflowError(f"add_numbers arguments must fit in i32, got {a} and {b}") from None
    if _I32_MIN <= total <= _I32_MAX:
        return total
    status = _new_status()
    lib.greeter_add_numbers(a, b, status)
    _raise_status(status)


# Caller-owned scratch space for greet(): an output buffer and a status. A call takes a pair
# from the pool and gives it back after copying the result out, so a re-entrant greet (a
# signal handler, a finaliser, another thread while this one is inside Rust with the GIL
# released) never writes into a buffer that is still being read. list.pop/append are atomic
# under the GIL.
_BUFFER_SIZE = 256
_scratch: list[tuple[Any, Any]] = []


def _new_scratch() -> tuple[Any, Any]:
    return ffi.new("char[]", _BUFFER_SIZE), _new_status()


def greet(name: str) -> str:
    """``Hello, {name}!``, computed by Rust."""
    data = _encode(name)
    size = len(data)
    if size >= _BUFFER_SIZE:
        with greeting_bytes(data) as owned:
            return owned.value
    try:
        buf, status = _scratch.pop()
    except IndexError:
        buf, status = _new_scratch()
    n = _greet_into(data, size, buf, _BUFFER_SIZE, status)
    if 0 <= n <= _BUFFER_SIZE:
        result: str = _unpack(buf, n).decode()
        _scratch.append((buf, status))
        return result
    if n < 0:
        # Read and clear the status before the pair goes back to the pool: from then on
        # another thread may take it and overwrite (and free) the message.
        error = _error(status.code, status.message)
        lib.greeter_status_clear(status)
        _scratch.append((buf, status))
        raise error
    _scratch.append((buf, status))
    with greeting_bytes(data) as owned:
        return owned.value


def greeting_bytes(data: bytes) -> RustString:
    """The greeting for UTF-8 ``data`` as a RustString owning Rust's allocation."""
    status = _new_status()
    length = ffi.new("size_t *")
    ptr = lib.greeter_greet(data, len(data), length, status)
    if ptr == _NULL:
        _raise_status(status)
    return RustString._adopt(ptr, length[0])


def greeting(name: str) -> RustString:
    """``Hello, {name}!`` as a :class:`RustString` that owns the string Rust allocated."""
    return greeting_bytes(_encode(name))


def live_strings() -> int:
    """Strings Rust handed out (greetings and error messages) and has not had back."""
    count: int = lib.greeter_live_strings()
    return count


class RustString:
    """A string allocated by Rust and owned by this object until :meth:`close`.

    ``close()`` (or leaving a ``with`` block) frees it with ``greeter_string_free`` exactly
    once; closing again does nothing. An object never closed is freed when it is collected.
    Reading a closed RustString raises ValueError, like a closed file.
    """

    __slots__ = ("__weakref__", "_len", "_lock", "_ptr")

    _ptr: Any
    _len: int
    _lock: threading.Lock

    def __init__(self) -> None:
        raise TypeError("RustString cannot be created directly; use greeter.greeting()")

    @classmethod
    def _adopt(cls, ptr: Any, length: int) -> RustString:
        self = object.__new__(cls)
        # ffi.gc frees it if this object is collected unclosed; ffi.release runs that same
        # destructor early and disarms it, so the string is freed exactly once either way.
        self._ptr = ffi.gc(ptr, lib.greeter_string_free, size=length + 1)
        self._len = length
        # Reading and closing from different threads must not interleave (use after free).
        self._lock = threading.Lock()
        return self

    @property
    def closed(self) -> bool:
        """True once the string has been freed."""
        return self._ptr is None

    def close(self) -> None:
        """Frees the string now. Idempotent."""
        with self._lock:
            ptr, self._ptr = self._ptr, None
            if ptr is not None:
                ffi.release(ptr)

    def __bytes__(self) -> bytes:
        with self._lock:
            if self._ptr is None:
                raise ValueError("I/O operation on closed RustString")
            data: bytes = _unpack(self._ptr, self._len)
            return data

    @property
    def value(self) -> str:
        """The string, decoded from UTF-8."""
        return bytes(self).decode()

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

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# --- the worker pool --------------------------------------------------------------------------


def pool_configure(threads: int, queue_capacity: int) -> None:
    status = _new_status()
    if lib.greeter_pool_configure(threads, queue_capacity, status) != lib.GREETER_OK:
        _raise_status(status)


def pool_shutdown() -> None:
    lib.greeter_pool_shutdown()


def pool_size() -> tuple[int, int]:
    return int(lib.greeter_pool_threads()), int(lib.greeter_pool_queue_capacity())


def pool_is_running() -> bool:
    return bool(lib.greeter_pool_is_running())


def task_cancel(task_id: int) -> int:
    """1: removed before it started; 2: running, result dropped; 0: already finished."""
    outcome: int = lib.greeter_task_cancel(task_id)
    return outcome


Completion = tuple[int, str | None, GreeterError | None]

_DRAIN_BATCH = 256


class CompletionQueue:
    """A Rust completion queue for one event loop; see ``greeter_queue_new``.

    Not thread-safe: one event loop thread submits and drains. ``cancel`` (through
    :func:`task_cancel`) may come from any thread.
    """

    def __init__(self) -> None:
        status = _new_status()
        ptr = lib.greeter_queue_new(status)
        if ptr == _NULL:
            _raise_status(status)
        self._ptr: Any = ptr
        self.fd: int = lib.greeter_queue_fd(ptr)
        # Reused per queue: only its loop's thread submits, and submits never nest.
        self._status = _new_status()
        self._batch = ffi.new("GreeterCompletion[]", _DRAIN_BATCH)

    def submit(self, data: bytes) -> int:
        """Queues the async greeting of UTF-8 ``data``; returns the task id."""
        task_id: int = lib.greeter_greet_submit(data, len(data), self._ptr, self._status)
        if task_id == 0:
            _raise_status(self._status)
        return task_id

    def drain(self) -> list[Completion]:
        """Every completion waiting, as ``(task_id, value, error)``; frees their strings."""
        out: list[Completion] = []
        batch = self._batch
        while self._ptr is not None:
            n = lib.greeter_queue_drain(self._ptr, batch, _DRAIN_BATCH)
            try:
                for i in range(n):
                    item = batch[i]
                    status = item.status
                    if status.code == 0:
                        value = _unpack(item.value, item.value_len).decode()
                        out.append((item.task_id, value, None))
                    else:
                        out.append((item.task_id, None, _error(status.code, status.message)))
            finally:
                lib.greeter_completions_release(batch, n)
            if n < _DRAIN_BATCH:
                break
        return out

    def close(self) -> None:
        """Frees the queue; later completions for it are dropped by Rust. Idempotent."""
        ptr, self._ptr = self._ptr, None
        if ptr is not None:
            lib.greeter_queue_free(ptr)

    def forget(self) -> None:
        """Drops the queue without freeing it (a fork child must not touch the parent's locks)."""
        self._ptr = None


def inject_panics(count: int) -> int:
    """Diagnostic: the next ``count`` greetings anywhere in the process panic inside Rust."""
    previous: int = lib.greeter_debug_inject_panics(count)
    return previous
