"""Text across the boundary: names in, greetings out, and the strings Rust hands out.

The helpers a new function calls (README, "Adding a function"): :func:`text_function` for
the function of a text export writing into the caller's buffer (``name, name_len, out,
out_len -> int64_t``, Rust's ``map_text_into``; :func:`text` for a method's call of one),
:func:`owned_function` for the function of an export handing out a new
string (``name, name_len, out_len -> char *``, Rust's ``map_text``) as a
:class:`RustString`, and :func:`greet_in_pieces` for a batch of names. Texts that fit a pooled
buffer are written into it (:func:`take_buffer`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Self

from greeter._core import (
    FAILED,
    NULL,
    SHORT_CALL_BYTES,
    Owner,
    ffi,
    lib,
    short_lib,
    thread_error,
)
from greeter.errors import InteriorNulError

__all__ = [
    "BUFFER_LEN",
    "PIECE_BYTES",
    "PIECE_NAMES",
    "RustString",
    "give_buffer",
    "greet_in_pieces",
    "live_strings",
    "new_buffer",
    "new_uncleared",
    "owned_function",
    "take_buffer",
    "text",
    "text_function",
    "unpack",
]

unpack = ffi.unpack
_string = ffi.string
_str_encode = str.encode
_new_object = object.__new__
# Always the short call: freeing a string is no more work than the copy of it that a RustString
# made, holding the GIL, when it was handed out (greeter_string_free's docs).
_string_free = short_lib.greeter_string_free


class RustString(Owner):
    """A string Rust allocated, owned by this object until ``close()``.

    Its text is copied into Python when it is made: ``value``, ``bytes()`` and ``len()`` read
    the copy, never Rust's memory, so a read racing a ``close()`` on another thread gets the
    text or ValueError and cannot touch freed memory. ``close()`` (or leaving a ``with``
    block) frees the string with ``greeter_string_free`` exactly once, at once, on every
    interpreter; closing again does nothing. An object never closed is freed when it is
    collected. Reading a closed RustString raises ValueError, like a closed file. Copying or
    pickling one raises TypeError: it is the only owner of its string.
    """

    # _owned: the pointer while the string is owned, as the one item of a list. Closing takes
    # it with list.pop, which is atomic, so exactly one close() (or __del__) frees it.
    __slots__ = ("_owned", "_value")

    _owned: list[Any]
    _value: str

    _closed_message = "I/O operation on closed RustString"
    _copy_message = (
        "a RustString cannot be copied or pickled: it is the one owner of a string Rust "
        "allocated; copy its value (s.value or bytes(s)) instead"
    )

    def __new__(cls) -> Self:
        raise TypeError("RustString cannot be created directly; use greeter.greeting()")

    @property
    def value(self) -> str:
        """The string, decoded from UTF-8."""
        if not self._owned:
            raise self._closed_error()
        return self._value

    def __bytes__(self) -> bytes:
        return self.value.encode()

    def __str__(self) -> str:
        return self.value

    def __len__(self) -> int:
        """The length in bytes, without the terminating NUL."""
        return len(bytes(self))

    def __repr__(self) -> str:
        if not self._owned:
            return "<RustString closed>"
        return f"<RustString {self._value!r}>"

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran."""
        return not self._owned

    def close(self) -> None:
        """Frees the string now. Idempotent."""
        try:
            ptr = self._owned.pop()
        except IndexError:
            return  # closed already
        _string_free(ptr)

    # close() written out: leaving a ``with`` block is the hot path of a RustString, where
    # calling close() would cost a Python call (~400 instructions, scripts/callgrind_calls.py).
    def __exit__(self, exc_type: object, exc: object, traceback: object) -> None:
        try:
            ptr = self._owned.pop()
        except IndexError:
            return
        _string_free(ptr)

    # Collected without close(): nothing else refers to it, so nothing races this. The free
    # export is bound as a default: at interpreter exit, module globals may be gone first.
    def __del__(self, free: Callable[[Any], None] = _string_free) -> None:
        owned = self._owned
        if owned:
            free(owned.pop())


def _function_name(export: Callable[..., Any]) -> str:
    """An export's name without ``greeter_``."""
    name: str = getattr(export, "__name__", "export")
    return name.removeprefix("greeter_")


def _short_call(export: Callable[..., Any]) -> Callable[..., Any]:
    """The same export in the module that keeps the GIL when its docs mark it ``Short call:``
    (the short module declares only those), else ``export`` itself."""
    short: Callable[..., Any] = getattr(short_lib, getattr(export, "__name__", ""), export)
    return short


