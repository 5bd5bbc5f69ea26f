"""The only module that touches cffi's ``ffi`` and ``lib``: greeter's functions, as Python.

Everything here turns cdata into Python values before returning: the public API never sees a
pointer. The C API has one failure convention (``GreeterStatus *status`` last; on failure the
export returns zero, NULL or nothing, and the status says why) and :func:`_call` is its Python
side: it calls an export with a status and raises the exception the status describes. Every
wrapper goes through it, except where the same convention is written out for speed: the hot
paths (``greeter_add_numbers``, ``greeter_greet_into`` and ``greeter_greeter_greet_into`` report
into the calling thread's status instead of a parameter, which cffi would charge for on every
call: :func:`_thread_error`)
and a completion queue's submit and drain, which reuse the queue's own status.
Statuses become exceptions in one place, :func:`_status_error`, through the explicit table
:data:`_ERRORS`.

Short calls (exports documented ``Short call:``, bounded and lock-free) are called through
``short_lib``, the module that keeps the GIL (ffi_build.py), with inputs no larger than the
bound stated where they are called; everything else, and any larger input, through ``lib``,
which releases it. Both take the same arguments and follow the same conventions.

An asynchronous function is one line: ``name_async = _aio.async_function(lib.greeter_name_submit)``.
The package exports what :data:`__all__` lists.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Coroutine, Iterable
from itertools import repeat as _repeat
from pathlib import Path
from typing import Any, NoReturn, SupportsIndex

from greeter import _aio
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
    PoolShutDownError,
    QueueFullError,
    RustPanicError,
)

__all__ = [
    "LIBRARY_VERSION",
    "Greeter",
    "RustString",
    "add_numbers",
    "greet",
    "greet_async",
    "greet_many",
    "greeting",
    "live_objects",
    "live_strings",
]

# --- the version handshake ------------------------------------------------------------------

LIBRARY_VERSION: str = ffi.string(lib.greeter_version()).decode("ascii")
if __version__ != LIBRARY_VERSION:
    raise ImportError(
        f"greeter {__version__} found native library version {LIBRARY_VERSION} at "
        f"{Path(__file__).with_name('libgreeter.so')}: the build is mixed; reinstall greeter"
    )

# --- errors: the one failure convention -------------------------------------------------------

_ERRORS: dict[int, type[GreeterError]] = {
    lib.GREETER_ERR_NULL_POINTER: NullPointerError,
    lib.GREETER_ERR_INVALID_UTF8: InvalidUtf8Error,
    lib.GREETER_ERR_INTERIOR_NUL: InteriorNulError,
    lib.GREETER_ERR_OVERFLOW: GreeterOverflowError,
    lib.GREETER_ERR_PANIC: RustPanicError,
    lib.GREETER_ERR_SHUT_DOWN: PoolShutDownError,
    lib.GREETER_ERR_QUEUE_FULL: QueueFullError,
    lib.GREETER_ERR_INVALID_ARGUMENT: InvalidArgumentError,
    lib.GREETER_ERR_INVALID_TEMPLATE: InvalidTemplateError,
}

_NULL = ffi.NULL
_FAILED: int = lib.GREETER_FAILED


def _error(code: int, message: Any) -> GreeterError:
    """The exception for a status code and its message (a C string, possibly NULL, or str)."""
    if isinstance(message, str):
        text = message
    elif message:
        text = ffi.string(message).decode("utf-8", "replace")
    else:
        text = f"error code {code}"
    return _ERRORS.get(code, GreeterError)(code, text)


def _status_error(status: Any) -> GreeterError:
    """The exception ``status`` describes; its message is freed and the status cleared."""
    error = _error(status.code, status.message)
    lib.greeter_status_clear(status)
    return error


# Statuses are pooled: a call takes one and gives it back, so a call made while another is in
# Rust (another thread with the GIL released, a signal handler, a finaliser) never shares one.
# list.pop and list.append are atomic under the GIL.
_statuses: list[Any] = []
_take_status = _statuses.pop
_give_status = _statuses.append


def _new_status() -> Any:
    return ffi.new("GreeterStatus *")


def _call(export: Callable[..., Any], *args: Any) -> Any:
    """``export(*args, status)``: its result, or the exception its status describes.

    On failure an export returns zero, NULL or nothing: only then is the status read, since
    reading a cdata field costs more than the comparison.
    """
    try:
        status = _take_status()
    except IndexError:
        status = _new_status()
    result = export(*args, status)
    if not result and status.code:
        error = _status_error(status)
        _give_status(status)
        raise error
    _give_status(status)
    return result


def _thread_error() -> GreeterError:
    """The exception for a hot-path export that returned ``GREETER_FAILED``: its status is the
    calling thread's, taken at once (before another greeter call on this thread can fail)."""
    try:
        status = _take_status()
    except IndexError:
        status = _new_status()
    lib.greeter_status_take_thread(status)
    error = _status_error(status)  # code 0 ("error code 0") only if a nested call took it
    _give_status(status)
    return error


