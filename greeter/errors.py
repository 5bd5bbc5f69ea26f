"""Exceptions raised by greeter.

Every failure reported by the Rust library is a :class:`GreeterError` carrying the library's
error ``code``. Each subclass also derives from the built-in exception a Python user would
expect for that failure (``ValueError``, ``OverflowError``, ``MemoryError``,
``RuntimeError``), so existing ``except`` clauses keep working.
"""

from __future__ import annotations


class GreeterError(Exception):
    """A failure reported by the Rust library; ``code`` is its ``GREETER_ERR_*`` value."""

    code: int

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


class NullPointerError(GreeterError, ValueError):
    """A required pointer was NULL (only reachable through the raw binding)."""


class InvalidUtf8Error(GreeterError, ValueError):
    """A name was not valid UTF-8 (only reachable through the raw binding)."""


class InteriorNulError(GreeterError, ValueError):
    """A name contained a NUL character, which a C string cannot carry."""


class GreeterOverflowError(GreeterError, OverflowError):
    """An integer result does not fit in a 32-bit signed integer."""


class RustPanicError(GreeterError):
    """Rust code panicked; the panic was caught at the boundary and its message kept."""


class PoolShutDownError(GreeterError, RuntimeError):
    """The worker pool is shut down, or shut down before the task started, or the event loop's
    completion queue was closed."""


class QueueFullError(GreeterError, RuntimeError):
    """The worker pool's queue is full (``greet_async`` waits for room instead of raising)."""


class InvalidArgumentError(GreeterError, ValueError):
    """An argument is outside its documented range."""


class OutOfMemoryError(GreeterError, MemoryError):
    """A result (or a copy of an argument) needs more memory than the system gives: the input
    is too large for this call. The process and the worker pool go on."""


class InvalidTemplateError(GreeterError, ValueError):
    """A :class:`~greeter.Greeter` template was refused; the message names the problem and
    its character offset (an index into the template ``str``)."""


__all__ = [
    "GreeterError",
    "GreeterOverflowError",
    "InteriorNulError",
    "InvalidArgumentError",
    "InvalidTemplateError",
    "InvalidUtf8Error",
    "NullPointerError",
    "OutOfMemoryError",
    "PoolShutDownError",
    "QueueFullError",
    "RustPanicError",
]
