"""Text across the boundary: names in, greetings out, and the strings Rust hands out.

The helpers a new function calls (README, "Adding a function"): :func:`text` for a text export
(``name, name_len, out_len, status -> char *``) returning ``str``, :func:`owned` for the same
export returning a :class:`RustString`, and :func:`greet_in_pieces` for a batch of names.
Greetings that fit a pooled buffer are written into it (:func:`take_buffer`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from greeter._core import Handle, call, encode, ffi, lib
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
    "owned",
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