def _encode(name: str) -> bytes:
    """UTF-8 bytes of ``name``; TypeError for a non-str, UnicodeEncodeError for surrogates."""
    try:
        return _str_encode(name)
    except TypeError:
        raise TypeError(f"name must be str, not {type(name).__name__}") from None


_str_encode = str.encode

# --- strings Rust hands out ---------------------------------------------------------------------

_gc = ffi.gc
_unpack = ffi.unpack
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


# Length out-parameters for text exports, pooled like statuses.
_lengths: list[Any] = []
_take_length = _lengths.pop
_give_length = _lengths.append


def _owned(export: Callable[..., Any], name: str) -> RustString:
    """A text export (``name, name_len, out_len, status -> char *``) called on ``name``: the
    string it hands out, owned by a RustString."""
    data = _encode(name)
    try:
        length = _take_length()
    except IndexError:
        length = ffi.new("size_t *")
    try:
        ptr = _call(export, data, len(data), length)
        n: int = length[0]
    finally:
        _give_length(length)
    self: RustString = _new_object(RustString)
    # Freed when this cdata goes: at close(), or when the object is collected unclosed.
    # No size= hint: on CPython it only adds accounting (~500 ns a string on this machine).
    self._ptr = _gc(ptr, _string_free)
    self._len = n
    return self


def _text(export: Callable[..., Any], name: str) -> str:
    """A text export called on ``name``: its string as ``str``, freed at once."""
    with _owned(export, name) as owned:
        return owned.value


def live_strings() -> int:
    """Strings Rust handed out (greetings and error messages) and has not had back."""
    count: int = lib.greeter_live_strings()
    return count


# --- greetings --------------------------------------------------------------------------------
# The hot paths: functions and constants bound to module globals (a `lib.f` lookup per call
# costs ~20 ns), no helper call on success, one comparison to tell success from failure.

_index = operator.index


def _add_ints(a: int, b: int) -> int:
    """``greeter_add_numbers`` for int arguments only, refusing anything else with TypeError
    before any of its code runs: the rule the CPython extension applies in C (ffi_build.py).
    cffi's own conversion, used elsewhere (PyPy), would call ``__int__``."""
    if isinstance(a, int) and isinstance(b, int):
        total: int = _add_plain(a, b)
        return total
    raise TypeError("an int is required")


_add_plain = short_lib.greeter_add_numbers
# The build chose: CPython's extension refuses non-int arguments itself; elsewhere this does.
_add: Callable[[int, int], int] = _add_plain if lib.GREETER_BINDING_INT_ONLY else _add_ints


def _argument_index(name: str, value: Any) -> int:
    """``operator.index(value)`` (``__index__`` called once), or the TypeError naming the
    argument, chained from the error ``__index__`` raised. Other exceptions propagate."""
    try:
        index: int = _index(value)
    except TypeError as error:
        raise TypeError(
            f"add_numbers() argument '{name}' must be an integer (int or an object with "
            f"__index__), not {type(value).__name__}"
        ) from error
    return index


def _add_indexed(a: Any, b: Any) -> int:
    """add_numbers' cold path, for arguments the extension refused: Python's rule for
    integers applied to each, in order, then the call again."""
    x = _argument_index("a", a)
    y = _argument_index("b", b)
    try:
        total: int = _add(x, y)
    except OverflowError:
        raise OverflowError(f"add_numbers arguments must fit in i32, got {x} and {y}") from None
    if total != _FAILED:
        return total
    raise _thread_error()


