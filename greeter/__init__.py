"""greeter: Rust greetings for Python through a plain C ABI.

    >>> import greeter
    >>> greeter.add_numbers(3, 5)
    8
    >>> greeter.greet("Alice")
    'Hello, Alice!'
    >>> with greeter.greeting("Alice") as s:
    ...     s.value
    'Hello, Alice!'

The Rust library is reached through a cffi API-mode extension built against the header that
cbindgen generates from the crate. ``library_path()`` and ``include_dir()`` give ctypes and C
users the very library and header this package uses.
"""

from __future__ import annotations

from importlib.util import find_spec
from pathlib import Path

if find_spec(f"{__name__}._greeter_cffi") is None:
    # The source tree's package (Python started in a checkout's root puts it first on sys.path):
    # builds go to build/ or site-packages, never here, unless built in place.
    raise ImportError(
        f"{__name__} at {Path(__file__).parent} has no compiled extension: this is a source "
        "tree; import the installed package (run from another directory, or `python -P`), "
        "or build here with `python setup.py build_ext --inplace`"
    )

from greeter import _functions, _objects, errors
from greeter._aio import configure_pool, pool_size, shutdown
from greeter._core import LIBRARY_VERSION
from greeter._functions import *  # noqa: F403  (greeter's functions: _functions.__all__)
from greeter._objects import *  # noqa: F403  (greeter's object types: _objects.__all__)
from greeter._strings import RustString
from greeter._version import __version__
from greeter.errors import *  # noqa: F403  (greeter's exceptions: errors.__all__)


def library_path() -> Path:
    """The Rust shared library (``libgreeter.so``) this package is bound to, for ctypes."""
    return Path(__file__).with_name("libgreeter.so")


def include_dir() -> Path:
    """The directory holding ``greeter.h``, the C header of that library."""
    return Path(__file__).with_name("include")


__all__ = [
    "LIBRARY_VERSION",
    "RustString",
    "__version__",
    "configure_pool",
    "include_dir",
    "library_path",
    "pool_size",
    "shutdown",
]
__all__ += errors.__all__ + _functions.__all__ + _objects.__all__
