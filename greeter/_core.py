"""The low layer: loads greeter's native library and turns its failure convention into Python.

This is the only module that imports the cffi extension; the layers above reach the library
through the names it exports (``ffi``, ``lib``, ``short_lib``) and its helpers, and never
return cdata to a user. The modules stack, each importing only those before it:

- ``_core`` (this one): the library, statuses and exceptions, :func:`call` (and
  :func:`call_i64` for an ``int64_t`` result, Rust's ``i64``), :class:`Handle`;
- ``_strings``: the conversions of text (pooled buffers, :class:`RustString`, the helpers a
  new function calls);
- ``_pool`` and ``_aio``: the worker pool, completion queues, :func:`_aio.async_function`;
- ``_objects`` and ``_functions``: the public object types and functions, re-exported by
  ``greeter``.

The C API has one failure convention (``GreeterStatus *status`` last; on failure the export
returns zero, NULL or nothing, and the status says why) and :func:`call` is its Python side: it
calls an export with a status and raises the exception the status describes. The hot-path
exports (``greeter_add_numbers``, ``greeter_greet_into``, ``greeter_greeter_greet_into``) report
into the calling thread's status instead of a parameter, which cffi would charge for on every
call: :func:`thread_error`. Statuses become exceptions in one place, :func:`status_error`,
through the explicit table :data:`ERRORS`.

Short calls (exports documented ``Short call:``, bounded and lock-free) are called through
``short_lib``, the module that keeps the GIL (ffi_build.py), with inputs no larger than the
bound stated where they are called; everything else, and any larger input, through ``lib``,
which releases it. Both take the same arguments and follow the same conventions.
"""

from __future__ import annotations

import functools
import sys
import weakref
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import FunctionType
from typing import Any, ClassVar, Self, SupportsIndex, TypeVar, cast

from greeter._greeter_cffi import ffi, lib
from greeter._greeter_cffi_short import lib as short_lib
from greeter._version import __version__
from greeter.errors import (
    GreeterError,
    GreeterOverflowError,
    InteriorNulError,
    InvalidArgumentError,
    InvalidTemplateError,
    InvalidUtf8Error,
    NullPointerError,
    OutOfMemoryError,
    PoolShutDownError,
    QueueFullError,
    RustPanicError,
)

__all__ = [
    "ERRORS",
    "FAILED",
    "LIBRARY_VERSION",
    "NULL",
    "RELEASE_AT_CLOSE",
    "SHORT_CALL_BYTES",
    "Handle",
    "Owner",
    "as_bytes",
    "call",
    "call_i64",
    "code_error",
    "encode",
    "ffi",
    "lib",
    "new_status",
    "short_lib",
    "status_error",
    "thread_error",
    "uses_pointer",
]

_T = TypeVar("_T")

# --- the version handshake ------------------------------------------------------------------

LIBRARY_VERSION: str = ffi.string(lib.greeter_version()).decode("ascii")
if __version__ != LIBRARY_VERSION:
    raise ImportError(
        f"greeter {__version__} found native library version {LIBRARY_VERSION} at "
        f"{Path(__file__).with_name('libgreeter.so')}: the build is mixed; reinstall greeter"
    )

# --- errors: the one failure convention -------------------------------------------------------

ERRORS: dict[int, type[GreeterError]] = {
    lib.GREETER_ERR_NULL_POINTER: NullPointerError,
    lib.GREETER_ERR_INVALID_UTF8: InvalidUtf8Error,
    lib.GREETER_ERR_INTERIOR_NUL: InteriorNulError,
    lib.GREETER_ERR_OVERFLOW: GreeterOverflowError,
    lib.GREETER_ERR_PANIC: RustPanicError,
    lib.GREETER_ERR_SHUT_DOWN: PoolShutDownError,
    lib.GREETER_ERR_QUEUE_FULL: QueueFullError,
    lib.GREETER_ERR_INVALID_ARGUMENT: InvalidArgumentError,
    lib.GREETER_ERR_INVALID_TEMPLATE: InvalidTemplateError,
    lib.GREETER_ERR_OUT_OF_MEMORY: OutOfMemoryError,
}

NULL = ffi.NULL
FAILED: int = lib.GREETER_FAILED
# The largest input, in bytes, given to a short call whose work grows with its input (a name
# to greet, a batch to write): about a microsecond of Rust work here, less than what the module
# that releases the GIL adds to a call (docs/design.md). Larger inputs go through ``lib``.
SHORT_CALL_BYTES = 1024


def code_error(code: int, message: Any) -> GreeterError:
    """The exception for a status code and its message (a C string, possibly NULL, or str)."""
    if isinstance(message, str):
        text = message
    elif message:
        text = ffi.string(message).decode("utf-8", "replace")
    else:
        text = f"error code {code}"
    return ERRORS.get(code, GreeterError)(code, text)


def status_error(status: Any) -> GreeterError:
    """The exception ``status`` describes; its message is freed and the status cleared."""
    error = code_error(status.code, status.message)
    lib.greeter_status_clear(status)
    return error