def add_numbers(a: int, b: int) -> int:
    """``a + b`` for 32-bit signed integers.

    Arguments follow Python's rule for integers (``operator.index``): ``int``, ``bool`` and
    objects with ``__index__`` are accepted; a float, Fraction, Decimal or other object with
    only ``__int__`` raises TypeError naming the argument (chained from the error
    ``__index__`` raised, if it did; ``__index__`` runs once). Raises OverflowError naming the
    values for an argument outside i32 and GreeterOverflowError (an OverflowError) for a sum
    outside i32.
    """
    try:
        total: int = _add(a, b)
    except (TypeError, OverflowError):
        # Not both int (refused before any of their code ran, so each __index__ is called
        # once from here), or outside i32: the cold path reports which argument and why.
        return _add_indexed(a, b)
    # GREETER_FAILED written out: a constant costs ~30 instructions a call less than a global
    # lookup (scripts/callgrind_calls.py); tests/test_gil.py checks that they agree.
    if total != -9223372036854775807:
        return total
    raise _thread_error()


# Caller-owned output buffers for greet(), with a cffi buffer view of each (slicing the view
# copies the bytes out more cheaply than ffi.unpack, which parses keyword arguments), pooled
# like statuses so that a re-entrant greet never writes into a buffer still being read.
_BUFFER_LEN = 256  # a greeting of a name up to 248 bytes
_GREETING_EXTRA: int = lib.GREETER_GREETING_EXTRA_BYTES
# Into a pooled buffer: a short call, bounded by _BUFFER_LEN (a longer name is not read).
_greet_into_pooled = short_lib.greeter_greet_into
# Into a buffer sized for a longer name: the GIL is released, as for any unbounded call.
_greet_into = lib.greeter_greet_into
# An output buffer is written in full before it is read: no need to zero it.
_new_uncleared = ffi.new_allocator(should_clear_after_alloc=False)


def _new_buffer() -> tuple[Any, Any]:
    buf = ffi.new("char[]", _BUFFER_LEN)
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
    try:
        pair = _take_buffer()
    except IndexError:
        pair = _new_buffer()
    buf, view = pair
    # 256 is _BUFFER_LEN written out: a constant costs ~50 instructions a call less than two
    # global lookups (scripts/callgrind_calls.py); tests/test_gil.py checks that they agree.
    n: int = _greet_into_pooled(data, len(data), buf, 256)
    if 0 <= n <= 256:
        result: str = view[:n].decode()
        _give_buffer(pair)
        return result
    _give_buffer(pair)
    if n == _FAILED:
        raise _thread_error()
    # Longer than the pooled buffer: a buffer of the size Rust asked for.
    out = _new_uncleared("char[]", n)
    if _greet_into(data, len(data), out, n) != n:
        raise _thread_error()
    long: str = _unpack(out, n).decode()
    return long


def greeting(name: str) -> RustString:
    """``Hello, {name}!`` as a :class:`RustString` that owns the string Rust allocated."""
    return _owned(lib.greeter_greet, name)


_greet_many = lib.greeter_greet_many
# Batches whose greetings take at most this many bytes (about 6 us of Rust work here) keep the
# GIL; a larger batch releases it, so that other threads run while Rust works.
_SHORT_BATCH_BYTES = 1024
_greet_many_short = short_lib.greeter_greet_many


def greet_many(names: Iterable[str]) -> list[str]:
    """``[greet(name) for name in names]`` in one call into Rust.

    The names travel as one UTF-8 buffer joined by NUL (a name can hold none), and the
    greetings come back the same way, written into a buffer this call owns. Raises TypeError
    for a non-str item (or a str/bytes given as ``names``), InteriorNulError for a name holding
    NUL and UnicodeEncodeError for one holding a lone surrogate.
    """
    items, data = _pack(names)
    count = len(items)
    if not count:
        return []
    size = len(data)
    room = size + count * _GREETING_EXTRA  # the documented exact length
    out = _new_uncleared("char[]", room)
    try:
        export = _greet_many_short if room <= _SHORT_BATCH_BYTES else _greet_many
        n: int = _call(export, data, size, count, out, room)
    except InteriorNulError as error:
        raise _nul_in_names(error, items) from None
    if n != room:
        raise RuntimeError(f"greeter_greet_many needs {n} bytes, not the documented {room}")
    greetings: list[str] = _unpack(out, n).decode().split("\0")
    return greetings


