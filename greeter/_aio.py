"""``await greeter.greet_async(name)``: Rust worker threads completing asyncio futures.

Each event loop gets one Rust completion queue. Its file descriptor is watched with
``loop.add_reader``; Rust makes it readable when the queue goes from empty to non-empty, so a
burst of completions costs one wake-up and one batched drain, not a callback per completion.
Rust never calls into Python here: a closed loop, an exiting thread or a finalising
interpreter can never receive a call from a worker.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
import weakref

from greeter import _native
from greeter.errors import QueueFullError

# How long a submit refused for a full queue waits before retrying when no completion of its
# own loop arrives first (the queue is shared by every loop).
_QUEUE_FULL_RETRY_S = 0.001


class _LoopCompletions:
    """The completion queue of one event loop and the futures waiting on it."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.queue = _native.CompletionQueue()
        self.loop_ref = weakref.ref(loop)
        self.waiting: dict[int, asyncio.Future[str]] = {}
        self.room: list[asyncio.Future[None]] = []
        loop.add_reader(self.queue.fd, self._on_readable)
        # A loop collected without being closed still frees its queue.
        weakref.finalize(loop, self.queue.close)

    def _on_readable(self) -> None:
        waiting = self.waiting
        for task_id, value, error in self.queue.drain():
            future = waiting.pop(task_id, None)
            if future is None or future.done():
                continue  # cancelled after its result was delivered; drain freed the string
            if error is None:
                future.set_result(value)  # type: ignore[arg-type]
            else:
                future.set_exception(error)
        if self.room:
            self._wake_room()

    def _wake_room(self) -> None:
        room, self.room = self.room, []
        for future in room:
            if not future.done():
                future.set_result(None)

    async def wait_for_room(self, loop: asyncio.AbstractEventLoop) -> None:
        future: asyncio.Future[None] = loop.create_future()
        self.room.append(future)
        timer = loop.call_later(_QUEUE_FULL_RETRY_S, self._wake_room)
        try:
            await future
        finally:
            timer.cancel()

    def abandon(self, task_id: int) -> None:
        """The awaiting task is gone: cancel the Rust task; its result, if any, is freed."""
        self.waiting.pop(task_id, None)
        _native.task_cancel(task_id)

    def close(self) -> None:
        """Stops watching the queue, cancels its tasks and frees it (the loop is closed)."""
        loop = self.loop_ref()
        if loop is not None and not loop.is_closed():
            loop.remove_reader(self.queue.fd)
        for task_id in list(self.waiting):
            _native.task_cancel(task_id)
        self.waiting.clear()
        self.queue.close()


_registry: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopCompletions] = (
    weakref.WeakKeyDictionary()
)
_registry_lock = threading.Lock()


def _completions_for(loop: asyncio.AbstractEventLoop) -> _LoopCompletions:
    completions = _registry.get(loop)
    if completions is not None:
        return completions
    with _registry_lock:
        # Loops closed with work in flight (and never collected, since their futures are held
        # here) are swept whenever a new loop registers.
        for other, stale in list(_registry.items()):
            if other.is_closed():
                stale.close()
                del _registry[other]
        completions = _LoopCompletions(loop)
        _registry[loop] = completions
        return completions


async def greet_async(name: str) -> str:
    """``Async Hello, {name}!``, computed on a Rust worker thread.

    Works on any asyncio loop in any thread. Cancelling the awaiting task cancels the Rust
    task if it has not started; either way its result is freed. When the pool's queue is full
    this waits for room (backpressure) instead of failing.
    """
    data = _native._encode(name)
    loop = asyncio.get_running_loop()
    completions = _completions_for(loop)
    while True:
        try:
            task_id = completions.queue.submit(data)
            break
        except QueueFullError:
            await completions.wait_for_room(loop)
    future: asyncio.Future[str] = loop.create_future()
    completions.waiting[task_id] = future
    try:
        return await future
    except BaseException:
        # Cancelled, or the coroutine was closed (GeneratorExit) with its loop gone.
        if not future.done() or future.cancelled():
            completions.abandon(task_id)
        raise


def shutdown() -> None:
    """Stops the worker pool: tasks not started fail with PoolShutDownError on their awaiting
    task, running ones finish, the workers are joined. ``configure_pool()`` starts it again.
    Registered with atexit, so an interpreter exiting with work in flight ends cleanly."""
    _native.pool_shutdown()


def configure_pool(threads: int = 0, queue_capacity: int = 0) -> None:
    """Sizes the worker pool for its next start (0: one thread per CPU, 65536 queued tasks)
    and re-opens it after :func:`shutdown`. Raises InvalidArgumentError while it runs or for more
    than 1024 threads (``GREETER_MAX_POOL_THREADS``)."""
    _native.pool_configure(threads, queue_capacity)


def pool_size() -> tuple[int, int]:
    """``(threads, queue_capacity)`` of the running pool, or of the next one."""
    return _native.pool_size()


def _forget_after_fork() -> None:
    # The child has none of the parent's threads; the queues' locks may be held forever, and
    # so may _registry_lock: another thread registering a loop at the moment of the fork left
    # it locked in the child, whose first greet_async then waited on it forever.
    global _registry_lock
    _registry_lock = threading.Lock()
    for completions in list(_registry.values()):
        completions.queue.forget()
    _registry.clear()


atexit.register(shutdown)
os.register_at_fork(after_in_child=_forget_after_fork)