def owned_function(
    export: Callable[..., Any], doc: str, function_name: str | None = None
) -> Callable[[str], RustString]:
    """The Python function of a text export that hands out a new string (``name, name_len,
    out_len -> char *``, made by Rust's ``map_text``; a failure is NULL and the calling
    thread's status): it takes a ``str`` and returns the string as a :class:`RustString` that
    owns it. ``function_name`` defaults to the export's name without ``greeter_``.

    When the export is a short call, names of at most ``SHORT_CALL_BYTES`` bytes go through the
    module that keeps the GIL. Raises TypeError for a non-str, UnicodeEncodeError for a lone
    surrogate, and the exception the export's failure describes.
    """
    short = _short_call(export)
    # The names the call uses, bound to the closure: reading one costs less than a global.
    str_encode, new_string, string, null = _str_encode, _new_object, _string, NULL

    def owned(name: str) -> RustString:
        try:
            data = str_encode(name)
        except TypeError:
            raise TypeError(f"name must be str, not {type(name).__name__}") from None
        size = len(data)
        ptr = (short if size <= SHORT_CALL_BYTES else export)(data, size, null)
        if not ptr:
            raise thread_error()
        owner: RustString = new_string(RustString)
        owner._owned = [ptr]  # from here on, collecting it frees the string
        owner._value = string(ptr).decode()
        return owner

    owned.__name__ = owned.__qualname__ = function_name or _function_name(export)
    owned.__doc__ = doc
    return owned


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


def text_function(
    export: Callable[..., int], doc: str, function_name: str | None = None
) -> Callable[[str], str]:
    """The Python function of a text export writing into the caller's buffer (``name,
    name_len, out, out_len -> int64_t``, made by Rust's ``map_text_into``; a failure is
    ``GREETER_FAILED`` and the calling thread's status): it takes a ``str`` and returns the
    text the export writes. ``function_name`` defaults to the export's name without
    ``greeter_``.

    The text is written into a pooled buffer when it fits (one call into Rust, nothing
    allocated), else the export is called again, releasing the GIL, with a buffer of the length
    it returned. When the export is a short call, the pooled call for a name of at most
    ``SHORT_CALL_BYTES`` bytes goes through the module that keeps the GIL. Raises TypeError for
    a non-str, UnicodeEncodeError for a lone surrogate, and the exception the export's failure
    describes.
    """
    short = _short_call(export)
    # The names the call uses, bound to the closure: reading one costs less than a global.
    str_encode, take, give, new, buffer_len = (
        _str_encode,
        take_buffer,
        give_buffer,
        new_buffer,
        BUFFER_LEN,
    )

    def function(name: str) -> str:
        try:
            data = str_encode(name)
        except TypeError:
            raise TypeError(f"name must be str, not {type(name).__name__}") from None
        size = len(data)
        try:
            pair = take()
        except IndexError:
            pair = new()
        buf, view = pair
        n = (short if size <= SHORT_CALL_BYTES else export)(data, size, buf, buffer_len)
        if 0 <= n <= buffer_len:
            result: str = view[:n].decode()
            give(pair)
            return result
        give(pair)
        return _longer_text(export, data, n)

    function.__name__ = function.__qualname__ = function_name or _function_name(export)
    function.__doc__ = doc
    return function


def text(export: Callable[..., int], name: str) -> str:
    """:func:`text_function`'s call made once: ``export`` (of the same shape) called on
    ``name``, through the module that releases the GIL. For an export whose arguments start
    with an object's handle (a method: ``functools.partial(export, handle)``)."""
    try:
        data = _str_encode(name)
    except TypeError:
        raise TypeError(f"name must be str, not {type(name).__name__}") from None
    try:
        pair = take_buffer()
    except IndexError:
        pair = new_buffer()
    buf, view = pair
    n = export(data, len(data), buf, BUFFER_LEN)
    if 0 <= n <= BUFFER_LEN:
        result: str = view[:n].decode()
        give_buffer(pair)
        return result
    give_buffer(pair)
    return _longer_text(export, data, n)


def _longer_text(export: Callable[..., int], data: bytes, n: int) -> str:
    """After a pooled call of a text export on ``data`` returned ``n``, not a length that fit:
    its failure, or the text written into a buffer of ``n`` bytes (the GIL released)."""
    if n == FAILED:
        raise thread_error()
    out = new_uncleared("char[]", n)
    written = export(data, len(data), out, n)
    if written == FAILED:
        raise thread_error()
    if written != n:
        raise RuntimeError(f"{_function_name(export)} asked for {n} bytes, then wrote {written}")
    long: str = unpack(out, n).decode()
    return long


# A batch crosses the boundary in pieces, so that each step holding the GIL (join, encode,
# decode, split) stays short while the Rust call between them releases it: a piece is at most
# PIECE_NAMES names and greetings of at most about PIECE_BYTES bytes (measured in characters:
# up to 4 bytes each in UTF-8), unless one name alone takes more. A batch within both limits is
# one piece, passed on exactly as it came.
PIECE_NAMES = 4096
PIECE_BYTES = 1 << 20

_SAMPLES = 8  # names measured before a piece is joined
_join = "\0".join