def _pack(names: Iterable[str]) -> tuple[list[str], bytes]:
    """The names as a list, and their UTF-8 joined by NUL: what a batch export takes."""
    if isinstance(names, (str, bytes, bytearray)):
        raise TypeError(f"names must be an iterable of str, not {type(names).__name__}")
    items = names if type(names) is list else list(names)
    try:
        return items, "\0".join(items).encode()
    except TypeError:
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise TypeError(f"names[{i}] must be str, not {type(item).__name__}") from None
        raise
    except UnicodeEncodeError:
        for item in items:
            item.encode()  # raises the error for the first bad name itself
        raise


def _nul_in_names(error: InteriorNulError, items: list[str]) -> InteriorNulError:
    """Rust knows that a packed name held NUL; this says which one."""
    i, item = next((i, item) for i, item in enumerate(items) if "\0" in item)
    return InteriorNulError(
        error.code, f"names[{i}] contains a NUL character at offset {item.index(chr(0))}"
    )


greet_async = _aio.async_function(lib.greeter_greet_submit)
greet_async.__doc__ = """``Async Hello, {name}!``, computed on a Rust worker thread.

    Works on any asyncio loop in any thread. Cancelling the awaiting task cancels the Rust
    task if it has not started; either way its result is freed. When the pool's queue is full
    this waits for room (backpressure) instead of failing.
    """

# --- objects: Rust values owned by Python -----------------------------------------------------

_greeter_new = lib.greeter_greeter_new
_greeter_free = lib.greeter_greeter_free
_greeter_greet_into = lib.greeter_greeter_greet_into
# Greeter.greet's pooled-buffer call, as greet's: its work is bounded by that buffer.
_greeter_greet_into_pooled = short_lib.greeter_greeter_greet_into
_greeter_greet_many = lib.greeter_greeter_greet_many
_CLOSED = "closed Greeter"


def live_objects() -> int:
    """Rust objects (:class:`Greeter`) alive: created and not yet freed by their last
    reference, Python's or that of an asynchronous call still running."""
    count: int = lib.greeter_live_objects()
    return count