def new_status() -> Any:
    """A status of its own, for a caller that keeps one (a completion queue)."""
    return ffi.new("GreeterStatus *")


# Statuses are pooled: a call takes one and gives it back, so a call made while another is in
# Rust (another thread with the GIL released, a signal handler, a finaliser) never shares one.
# list.pop and list.append are atomic under the GIL. The pool starts with a few, so that one
# call at a time never empties it: a list emptied and refilled is reallocated each time.
_statuses: list[Any] = [new_status() for _ in range(4)]
_take_status = _statuses.pop
_give_status = _statuses.append


def call(export: Callable[..., Any], *args: Any) -> Any:
    """``export(*args, status)``: its result, or the exception its status describes.

    On failure an export returns zero, NULL or nothing: only then is the status read, since
    reading a cdata field costs more than the comparison.
    """
    try:
        status = _take_status()
    except IndexError:
        status = new_status()
    result = export(*args, status)
    if not result and status.code:
        error = status_error(status)
        _give_status(status)
        raise error
    _give_status(status)
    return result


def call_i64(export: Callable[..., Any], *args: Any) -> int:
    """``export(*args, status)`` for an export returning ``int64_t``, whose failure value is
    ``GREETER_FAILED`` rather than zero (the header's rule): its result, or the exception its
    status describes. A separate helper so that :func:`call`, which the pointer and size
    exports go through, pays no second comparison."""
    try:
        status = _take_status()
    except IndexError:
        status = new_status()
    result: int = export(*args, status)
    if result == FAILED and status.code:
        error = status_error(status)
        _give_status(status)
        raise error
    _give_status(status)
    return result


def thread_error() -> GreeterError:
    """The exception for a hot-path export that returned ``GREETER_FAILED``: its status is the
    calling thread's, taken at once (before another greeter call on this thread can fail)."""
    try:
        status = _take_status()
    except IndexError:
        status = new_status()
    lib.greeter_status_take_thread(status)
    error = status_error(status)  # code 0 ("error code 0") only if a nested call took it
    _give_status(status)
    return error


_str_encode = str.encode


def encode(name: str) -> bytes:
    """UTF-8 bytes of ``name``; TypeError for a non-str, UnicodeEncodeError for surrogates."""
    try:
        return _str_encode(name)
    except TypeError:
        raise TypeError(f"name must be str, not {type(name).__name__}") from None


def as_bytes(data: bytes) -> bytes:
    """``data`` itself when it is bytes (a subclass included); TypeError otherwise. Not
    ``bytearray`` or ``memoryview``: an asynchronous call's argument waits for its loop's next
    flush, and a mutable buffer could change meanwhile; sync and async take the same types."""
    if not isinstance(data, bytes):
        raise TypeError(f"data must be bytes, not {type(data).__name__}")
    return data


# --- owners: what Python owns that Rust handed out ---------------------------------------------


class Owner:
    """The base of every Python object that owns something Rust handed out and frees it through
    the matching ``greeter_*_free`` export: the rules they share, whatever holds the pointer.

    ``close()`` (or leaving a ``with`` block) frees it, at once or (for a :class:`Handle`) as
    soon as the calls using it return; closing again does nothing; an object never closed is
    freed when it is collected. A use after close raises ValueError, like a closed file.
    Copying or pickling raises TypeError unless the subclass says how (``__reduce_ex__``).

    The pointer is held in one of two ways, by what uses it after it was handed out:

    - calls into Rust, which may run on other threads with the GIL released (an object's
      methods): :class:`Handle`, which never frees it under such a call;
    - nothing: what it points to was copied into Python when it was handed out (a string's
      text: ``greeter._strings.RustString``), so close() only has to take the pointer once
      and free it. It skips Handle's ffi.gc cdata, which costs a string ~1,700 instructions,
      more than a third of ``greet`` (scripts/callgrind_calls.py).
    """

    __slots__ = ("__weakref__",)

    # The ValueError message for a use after close() ("closed <class name>" when empty), and
    # the TypeError one for a copy.
    _closed_message: ClassVar[str] = ""
    _copy_message: ClassVar[str] = "a handle cannot be copied or pickled"

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        raise NotImplementedError

    def close(self) -> None:
        """Frees what this object owns. Idempotent; never waits."""
        raise NotImplementedError

    def _closed_error(self) -> ValueError:
        return ValueError(self._closed_message or f"closed {type(self).__name__}")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        self.close()

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[Any, ...]:
        # copy.copy, copy.deepcopy and pickle all come here. A copy sharing the pointer would
        # keep it alive past close(); one owning a second would need an allocation Rust never
        # made. A subclass that can make a new value (Greeter: from its template) says so.
        raise TypeError(self._copy_message)


