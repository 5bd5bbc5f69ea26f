"""Text across the boundary: names in, greetings out, and the strings Rust hands out.

The helpers a new function calls (README, "Adding a function"): :func:`text` for a text export
(``name, name_len, out_len, status -> char *``) returning ``str``, :func:`owned` for the same
export returning a :class:`RustString`, and :func:`pack` for a batch of names. Greetings that
fit a pooled buffer are written into it (:func:`take_buffer`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from greeter._core import Handle, call, encode, ffi, lib
from greeter.errors import InteriorNulError

__all__ = [
    "BUFFER_LEN",
    "RustString",
    "give_buffer",
    "live_strings",
    "new_buffer",
    "new_uncleared",
    "nul_in_names",
    "owned",
    "pack",
    "take_buffer",
    "text",
    "unpack",
]

unpack = ffi.unpack
_string_free = lib.greeter_string_free
_new_object = object.__new__


class RustString(Handle):
    """A string allocated by Rust and owned by this object until ``close()``.

    ``close()`` (or leaving a ``with`` block) frees it with ``greeter_string_free`` exactly
    once; closing again does nothing. An object never closed is freed when it is collected.
    Reading a closed RustString raises ValueError, like a closed file. Copying or pickling one
    raises TypeError: it is the only owner of its string.
    """

    __slots__ = ("_len",)

    _len: int
    _closed_message = "I/O operation on closed RustString"
    _copy_message = (
        "a RustString cannot be copied or pickled: it is the one owner of a string Rust "
        "allocated; copy its value (s.value or bytes(s)) instead"
    )

    def __init__(self) -> None:
        raise TypeError("RustString cannot be created directly; use greeter.greeting()")

    def __bytes__(self) -> bytes:
        ptr = self._ptr
        if ptr is None:
            raise self._closed_error()
        data: bytes = unpack(ptr, self._len)
        return data

    @property
    def value(self) -> str:
        """The string, decoded from UTF-8."""
        ptr = self._ptr
        if ptr is None:
            raise self._closed_error()
        decoded: str = unpack(ptr, self._len).decode()
        return decoded

    def __str__(self) -> str:
        return self.value

    def __len__(self) -> int:
        """The length in bytes, without the terminating NUL."""
        return self._len

    def __repr__(self) -> str:
        if self._ptr is None:
            return "<RustString closed>"
        return f"<RustString {self.value!r}>"


# Length out-parameters for text exports, pooled like statuses.
_lengths: list[Any] = []
_take_length = _lengths.pop
_give_length = _lengths.append


def owned(export: Callable[..., Any], name: str) -> RustString:
    """A text export (``name, name_len, out_len, status -> char *``) called on ``name``: the
    string it hands out, owned by a RustString."""
    data = encode(name)
    try:
        length = _take_length()
    except IndexError:
        length = ffi.new("size_t *")
    try:
        ptr = call(export, data, len(data), length)
        n: int = length[0]
    finally:
        _give_length(length)
    self: RustString = _new_object(RustString)
    # Freed when this cdata goes: at close(), or when the object is collected unclosed.
    # No size= hint: on CPython it only adds accounting (~500 ns a string on this machine).
    self._own(ptr, _string_free)
    self._len = n
    return self


def text(export: Callable[..., Any], name: str) -> str:
    """A text export called on ``name``: its string as ``str``, freed at once."""
    with owned(export, name) as string:
        return string.value


def live_strings() -> int:
    """Strings Rust handed out (greetings and error messages) and has not had back."""
    count: int = lib.greeter_live_strings()
    return count


# Caller-owned output buffers for greetings, with a cffi buffer view of each (slicing the view
# copies the bytes out more cheaply than ffi.unpack, which parses keyword arguments), pooled
# like statuses so that a re-entrant call never writes into a buffer still being read.
BUFFER_LEN = 256  # a greeting of a name up to 248 bytes
# An output buffer is written in full before it is read: no need to zero it.
new_uncleared = ffi.new_allocator(should_clear_after_alloc=False)


def new_buffer() -> tuple[Any, Any]:
    """A buffer of :data:`BUFFER_LEN` bytes and its view."""
    buf = ffi.new("char[]", BUFFER_LEN)
    return buf, ffi.buffer(buf)


_buffers: list[tuple[Any, Any]] = [new_buffer() for _ in range(4)]
take_buffer = _buffers.pop
give_buffer = _buffers.append


def pack(names: Iterable[str]) -> tuple[list[str], bytes]:
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


def nul_in_names(error: InteriorNulError, items: list[str]) -> InteriorNulError:
    """Rust knows that a packed name held NUL; this says which one."""
    i, item = next((i, item) for i, item in enumerate(items) if "\0" in item)
    return InteriorNulError(
        error.code, f"names[{i}] contains a NUL character at offset {item.index(chr(0))}"
    )