class Greeter:
    """A greeting template parsed and validated once in Rust, then used from any thread and
    from asyncio: ``Greeter("Bonjour, {name} !").greet("Ann")`` is ``'Bonjour, Ann !'``.

    The template holds ``{name}`` at least once; ``{{`` and ``}}`` are literal braces. Any
    other ``{`` or ``}``, a NUL character, or more than 64 KiB of UTF-8 raises
    :class:`~greeter.InvalidTemplateError` (a ``ValueError``) naming the problem and its
    character offset; a template that is not ``str`` raises TypeError, one with a lone
    surrogate UnicodeEncodeError. A valid template greets exactly as
    ``template.format(name=name)``.

    Immutable once created. :meth:`close` (or leaving a ``with`` block) drops Python's
    reference to the Rust object; an unclosed Greeter drops it when collected. Calls after
    close raise ``ValueError("closed Greeter")``. Calls already running on other threads, and
    ``greet_async`` calls already made (queued or running in Rust), complete normally: each
    holds its own reference, and the Rust object is freed when the last one ends
    (:func:`~greeter.live_objects` counts them). Closing never waits for Rust work.

    A Greeter inherited through ``fork()`` works in the child (it is plain memory, no lock);
    its ``greet_async`` calls there run on the child's own pool. Copying or pickling a Greeter
    makes a new one from the same template.
    """

    # How the object is never freed while a call uses it, without a lock: as for RustString,
    # ``_handle`` is the only reference to a cdata made by ffi.gc, whose destructor
    # (greeter_greeter_free, which drops Python's reference to the Rust object) runs when that
    # cdata's last reference goes. A call reads ``_handle`` into a local first, so it holds the
    # cdata while Rust runs; a greet_async call holds it through its submitter until the
    # coroutine ends, and each Rust task holds a reference of its own.
    __slots__ = ("__weakref__", "_async", "_extra", "_handle", "_per_name", "_template")

    _handle: Any
    _async: Callable[[str], Coroutine[Any, Any, str]] | None
    _template: str
    _extra: int
    _per_name: int

    def __new__(cls, template: str) -> Greeter:
        # __new__, not __init__: a second __init__ call cannot re-point a live Greeter.
        if not isinstance(template, str):
            raise TypeError(f"template must be str, not {type(template).__name__}")
        data = _str_encode(template)
        handle = _gc(_call(_greeter_new, data, len(data)), _greeter_free)
        self = super().__new__(cls)
        self._handle = handle
        self._template = template
        # A greeting is the template's literal bytes plus the name's bytes once per {name}:
        # the lengths for an empty and a one-byte name (no buffer: nothing is written) give
        # both, so greet_many sizes its buffer exactly.
        extra: int = _greeter_greet_into(handle, b"", 0, _NULL, 0)
        one: int = _greeter_greet_into(handle, b"x", 1, _NULL, 0)
        if _FAILED in (extra, one):
            raise _thread_error()
        self._extra, self._per_name = extra, one - extra
        self._async = _aio.async_function(lib.greeter_greeter_greet_submit, handle)
        return self

    @property
    def template(self) -> str:
        """The template, as given."""
        return self._template

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return self._handle is None

    def close(self) -> None:
        """Drops Python's reference to the Rust object, which is freed at once, or when the
        last call in flight with it ends. Idempotent; never waits."""
        self._handle = None
        self._async = None

    def __enter__(self) -> Greeter:
        if self._handle is None:
            raise ValueError(_CLOSED)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = " closed" if self._handle is None else ""
        return f"<greeter.Greeter{state} {self._template!r}>"

    def __reduce__(self) -> tuple[type[Greeter], tuple[str]]:
        # A handle cannot cross processes or be shared by two owners: copy and pickle make a
        # new Greeter from the template instead.
        if self._handle is None:
            raise ValueError(_CLOSED)
        return type(self), (self._template,)

    def greet(self, name: str) -> str:
        """The greeting for ``name``, computed by Rust; exceptions as for :func:`greet`."""
        handle = self._handle
        if handle is None:
            raise ValueError(_CLOSED)
        try:  # greet()'s hot path, with the handle as first argument
            data = _str_encode(name)
        except TypeError:
            raise TypeError(f"name must be str, not {type(name).__name__}") from None
        try:
            pair = _take_buffer()
        except IndexError:
            pair = _new_buffer()
        buf, view = pair
        n: int = _greeter_greet_into_pooled(handle, data, len(data), buf, _BUFFER_LEN)
        if 0 <= n <= _BUFFER_LEN:
            result: str = view[:n].decode()
            _give_buffer(pair)
            return result
        _give_buffer(pair)
        if n == _FAILED:
            raise _thread_error()
        out = _new_uncleared("char[]", n)
        if _greeter_greet_into(handle, data, len(data), out, n) != n:
            raise _thread_error()
        long: str = _unpack(out, n).decode()
        return long

    def greet_many(self, names: Iterable[str]) -> list[str]:
        """``[self.greet(name) for name in names]`` in one call into Rust; exceptions as for
        :func:`greet_many`."""
        handle = self._handle  # first: names may be a generator that runs anything
        if handle is None:
            raise ValueError(_CLOSED)
        items, data = _pack(names)
        count = len(items)
        if not count:
            return []
        size = len(data)
        room = count * (self._extra + 1) - 1 + self._per_name * (size - count + 1)
        out = _new_uncleared("char[]", room)
        try:
            n: int = _call(_greeter_greet_many, handle, data, size, count, out, room)
        except InteriorNulError as error:
            raise _nul_in_names(error, items) from None
        if n != room:
            raise RuntimeError(f"greeter_greeter_greet_many needs {n} bytes, not {room}")
        greetings: list[str] = _unpack(out, n).decode().split("\0")
        return greetings

    def greet_async(self, name: str) -> Coroutine[Any, Any, str]:
        """The greeting for ``name``, computed on a Rust worker thread: ``await
        g.greet_async(name)``; as :func:`greet_async`. The call, not its first await, takes
        the reference: a coroutine made before :meth:`close` completes normally."""
        call = self._async
        if call is None:
            raise ValueError(_CLOSED)
        return call(name)


