"""greeter's object types: Rust values owned by Python, each a :class:`~greeter._core.Handle`.
``greeter`` exports what :data:`__all__` lists.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from functools import partial
from typing import Any, Self, SupportsIndex

from greeter._aio import async_function
from greeter._core import (
    FAILED,
    NULL,
    Handle,
    call,
    lib,
    short_lib,
    thread_error,
)
from greeter._strings import (
    BUFFER_LEN,
    give_buffer,
    greet_in_pieces,
    new_buffer,
    new_uncleared,
    take_buffer,
    unpack,
)

__all__ = ["Greeter", "live_objects"]

_str_encode = str.encode
_take_buffer = take_buffer
_give_buffer = give_buffer
_new_buffer = new_buffer
_unpack = unpack
_new_uncleared = new_uncleared

_greeter_new = lib.greeter_greeter_new
_greeter_free = lib.greeter_greeter_free
_greeter_greet_into = lib.greeter_greeter_greet_into
# Greeter.greet's pooled-buffer call, as greet's: its work is bounded by that buffer.
_greeter_greet_into_pooled = short_lib.greeter_greeter_greet_into
_greeter_greet_many = lib.greeter_greeter_greet_many


def _greet_packed(handle: Any, extra: int, per_name: int, data: bytes, count: int) -> list[str]:
    """The greetings by the template ``handle`` (one that adds ``extra`` bytes and copies the
    name ``per_name`` times) of ``count`` names packed as ``greeter_greeter_greet_many`` takes
    them."""
    room = count * (extra + 1) - 1 + per_name * (len(data) - count + 1)
    out = _new_uncleared("char[]", room)
    n: int = call(_greeter_greet_many, handle, data, len(data), count, out, room)
    if n != room:
        raise RuntimeError(f"greeter_greeter_greet_many needs {n} bytes, not {room}")
    greetings: list[str] = _unpack(out, n).decode().split("\0")
    return greetings


def live_objects() -> int:
    """Rust objects (:class:`Greeter`) alive: created and not yet freed by their last
    reference, Python's or that of an asynchronous call still running."""
    count: int = lib.greeter_live_objects()
    return count


class Greeter(Handle):
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

    # The handle's cdata is held by every call while Rust runs (Handle); a greet_async call
    # holds it through its submitter until the coroutine ends, and each Rust task holds a
    # reference of its own.
    __slots__ = ("_async", "_extra", "_per_name", "_template")

    _async: Callable[[str], Coroutine[Any, Any, str]] | None
    _template: str
    _extra: int
    _per_name: int
    _closed_message = "closed Greeter"

    def __new__(cls, template: str) -> Greeter:
        # __new__, not __init__: a second __init__ call cannot re-point a live Greeter.
        if not isinstance(template, str):
            raise TypeError(f"template must be str, not {type(template).__name__}")
        data = _str_encode(template)
        self = super().__new__(cls)
        self._own(call(_greeter_new, data, len(data)), _greeter_free)
        handle = self._ptr
        self._template = template
        # A greeting is the template's literal bytes plus the name's bytes once per {name}:
        # the lengths for an empty and a one-byte name (no buffer: nothing is written) give
        # both, so greet_many sizes its buffer exactly.
        # Each failure is taken right after its call (greeter_status_take_thread).
        extra: int = _greeter_greet_into(handle, b"", 0, NULL, 0)
        if extra == FAILED:
            raise thread_error()
        one: int = _greeter_greet_into(handle, b"x", 1, NULL, 0)
        if one == FAILED:
            raise thread_error()
        self._extra, self._per_name = extra, one - extra
        self._async = async_function(lib.greeter_greeter_greet_submit, handle)
        return self

    @property
    def template(self) -> str:
        """The template, as given."""
        return self._template

    def close(self) -> None:
        """Drops Python's reference to the Rust object, which is freed at once, or when the
        last call in flight with it ends. Idempotent; never waits."""
        self._async = None
        super().close()

    def __enter__(self) -> Self:
        if self._ptr is None:
            raise self._closed_error()
        return self

    def __repr__(self) -> str:
        state = " closed" if self._ptr is None else ""
        return f"<greeter.Greeter{state} {self._template!r}>"

    def __reduce_ex__(self, protocol: SupportsIndex) -> tuple[type[Greeter], tuple[str]]:
        # A handle cannot cross processes or be shared by two owners: copy and pickle make a
        # new Greeter from the template instead.
        if self._ptr is None:
            raise self._closed_error()
        return type(self), (self._template,)

    def greet(self, name: str) -> str:
        """The greeting for ``name``, computed by Rust; exceptions as for :func:`greet`."""
        handle = self._ptr
        if handle is None:
            raise self._closed_error()
        try:  # greet()'s hot path (text() written out, as there), with the handle first
            data = _str_encode(name)
        except TypeError:
            raise TypeError(f"name must be str, not {type(name).__name__}") from None
        try:
            pair = _take_buffer()
        except IndexError:
            pair = _new_buffer()
        buf, view = pair
        n: int = _greeter_greet_into_pooled(handle, data, len(data), buf, BUFFER_LEN)
        if 0 <= n <= BUFFER_LEN:
            result: str = view[:n].decode()
            _give_buffer(pair)
            return result
        _give_buffer(pair)
        if n == FAILED:
            raise thread_error()
        out = _new_uncleared("char[]", n)
        if _greeter_greet_into(handle, data, len(data), out, n) != n:
            raise thread_error()
        long: str = _unpack(out, n).decode()
        return long

    def greet_many(self, names: Iterable[str]) -> list[str]:
        """``[self.greet(name) for name in names]`` in calls into Rust, as for
        :func:`greet_many`; exceptions as for :func:`greet_many`."""
        handle = self._ptr  # first: names may be a generator that runs anything
        if handle is None:
            raise self._closed_error()
        extra, per_name = self._extra, self._per_name
        greet_packed = partial(_greet_packed, handle, extra, per_name)
        return greet_in_pieces(names, greet_packed, extra, per_name)

    def greet_async(self, name: str) -> Coroutine[Any, Any, str]:
        """The greeting for ``name``, computed on a Rust worker thread: ``await
        g.greet_async(name)``; as :func:`greet_async`. The call, not its first await, takes
        the reference: a coroutine made before :meth:`close` completes normally."""
        call = self._async
        if call is None:
            raise self._closed_error()
        return self._until_done(call(name))
