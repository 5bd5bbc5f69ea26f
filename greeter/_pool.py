"""The worker pool and completion queues, as the C API has them: the half of the async layer that
calls the library. :mod:`greeter._aio` builds asyncio on top of it.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import repeat as _repeat
from typing import Any

from greeter._core import (
    RELEASE_AT_CLOSE,
    Handle,
    call,
    code_error,
    ffi,
    lib,
    new_status,
    status_error,
    uses_pointer,
)
from greeter._strings import new_uncleared, unpack
from greeter.errors import GreeterError, PoolShutDownError

__all__ = [
    "Completion",
    "CompletionQueue",
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


Completion = tuple[int, str | None, GreeterError | None]

_DRAIN_BATCH = 1024
_DRAIN_TEXT = 64 * 1024
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
    __slots__ = ("_codes", "_first", "_ids", "_left", "_status", "_text", "_used", "fd")

    def __init__(self) -> None:
        self._own(call(lib.greeter_queue_new), lib.greeter_queue_free)
        self.fd: int = call(lib.greeter_queue_fd, self._ptr)
        # Reused per queue: only its loop's thread submits and drains, and neither nests.
        self._status = new_status()
        # greeter_queue_drain writes a batch into flat arrays: three bulk copies per batch
        # instead of several cffi field accesses per completion, and nothing to release.
        self._ids = ffi.new("uint64_t[]", _DRAIN_BATCH)
        self._codes = ffi.new("GreeterCode[]", _DRAIN_BATCH)
        self._text = ffi.new("char[]", _DRAIN_TEXT)
        self._used = ffi.new("size_t *")
        self._left = ffi.new("size_t *")
        self._first = ffi.new("uint64_t *")

    @uses_pointer
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

    @uses_pointer
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
                    raise status_error(status)
                if used[0] <= room:
                    break  # nothing waiting
                # One text larger than the buffer: a buffer for it, this drain only.
                room = used[0]
                text = new_uncleared("char[]", room)
                continue
            texts = unpack(text, used[0]).decode().split("\0")
            task_ids: list[int] = unpack(ids, n)
            codes_: list[int] = unpack(codes, n)
            if any(codes_):
                for task_id, code, value in zip(task_ids, codes_, texts, strict=True):
                    if code:
                        out.append((task_id, None, code_error(code, value)))
                    else:
                        out.append((task_id, value, None))
            else:
                out.extend(zip(task_ids, texts, _repeat(None)))
            if not left[0]:
                break
        return out

    def forget(self) -> None:
        """Drops the queue without freeing it (a fork child must not touch the parent's locks)."""
        ptr, self._ptr = self._ptr, None
        if ptr is not None:
            ffi.gc(ptr, None)  # detaches greeter_queue_free from the cdata
            if RELEASE_AT_CLOSE:
                self._owner.clear()