# --- the worker pool and completion queues ------------------------------------------------------


def pool_configure(threads: int, queue_capacity: int) -> None:
    _call(lib.greeter_pool_configure, threads, queue_capacity)


def pool_shutdown() -> None:
    _call(lib.greeter_pool_shutdown)


def pool_size() -> tuple[int, int]:
    threads, capacity = ffi.new("size_t *"), ffi.new("size_t *")
    _call(lib.greeter_pool_size, threads, capacity)
    return int(threads[0]), int(capacity[0])


def task_cancel(task_id: int) -> int:
    """1: removed before it started; 2: running, result dropped; 0: already finished."""
    outcome: int = _call(lib.greeter_task_cancel, task_id)
    return outcome


Completion = tuple[int, str | None, GreeterError | None]

_DRAIN_BATCH = 1024
_DRAIN_TEXT = 64 * 1024
_drain = lib.greeter_queue_drain
_queue_free = lib.greeter_queue_free
_LENS_TYPE = ffi.typeof("size_t[]")
_new_lens = ffi.new


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
        self._ptr: Any = _gc(_call(lib.greeter_queue_new), _queue_free)
        self.fd: int = _call(lib.greeter_queue_fd, self._ptr)
        # Reused per queue: only its loop's thread submits and drains, and neither nests.
        self._status = _new_status()
        # greeter_queue_drain writes a batch into flat arrays: three bulk copies per batch
        # instead of several cffi field accesses per completion, and nothing to release.
        self._ids = ffi.new("uint64_t[]", _DRAIN_BATCH)
        self._codes = ffi.new("GreeterCode[]", _DRAIN_BATCH)
        self._text = ffi.new("char[]", _DRAIN_TEXT)
        self._used = ffi.new("size_t *")
        self._left = ffi.new("size_t *")
        self._first = ffi.new("uint64_t *")

    def submit(
        self, submit: Callable[..., int], bound: tuple[Any, ...], names: list[bytes]
    ) -> tuple[int, int]:
        """Calls the submit export ``submit(*bound, names, lens, count, queue, first_id,
        status)`` on the UTF-8 ``names``: ``(first_id, n)``, the first ``n`` accepted with ids
        ``first_id, first_id + 1, ...`` (``n`` is less than ``len(names)`` when the pool's
        queue is nearly full). Raises QueueFullError when none fits, PoolShutDownError after
        shutdown. A name Rust refuses (NUL) still gets its id; its error arrives as its
        completion."""
        ptr = self._ptr
        if ptr is None:
            raise _closed_queue_error()
        first = self._first
        lens = _new_lens(_LENS_TYPE, [len(d) for d in names])
        n: int = submit(*bound, b"".join(names), lens, len(names), ptr, first, self._status)
        if n == 0 and names:
            raise _status_error(self._status)
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
        text, room, status = self._text, _DRAIN_TEXT, self._status
        while len(out) < limit:
            want = min(limit - len(out), _DRAIN_BATCH)
            n: int = _drain(ptr, ids, codes, want, text, room, used, left, status)
            if n == 0:
                if status.code:
                    raise _status_error(status)
                if used[0] <= room:
                    break  # nothing waiting
                # One text larger than the buffer: a buffer for it, this drain only.
                room = used[0]
                text = _new_uncleared("char[]", room)
                continue
            texts = _unpack(text, used[0]).decode().split("\0")
            task_ids: list[int] = _unpack(ids, n)
            codes_: list[int] = _unpack(codes, n)
            if any(codes_):
                for task_id, code, value in zip(task_ids, codes_, texts, strict=True):
                    if code:
                        out.append((task_id, None, _error(code, value)))
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
