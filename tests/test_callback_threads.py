"""Which thread runs an ``async_greet`` callback: the C header's contract, checked through ctypes.

The header says: a greeter worker thread once the task ran; the thread calling
``greeter_pool_shutdown`` (with NULL, before that call returns) when the pool shut down before
the task started; the calling thread (with NULL, before ``async_greet`` returns) when the
task was refused.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

import greeter

CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
# Linux keeps the first 15 bytes of a thread's name (/proc/.../comm).
KERNEL_THREAD_NAME_BYTES = 15


def _thread_name(native_id: int) -> str:
    return Path(f"/proc/self/task/{native_id}/comm").read_text().strip()


class _Recorder:
    """An async_greet callback recording (OS thread id, Python thread, greeting or None) for
    each call."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib
        self.calls: list[tuple[int, threading.Thread, str | None]] = []
        self.callback = CALLBACK(self._on_greeting)  # kept alive by this object

    def _on_greeting(self, ptr: int | None) -> None:
        native_id = threading.get_native_id()
        value = ctypes.string_at(ptr).decode() if ptr else None
        self.lib.free_string(ptr)
        self.calls.append((native_id, threading.current_thread(), value))


@pytest.fixture
def lib() -> Iterator[ctypes.CDLL]:
    library = ctypes.CDLL(str(greeter.library_path()))
    library.async_greet.argtypes = [ctypes.c_char_p, CALLBACK]
    library.async_greet.restype = None
    library.free_string.argtypes = [ctypes.c_void_p]
    library.free_string.restype = None
    library.greeter_pool_shutdown.argtypes = [ctypes.c_void_p]  # a NULL status
    library.greeter_pool_shutdown.restype = None
    greeter.shutdown()
    greeter.configure_pool(threads=1, queue_capacity=3)
    yield library
    greeter.shutdown()
    greeter.configure_pool()


def _wait_for(calls: list[Any], n: int) -> None:
    deadline = threading.Event()
    for _ in range(3000):
        if len(calls) >= n:
            return
        deadline.wait(0.01)
    raise AssertionError(f"{len(calls)} of {n} callbacks after 30 s")


def test_a_task_that_ran_calls_back_on_a_greeter_worker_thread(lib: ctypes.CDLL) -> None:
    recorder = _Recorder(lib)
    for name in (b"Ann", b"Bo"):
        lib.async_greet(name, recorder.callback)
    _wait_for(recorder.calls, 2)
    me = threading.get_native_id()
    for native_id, _, _ in recorder.calls:
        assert native_id != me
        # The name Rust gives its workers, as the kernel keeps it.
        assert _thread_name(native_id) == "greeter-worker-0"[:KERNEL_THREAD_NAME_BYTES]
    assert sorted(v for _, _, v in recorder.calls if v) == ["Async Hello, Ann!", "Async Hello, Bo!"]


def test_refused_and_shut_down_tasks_call_back_with_null_on_the_stated_threads(
    lib: ctypes.CDLL,
) -> None:
    recorder = _Recorder(lib)
    release = threading.Event()
    blocked = threading.Event()

    def block(ptr: int | None) -> None:  # holds the only worker until released
        lib.free_string(ptr)
        blocked.set()
        release.wait(30)

    blocker = CALLBACK(block)
    lib.async_greet(b"blocker", blocker)
    assert blocked.wait(30)
    me, this = threading.get_native_id(), threading.current_thread()

    # Queued behind the blocked worker: 3 fit the queue, the 4th is refused at once.
    for i in range(4):
        lib.async_greet(f"q{i}".encode(), recorder.callback)
    assert recorder.calls == [(me, this, None)]  # before async_greet returned
    lib.async_greet(None, recorder.callback)  # bad input: the same
    assert recorder.calls[1] == (me, this, None)

    # Shut down from another thread: the 3 queued tasks call back there, with NULL, before
    # greeter_pool_shutdown returns (it then joins the worker, released below).
    events: list[str] = []
    stopper_id: list[int] = []

    def stop() -> None:
        stopper_id.append(threading.get_native_id())
        lib.greeter_pool_shutdown(None)
        events.append("shutdown returned")

    stopper = threading.Thread(target=stop, name="stopper")
    stopper.start()
    _wait_for(recorder.calls, 5)
    assert events == []  # the worker is still blocked: shutdown has not returned
    release.set()
    stopper.join(30)
    assert events == ["shutdown returned"]
    # The thread itself, not its OS name (which Python 3.14 and later set from Thread.name).
    assert recorder.calls[2:] == [(stopper_id[0], stopper, None)] * 3
    del blocker


def test_the_header_states_each_callback_thread(ffi_build: ModuleType) -> None:
    functions = ffi_build.header_functions(greeter.include_dir() / "greeter.h")
    doc = functions["async_greet"].doc_text
    assert "a greeter worker thread, once the task has run" in doc
    assert "the thread calling `greeter_pool_shutdown`, before that call returns, with NULL" in doc
    assert "the thread calling `async_greet`, before it returns, with NULL" in doc
