"""The worker pool and completion queues, as the C API has them: the half of the async layer that
calls the library. :mod:`greeter._aio` builds asyncio on top of it.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from greeter._core import (
    RELEASE_AT_CLOSE,
    Handle,
    call,
    code_error,
    ffi,
    lib,
    new_status,
    status_error,
)
from greeter._strings import new_uncleared, unpack
from greeter.errors import GreeterError, PoolShutDownError

__all__ = [
    "BYTES",
    "INTEGER",
    "TEXT",
    "Batch",
    "Completion",
    "CompletionQueue",
    "Lift",
    "handle_lift",
    "pool_configure",
    "pool_shutdown",
    "pool_size",
    "task_cancel",
]


def pool_configure(threads: int, queue_capacity: int) -> None:
    call(lib.greeter_pool_configure, threads, queue_capacity)


def pool_shutdown() -> None:
    call(lib.greeter_pool_shutdown)


def pool_size() -> tuple[int, int]:
    threads, capacity = ffi.new("size_t *"), ffi.new("size_t *")
    call(lib.greeter_pool_size, threads, capacity)
    return int(threads[0]), int(capacity[0])


def task_cancel(task_id: int) -> int:
    """1: removed before it started; 2: running, result dropped; 0: already finished."""
    outcome: int = call(lib.greeter_task_cancel, task_id)
    return outcome


# --- asynchronous results: bytes with a length, lifted into Python by each function's shape --

T = TypeVar("T")

Lift = Callable[[bytes], T]
"""How an asynchronous function's result (the bytes a completion carries) becomes its Python
value; each function states its own (``async_function(..., lift=...)``)."""

TEXT: Callable[[bytes], str] = bytes.decode
"""A text result: UTF-8."""

BYTES: Callable[[bytes], bytes] = bytes
"""A bytes result, as it is."""

INTEGER: Callable[[bytes], int] = partial(int.from_bytes, byteorder=sys.byteorder, signed=True)
"""An integer result: an ``int64_t`` in native byte order."""


def handle_lift(ctype: str, adopt: Callable[[Any], T]) -> Callable[[bytes], T]:
    """The lift of a result that is a new object: its handle (a pointer in native byte order)
    of C type ``ctype`` (``"GreeterX *"``), which ``adopt(cdata)`` turns into the Python object
    that owns it (a :class:`~greeter._core.Handle` subclass freeing it with ``_free``). Every
    result drained is lifted, even one whose awaiting task is gone, so none is left unowned."""

    def lift(payload: bytes) -> T:
        return adopt(ffi.cast(ctype, int.from_bytes(payload, sys.byteorder)))

    return lift


Completion = tuple[int, bytes | None, GreeterError | None]
Batch = tuple[list[int], list[int], bytes, list[int]]

_DRAIN_BATCH = 1024
_DRAIN_DATA = 64 * 1024
_drain = lib.greeter_queue_drain
_LENS_TYPE = ffi.typeof("size_t[]")
_new_lens = ffi.new


def _closed_queue_error() -> PoolShutDownError:
    return PoolShutDownError(
        lib.GREETER_ERR_SHUT_DOWN, "this event loop's completion queue is closed"
    )


class CompletionQueue(Handle):
    """A Rust completion queue for one event loop; see ``greeter_queue_new``.

    Not thread-safe: one event loop thread submits and drains. ``cancel`` (through
    :func:`task_cancel`) may come from any thread. After :meth:`close`, submits raise
    PoolShutDownError and drains return nothing; closing drops Python's reference to the Rust
    queue, whose later completions Rust drops.
    """

    # Each call passes the cdata as an argument and so holds it while Rust runs with the GIL
    # released: a close() on another thread (an exit-time finalizer, say) defers the free
    # until the call returns (Handle).
    __slots__ = ("_codes", "_data", "_first", "_ids", "_left", "_lens", "_status", "_used", "fd")

    def __init__(self) -> None:
        self._own(call(lib.greeter_queue_new), lib.greeter_queue_free)
        self.fd: int = call(lib.greeter_queue_fd, self._ptr)
        # Reused per queue: only its loop's thread submits and drains, and neither nests.
        self._status = new_status()
        # greeter_queue_drain writes a batch into flat arrays: four bulk copies per batch
        # instead of several cffi field accesses per completion, and nothing to release.
        self._ids = ffi.new("uint64_t[]", _DRAIN_BATCH)
        self._codes = ffi.new("GreeterCode[]", _DRAIN_BATCH)
        self._lens = ffi.new("size_t[]", _DRAIN_BATCH)
        self._data = ffi.new("char[]", _DRAIN_DATA)
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
            raise status_error(self._status)
        first_id: int = first[0]
        return first_id, n

    def drain_batches(self, limit: int = _DRAIN_BATCH) -> list[Batch]:
        """Up to ``limit`` waiting completions, oldest first, as they cross: batches of
        ``(task_ids, codes, data, sizes)``, the ``i``-th completion's bytes being the next
        ``sizes[i]`` bytes of ``data``: its result (its function's lift reads them) when
        ``codes[i]`` is 0, else its error message (UTF-8). What a result owns (a handle) is the
        caller's from here on. The descriptor stays readable while more are waiting."""
        out: list[Batch] = []
        ptr = self._ptr
        if ptr is None:
            return out
        ids, codes, lens, used, left = self._ids, self._codes, self._lens, self._used, self._left
        data, room, status = self._data, _DRAIN_DATA, self._status
        taken = 0
        while taken < limit:
            want = min(limit - taken, _DRAIN_BATCH)
            n: int = _drain(ptr, ids, codes, lens, want, data, room, used, left, status)
            if n == 0:
                if status.code:
                    raise status_error(status)
                if used[0] <= room:
                    break  # nothing waiting
                # One result larger than the buffer: a buffer for it, this drain only.
                room = used[0]
                data = new_uncleared("char[]", room)
                continue
            out.append((unpack(ids, n), unpack(codes, n), unpack(data, used[0]), unpack(lens, n)))
            taken += n
            if not left[0]:
                break
        return out

    def drain(self, limit: int = _DRAIN_BATCH) -> list[Completion]:
        """Up to ``limit`` waiting completions, oldest first, as ``(task_id, payload, error)``:
        the result's bytes, or the error; as :meth:`drain_batches`, one tuple a completion."""
        out: list[Completion] = []
        for task_ids, codes, data, sizes in self.drain_batches(limit):
            at = 0
            for task_id, code, size in zip(task_ids, codes, sizes, strict=True):
                payload = data[at : at + size]
                at += size
                if code:
                    out.append(
                        (task_id, None, code_error(code, payload.decode("utf-8", "replace")))
                    )
                else:
                    out.append((task_id, payload, None))
        return out

    def forget(self) -> None:
        """Drops the queue without freeing it (a fork child must not touch the parent's locks)."""
        ptr, self._ptr = self._ptr, None
        if ptr is not None:
            ffi.gc(ptr, None)  # detaches greeter_queue_free from the cdata
            if RELEASE_AT_CLOSE:
                self._owner.clear()
