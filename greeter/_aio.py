"""Asynchronous functions (``await greeter.greet_async(name)``): Rust worker threads
completing asyncio futures.

:func:`async_function` turns a submit export of the C API (``greeter_<name>_submit``: packed
texts in, task ids out, completions to a queue) into a coroutine function; nothing else here
knows which function it runs. Each event loop gets one Rust completion queue, shared by every
asynchronous function. The calls of one loop iteration are submitted together, one call into
Rust per submit export (one lock of the pool, one wake-up per idle worker).
The queue's file descriptor is watched with ``loop.add_reader``; Rust makes it readable when
the queue goes from empty to non-empty, so a burst of completions costs one wake-up and one
batched drain into flat arrays, not a callback or several cffi accesses per completion.
Rust never calls into Python here: a closed loop, an exiting thread or a finalising
interpreter can never receive a call from a worker.
"""

from __future__ import annotations

import _thread
import asyncio
import atexit
import importlib
import os
import threading
import weakref
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, overload

from greeter import _pool
from greeter._core import Handle, as_bytes, code_error, encode
from greeter.errors import GreeterError, QueueFullError

_get_running_loop = asyncio.get_running_loop
_TEXT = _pool.TEXT

# The most completions one readiness callback resolves (see _LoopCompletions._on_readable).
_COMPLETIONS_PER_CALLBACK = 1024

# How long a submit refused for a full queue waits before retrying when no completion of its
# own loop arrives first (the queue is shared by every loop).
_QUEUE_FULL_RETRY_S = 0.001


# An asynchronous call waiting to be submitted, then submitted: [UTF-8 text, future, task id
# (0 until submitted), its _Submitter]. A list: cheaper to make than an object, and private to
# this module.
_Request = list[Any]


T = TypeVar("T")


class _Submitter:
    """A submit export, the arguments that come before the texts (a handle, for a method) and
    how its results become Python values: what one asynchronous function calls. Requests are
    grouped by it when flushed."""

    __slots__ = ("bound", "lift", "submit")

    def __init__(
        self, submit: Callable[..., int], bound: tuple[Any, ...], lift: Callable[[bytes], Any]
    ) -> None:
        self.submit = submit
        self.bound = bound
        self.lift = lift