# --- handles: pointers that calls use -----------------------------------------------------------
#
# How a pointer is freed exactly once, at close(), and never while a call uses it, without a
# lock. The pointer is held as a cdata made by ffi.gc, whose destructor (the free export) runs
# when that cdata goes: a Handle never closed is freed when it is collected. A call reads
# ``_ptr`` into a local (or passes it as an export's argument) before using it, so it holds the
# cdata while it runs, with the GIL released or not; close() sets ``_ptr`` to None, after which
# no call can pick the pointer up.
#
# CPython frees an object the moment its last reference goes: close() drops the handle's
# reference, and the pointer is freed then, or when the last call holding it returns, even if
# that call was preempted between reading the pointer and using it. Nothing more is needed,
# and the hot paths pay nothing for it.
#
# PyPy frees an ffi.gc cdata only when its collector runs, so there close() frees the pointer
# itself (ffi.release) and must know that no call is using it: every method and property a
# Handle subclass defines (but __init__) is wrapped by ``uses_pointer`` when the class is
# made (Handle.__init_subclass__), which on PyPy counts it in ``_users`` while it runs
# (list.append and list.pop are atomic), and the pointer is released by close() when no call
# uses it, or else by the last such call to end. Nothing is marked by hand, so a method added
# later cannot be forgotten. ``_owner`` holds the cdata until then; its pop makes the release
# happen once.
RELEASE_AT_CLOSE = sys.implementation.name != "cpython"

_gc = ffi.gc
_release = ffi.release
_Method = TypeVar("_Method", bound=Callable[..., Any])


def uses_pointer(method: _Method) -> _Method:
    """A :class:`Handle` method that may use the pointer: as it is on CPython; on PyPy,
    counted while it runs, so that a close() meanwhile leaves the release to it. Applied to
    every method of a subclass by :meth:`Handle.__init_subclass__`."""
    if not RELEASE_AT_CLOSE:
        return method

    @functools.wraps(method)
    def counted(self: Handle, *args: Any, **kwargs: Any) -> Any:
        users = self._users
        users.append(None)
        try:
            return method(self, *args, **kwargs)
        finally:
            users.pop()
            if not users and self._ptr is None:
                self._release()

    return cast(_Method, counted)


class Handle(Owner):
    """An :class:`Owner` of one pointer that calls into Rust use (an object, a completion
    queue): ``close()`` frees it at once, or, when a call using it is running on another
    thread, as soon as that call returns.

    A subclass reads :attr:`_ptr` into a local before using it (None: ``_closed_error()``), or
    calls ``_pointer()``; its methods need no marking (see ``__init_subclass__``).
    """

    __slots__ = ("_owner", "_ptr", "_users")

    _ptr: Any
    _owner: list[Any]  # PyPy only: the cdata, until released
    _users: list[None]  # PyPy only: one entry per call using the pointer

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """On PyPy, wraps every method and property getter the subclass defines (but
        ``__init__``, which runs before there is a pointer) in ``uses_pointer``; on CPython,
        where a call's own reference keeps the pointer alive, nothing."""
        super().__init_subclass__(**kwargs)
        if not RELEASE_AT_CLOSE:
            return
        for name, attr in list(vars(cls).items()):
            if isinstance(attr, FunctionType) and name != "__init__":
                setattr(cls, name, uses_pointer(attr))
            elif isinstance(attr, property) and attr.fget is not None:
                getter = uses_pointer(attr.fget)
                setattr(cls, name, property(getter, attr.fset, attr.fdel, attr.__doc__))

    def _own(self, ptr: Any, free: Callable[[Any], None], size: int = 0) -> None:
        """Takes ownership of ``ptr``, which ``free`` releases; ``size`` is the memory it holds,
        as far as known, for a collector deciding when to run (PyPy's)."""
        handle = _gc(ptr, free, size)
        if RELEASE_AT_CLOSE:
            self._users = []
            self._owner = [handle]
        self._ptr = handle

    def _release(self) -> None:
        try:
            handle = self._owner.pop()
        except IndexError:
            return  # released already
        _release(handle)

    def _pointer(self) -> Any:
        """The pointer, for a call to hold while Rust runs (see above); ValueError once
        closed. What a method reads first."""
        ptr = self._ptr
        if ptr is None:
            raise self._closed_error()
        return ptr

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._ptr is None

    def close(self) -> None:
        """Frees the pointer now, or when the calls using it on other threads return.
        Idempotent; never waits."""
        self._ptr = None
        if RELEASE_AT_CLOSE and not self._users:
            self._release()

    def _until_done(self, coroutine: Coroutine[Any, Any, _T]) -> Coroutine[Any, Any, _T]:
        """``coroutine``, which uses the pointer until it ends: counted as a call from now
        (PyPy; on CPython the coroutine holds the cdata itself)."""
        if not RELEASE_AT_CLOSE:
            return coroutine
        users = self._users
        users.append(None)
        counted_in = [None]  # popped by whichever ends the count: the coroutine or its collection

        def count_out() -> None:
            try:
                counted_in.pop()
            except IndexError:
                return
            users.pop()
            if not users and self._ptr is None:
                self._release()

        async def counted() -> _T:
            try:
                return await coroutine
            finally:
                count_out()

        waiting = counted()
        # A coroutine dropped before it started (a task cancelled before its first step) runs
        # no finally: its collection counts it out.
        weakref.finalize(waiting, count_out)
        return waiting