def greet_in_pieces(
    names: Iterable[str],
    greet_packed: Callable[[bytes, int], list[str]],
    greeting_extra: int,
    name_copies: int,
) -> list[str]:
    """The greetings of ``names``: ``greet_packed(data, count)`` (the greetings of ``count``
    names given as their UTF-8 joined by NUL, as a batch export takes them) called on each
    piece in turn. A greeting is ``greeting_extra`` bytes plus ``name_copies`` copies of its
    name.

    Errors are those of one call on the whole batch: TypeError for a non-str item (or a
    str/bytes given as ``names``), else UnicodeEncodeError for the first name holding a lone
    surrogate, else the first piece's error from Rust, with InteriorNulError naming its name's
    index in ``names``. The names are all joined and encoded before Rust sees any of them.
    """
    if isinstance(names, (str, bytes, bytearray)):
        raise TypeError(f"names must be an iterable of str, not {type(names).__name__}")
    items = names if type(names) is list else list(names)
    count = len(items)
    if not count:
        return []
    per_name = greeting_extra + 1  # with its separator
    if count <= PIECE_NAMES:
        try:
            text = _joined_if_short(items, per_name, name_copies)
        except TypeError:
            raise _not_str(items) from None
        if text is not None:  # one piece, passed on as it came
            return _greet_piece(greet_packed, _encoded(text, items), items, 0, count)
    packed, ends = _joined_pieces(items, per_name, name_copies)
    start = 0
    for i, stop in enumerate(ends):  # replaced one by one: each joined text goes at once
        packed[i] = _encoded(packed[i], items[start:stop])
        start = stop
    greetings: list[str] = []
    start = 0
    for data, stop in zip(packed, ends, strict=True):
        greetings += _greet_piece(greet_packed, data, items, start, stop)
        start = stop
    return greetings


def _joined_pieces(
    items: list[str], per_name: int, name_copies: int
) -> tuple[list[Any], list[int]]:
    """``items`` cut into pieces, each joined by NUL, and where each piece ends. A greeting
    takes ``per_name`` bytes (with its separator) and ``name_copies`` copies of its name."""
    most = max(1, min(PIECE_NAMES, PIECE_BYTES // per_name))
    texts: list[Any] = []
    ends: list[int] = []
    for start in range(0, len(items), most):
        piece = items[start : start + most]
        try:
            text = _joined_if_short(piece, per_name, name_copies)
            if text is not None:
                texts.append(text)
                ends.append(start + len(piece))
                continue
            first = 0
            for cut in _cuts(piece, per_name, name_copies):
                texts.append(_join(piece[first:cut]))
                ends.append(start + cut)
                first = cut
        except TypeError:
            raise _not_str(items) from None
    return texts, ends


def _joined_if_short(piece: list[str], per_name: int, name_copies: int) -> str | None:
    """``piece`` joined by NUL if its greetings take at most ``PIECE_BYTES``, else None.

    A few names, spread over the piece, are measured first, so that a piece of long names is
    not joined in vain (measuring every name would cost a small batch a third more).
    """
    sample = piece[:: len(piece) // _SAMPLES + 1]
    try:
        sampled = sum(map(len, sample)) * len(piece) // len(sample)
    except Exception:  # an item without a length: the join says which
        sampled = 0
    fixed = len(piece) * per_name
    if fixed + name_copies * sampled > PIECE_BYTES:
        return None
    text: str = _join(piece)
    return text if fixed + name_copies * len(text) <= PIECE_BYTES else None


def _cuts(piece: list[str], per_name: int, name_copies: int) -> list[int]:
    """Where ``piece`` is cut so that each part's greetings take at most ``PIECE_BYTES``, or
    one name's greeting."""
    cuts = []
    size = 0
    for i, item in enumerate(piece):
        # Not a str: the join says so.
        cost = per_name + name_copies * (len(item) if isinstance(item, str) else 0)
        if size and size + cost > PIECE_BYTES:
            cuts.append(i)
            size = 0
        size += cost
    cuts.append(len(piece))
    return cuts


def _encoded(text: str, items: list[str]) -> bytes:
    """``text``, the ``items`` joined, in UTF-8; an error names the first bad item itself."""
    try:
        return text.encode()
    except UnicodeEncodeError:
        for item in items:
            item.encode()
        raise


def _greet_piece(
    greet_packed: Callable[[bytes, int], list[str]],
    data: bytes,
    items: list[str],
    start: int,
    stop: int,
) -> list[str]:
    """``greet_packed`` on the packed ``items[start:stop]``; a NUL names its name's index."""
    try:
        return greet_packed(data, stop - start)
    except InteriorNulError as error:
        i = next(i for i in range(start, stop) if "\0" in items[i])
        raise InteriorNulError(
            error.code, f"names[{i}] contains a NUL character at offset {items[i].index(chr(0))}"
        ) from None


def _not_str(items: list[Any]) -> TypeError:
    """The TypeError for the first item of a batch that is not str."""
    i, item = next((i, item) for i, item in enumerate(items) if not isinstance(item, str))
    return TypeError(f"names[{i}] must be str, not {type(item).__name__}")