class _LoopCompletions:
    """The completion queue of one event loop, the futures waiting on it, and the submits of
    the current loop iteration (sent to Rust in one call per submit export, see
    :meth:`_flush`)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.queue = _pool.CompletionQueue()
        self.loop_ref = weakref.ref(loop)
        # Submitted requests by task id, until their completion is drained.
        self.waiting: dict[int, _Request] = {}
        self.pending: list[_Request] = []
        self.flush_handle: asyncio.Handle | None = None
        self.retry_handle: asyncio.TimerHandle | None = None
        # The last flush found the pool's queue full: flush again when completions arrive
        # (or after _QUEUE_FULL_RETRY_S, since other loops' completions make room too).
        self.full = False
        loop.add_reader(self.queue.fd, self._on_readable)
        # A loop collected without being closed still frees its queue. Not at interpreter
        # exit: a loop still alive then may be running on another thread, which owns it and
        # whose awaiting tasks would fail; the process takes the queue with it.
        weakref.finalize(loop, self.queue.close).atexit = False

    def _on_readable(self) -> None:
        # A bounded batch per readiness callback: resolving N futures costs the loop N task
        # wake-ups in its next iteration, so 100,000 at once blocked it for ~0.3 s. The rest
        # keeps the descriptor readable and is taken on the next iterations, between the
        # other callbacks.
        pop = self.waiting.pop
        for task_ids, codes, data, sizes in self.queue.drain_batches(_COMPLETIONS_PER_CALLBACK):
            # A batch of ASCII bytes is decoded once and a text result is a slice of that str:
            # 1,358 instructions a completion instead of 2,454 for a slice of bytes and then
            # its lift (callgrind, 20,480 completions), as cheap as the NUL-joined text was.
            text = data.decode() if data.isascii() else None
            at = 0
            for task_id, code, size in zip(task_ids, codes, sizes, strict=True):
                end = at + size
                request = pop(task_id, None)
                if request is not None:
                    future = request[1]
                    if code:
                        if not future.done():
                            message = data[at:end].decode("utf-8", "replace")
                            future.set_exception(code_error(code, message))
                    else:
                        # Lifted even when the awaiting task is gone: a value that owns
                        # something (a new object's handle) frees it when dropped here.
                        lift = request[3].lift
                        if lift is _TEXT and text is not None:
                            value = text[at:end]
                        else:
                            value = lift(data[at:end])
                        if not future.done():
                            future.set_result(value)
                at = end
        if self.full and self.pending:
            self.full = False
            self._flush()

    def _flush(self) -> None:
        """Submits every request of this loop iteration, one call per submit export (one lock
        of the pool, one wake-up per idle worker) instead of one call per request."""
        self.flush_handle = None
        pending, self.pending = self.pending, []
        live = [r for r in pending if not r[1].done()]  # cancelled before submit: dropped
        submitters = {r[3] for r in live}
        if len(submitters) == 1:  # the usual case: one asynchronous function this iteration
            todo = [(submitters.pop(), live)]
        else:
            groups: dict[_Submitter, list[_Request]] = {s: [] for s in submitters}
            for r in live:
                groups[r[3]].append(r)
            todo = list(groups.items())
        waiting = self.waiting
        for i, (submitter, live) in enumerate(todo):
            while live:
                names = [r[0] for r in live]
                try:
                    first, n = self.queue.submit(submitter.submit, submitter.bound, names)
                except QueueFullError:
                    # Backpressure: wait for room, keeping the order of what is left.
                    self.pending[:0] = live + [r for _, rs in todo[i + 1 :] for r in rs]
                    self._wait_for_room()
                    return
                except GreeterError as exc:  # shut down: each awaiting task gets its own error
                    for r in live:
                        r[1].set_exception(type(exc)(exc.code, str(exc)))
                    break
                except MemoryError as exc:  # no memory to pack the batch: never a hang
                    for r in live:
                        r[1].set_exception(MemoryError(*exc.args))
                    break
                for task_id, r in zip(range(first, first + n), live, strict=False):
                    r[2] = task_id
                    waiting[task_id] = r
                live = live[n:]

    def _wait_for_room(self) -> None:
        self.full = True
        loop = self.loop_ref()
        if self.retry_handle is None and loop is not None and not loop.is_closed():
            self.retry_handle = loop.call_later(_QUEUE_FULL_RETRY_S, self._retry)

    def _retry(self) -> None:
        self.retry_handle = None
        if self.full and self.pending:
            self.full = False
            self._flush()

    def abandon(self, task_id: int) -> None:
        """The awaiting task is gone: cancel the Rust task; its result, if any, is freed."""
        if task_id not in self.waiting:
            return  # its completion was drained already (and its value dropped)
        if _pool.task_cancel(task_id):
            del self.waiting[task_id]  # removed, or its result dropped by Rust: no completion
        # Otherwise it finished: its completion is on its way and stays awaited, so that the
        # drain lifts its value (freeing what it owns) and drops it.

    def close(self) -> None:
        """Stops watching the queue, cancels its tasks and frees it (the loop is closed)."""
        loop = self.loop_ref()
        if loop is not None and not loop.is_closed():
            loop.remove_reader(self.queue.fd)
        for handle in (self.flush_handle, self.retry_handle):
            if handle is not None:
                handle.cancel()
        self.pending.clear()
        for task_id in list(self.waiting):
            _pool.task_cancel(task_id)
        self.waiting.clear()
        self.queue.close()


_registry: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopCompletions] = (
    weakref.WeakKeyDictionary()
)
_registry_lock = threading.Lock()


# The loop greet_async last ran on and its completions: a WeakKeyDictionary lookup makes a
# weak reference per call, calling a stored one is cheaper. Replaced whole (atomic under the
# GIL); a loop collected or closed never matches again, since its weak reference is dead or
# it is not running.
_last: tuple[weakref.ref[asyncio.AbstractEventLoop], _LoopCompletions] | None = None


def _completions_for(loop: asyncio.AbstractEventLoop) -> _LoopCompletions:
    global _last
    completions = _registry.get(loop)
    if completions is None:
        completions = _register(loop)
    _last = (weakref.ref(loop), completions)
    return completions


def _register(loop: asyncio.AbstractEventLoop) -> _LoopCompletions:
    with _registry_lock:
        completions = _registry.get(loop)
        if completions is not None:
            return completions
        # Loops closed with work in flight (and never collected, since their futures are held
        # here) are swept whenever a new loop registers.
        for other, stale in list(_registry.items()):
            if other.is_closed():
                stale.close()
                del _registry[other]
        completions = _LoopCompletions(loop)
        _registry[loop] = completions
        return completions


@overload
def async_function(
    submit: Callable[..., int], *bound: Any, takes: type[bytes], lift: Callable[[bytes], T]
) -> Callable[[bytes], Coroutine[Any, Any, T]]: ...


@overload
def async_function(
    submit: Callable[..., int], *bound: Any
) -> Callable[[str], Coroutine[Any, Any, str]]: ...


@overload
def async_function(
    submit: Callable[..., int], *bound: Any, lift: Callable[[bytes], T]
) -> Callable[[str], Coroutine[Any, Any, T]]: ...


def async_function(
    submit: Callable[..., int],
    *bound: Any,
    takes: type[str] | type[bytes] = str,
    lift: Callable[[bytes], Any] = _pool.TEXT,
) -> Callable[[Any], Coroutine[Any, Any, Any]]:
    """The coroutine function for the submit export ``submit`` (``greeter_<name>_submit``),
    called as ``submit(*bound, names, lens, count, queue, first_id, status)``: ``bound`` are
    the arguments before the inputs, such as an object's handle for a method.

    ``takes`` states the argument's type: ``str`` (the default; sent as UTF-8, for an export
    built on ``submit``) or ``bytes`` (sent as they are, for one built on ``submit_bytes``).
    Only ``bytes`` itself (or a subclass) is taken, not ``bytearray`` or ``memoryview``: the
    argument waits in Python until the loop's next flush, and a mutable buffer could change
    meanwhile. Any other argument raises TypeError naming the type expected.

    ``lift`` states how the function's result (bytes with a length, in the shape its export
    documents) becomes its Python value: :data:`~greeter._pool.TEXT` (the default),
    :data:`~greeter._pool.BYTES`, :data:`~greeter._pool.INTEGER`, or
    :func:`~greeter._pool.handle_lift` for a new object.

    The coroutine works on any asyncio loop in any thread (uvloop and anyio's asyncio backend
    included); elsewhere (trio, or no loop at all) it raises RuntimeError saying so. Cancelling
    the awaiting task cancels the Rust task if it has not started; either way its result is
    freed. When the pool's queue is full it waits for room (backpressure) instead of failing.
    """
    if takes is not str and takes is not bytes:
        raise TypeError(f"takes must be str or bytes, not {takes!r}")
    submitter = _Submitter(submit, bound, lift)
    to_bytes = encode if takes is str else as_bytes
    export = getattr(submit, "__name__", "")
    public = None
    if export.startswith("greeter_") and export.endswith("_submit"):
        public = export[len("greeter_") : -len("_submit")] + "_async"
    # Not call.__name__ inside call: a function referring to itself is a reference cycle,
    # which would keep the bound handle alive until the garbage collector runs.
    no_loop = (
        f"{public or 'this coroutine'} needs a running asyncio event loop (asyncio, uvloop or "
        "anyio's asyncio backend); under trio, call its synchronous form in a worker thread "
        "instead"
    )

    async def call(argument: Any) -> Any:
        data = to_bytes(argument)
        try:
            loop = _get_running_loop()
        except RuntimeError:
            raise RuntimeError(no_loop) from None
        last = _last
        completions = last[1] if last is not None and last[0]() is loop else _completions_for(loop)
        future: asyncio.Future[Any] = loop.create_future()
        request: _Request = [data, future, 0, submitter]
        completions.pending.append(request)
        if completions.flush_handle is None and not completions.full:
            completions.flush_handle = loop.call_soon(completions._flush)
        try:
            return await future
        except BaseException:
            # Cancelled, or the coroutine was closed (GeneratorExit) with its loop gone. Not
            # yet submitted (task id 0): the flush drops it.
            if (not future.done() or future.cancelled()) and request[2]:
                completions.abandon(request[2])
            raise

    if public is not None:
        call.__name__ = call.__qualname__ = public
    return call


def async_method(
    submit: Callable[..., int], *, lift: Callable[[bytes], T]
) -> Callable[[Handle, str], Coroutine[Any, Any, T]]:
    """The coroutine method of an object type for the submit export ``submit``, which takes
    the object's handle before the texts (``greeter_<type>_<name>_submit``): in the class body,
    ``name_async = async_method(lib.greeter_<type>_<name>_submit, lift=...)``.

    Each call reads the object's handle (ValueError once the object is closed) and holds it
    until its coroutine ends; each Rust task holds a reference of its own, so closing the
    object never waits and never frees what a task uses. Otherwise as :func:`async_function`
    (an object's calls are submitted one call into Rust each: a type whose async method is hot
    keeps one bound function instead, as ``Greeter.greet_async`` does).
    """

    def method(self: Handle, text: str) -> Coroutine[Any, Any, T]:
        # Counted as a call using the pointer until the coroutine ends (Handle._until_done).
        return self._until_done(async_function(submit, self._pointer(), lift=lift)(text))

    return method


def shutdown() -> None:
    """Stops the worker pool: tasks not started fail with PoolShutDownError on their awaiting
    task, running ones finish, the workers are joined. ``configure_pool()`` starts it again.
    The main interpreter's exit calls it, so a process exiting with work in flight ends
    cleanly."""
    _pool.pool_shutdown()


def configure_pool(threads: int = 0, queue_capacity: int = 0) -> None:
    """Sizes the worker pool for its next start (0: one thread per CPU, 65536 queued tasks)
    and re-opens it after :func:`shutdown`. Raises InvalidArgumentError while it runs or for more
    than 1024 threads (``GREETER_MAX_POOL_THREADS``)."""
    _pool.pool_configure(threads, queue_capacity)


def pool_size() -> tuple[int, int]:
    """``(threads, queue_capacity)`` of the running pool, or of the next one."""
    return _pool.pool_size()


def _forget_after_fork() -> None:
    # The child has none of the parent's threads; the queues' locks may be held forever, and
    # so may _registry_lock: another thread registering a loop at the moment of the fork left
    # it locked in the child, whose first greet_async then waited on it forever.
    global _last, _registry_lock
    _last = None
    _registry_lock = threading.Lock()
    for completions in list(_registry.values()):
        completions.queue.forget()
    _registry.clear()


def _in_main_interpreter() -> bool:
    is_main = getattr(_thread, "_is_main_interpreter", None)  # CPython 3.12 and later
    if is_main is not None:
        return bool(is_main())
    try:
        interpreters = importlib.import_module("_xxsubinterpreters")  # CPython 3.11
    except ModuleNotFoundError:
        return True  # an interpreter without sub-interpreters (PyPy): this one is the only one
    return bool(interpreters.get_current() == interpreters.get_main())


def _at_exit() -> None:
    """This interpreter is exiting. Each interpreter runs its own exit hooks, but the pool
    serves the whole process: only the main interpreter's exit stops it. A sub-interpreter's
    exit releases the queues of its own loops that are not running (their Rust tasks are
    cancelled), and leaves the pool to the other interpreters."""
    if _in_main_interpreter():
        shutdown()
        return
    with _registry_lock:
        for loop, completions in list(_registry.items()):
            if not loop.is_running():
                completions.close()
                del _registry[loop]


# importlib.reload (as autoreloaders do) runs this module again in the same namespace: the
# hooks are registered once per interpreter, as wrappers calling the current definitions.
if "_hooks_registered" not in globals():
    _hooks_registered = True
    atexit.register(lambda: _at_exit())
    os.register_at_fork(after_in_child=lambda: _forget_after_fork())
