"""cffi API-mode build of greeter's two native modules.

``greeter._greeter_cffi`` declares every export of include/greeter_cdef.h, which cbindgen
generates from rust/ (never a hand copy). The generated C source includes include/greeter.h, the
public header from the same crate, so the C compiler checks every cdef declaration against it.
Like every cffi API-mode wrapper, each of its calls releases the GIL and saves errno around
the C call.

``greeter._greeter_cffi_short`` declares only the *short calls*: the exports whose ``///`` docs
in rust/ carry a paragraph starting ``Short call:`` (cbindgen copies it into the headers; this
file reads it there, so the set is declared in rust/ and nowhere else). A short call has
bounded input, takes no lock a worker thread can hold, calls back into nothing and does no
I/O, so its wrapper keeps the GIL and skips errno: see :data:`SHORT_CALL_PREAMBLE` and
:func:`check_short_call_source`, which fails the build if cffi's generated C no longer has the
shape that preamble relies on. The module includes the first one (``ffi.include``), so cdata
made by either ``ffi`` passes to either ``lib``.

Both extensions link against the Rust cdylib (rust/target/release/libgreeter.so), which is
shipped next to them in the package and found through an ``$ORIGIN`` rpath. One copy of the
Rust state (live-string counter, worker pool) then serves both modules and ctypes users of
``greeter.library_path()``; linking the staticlib instead would give each its own copy.

On CPython, cffi compiles the modules against the limited API (``*.abi3.so``), which is what
lets setup.py tag the wheel ``cp311-abi3``; on PyPy they are plain cffi modules for that PyPy
(a ``pp311`` wheel), without the CPython-only speed-ups (:data:`CPYTHON_SPEEDUPS`).
The linker strips them unless ``GREETER_STRIP=0``.

:func:`header_items` and :func:`header_functions` are the project's one reader of the headers
(what they declare and document): the build, and the tests that ask, go through them.

    python ffi_build.py                  # build both modules in place (setup.py is the usual way)
    python ffi_build.py --emit-short F   # write the short-call module's C source to F, checked
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from pathlib import Path
from typing import NamedTuple

import cffi

ROOT = Path(__file__).resolve().parent
INCLUDE_DIR = ROOT / "include"
CDEF_HEADER = INCLUDE_DIR / "greeter_cdef.h"
RUST_TARGET_DIR = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "rust" / "target"))
RUST_LIB_DIR = RUST_TARGET_DIR / "release"
# Rust cdylibs have no SONAME: the DT_NEEDED entry is "libgreeter.so", found beside us.
LINK_ARGS = ["-Wl,-rpath,$ORIGIN"]
if os.environ.get("GREETER_STRIP", "1") != "0":
    LINK_ARGS.append("-Wl,--strip-all")
BUILD_OPTIONS: dict[str, list[str]] = {
    "include_dirs": [str(INCLUDE_DIR)],
    "library_dirs": [str(RUST_LIB_DIR)],
    "libraries": ["greeter"],
    "extra_link_args": LINK_ARGS,
    # A cdef that disagrees with greeter.h must stop the build, not warn.
    "extra_compile_args": [
        "-Werror=incompatible-pointer-types",
        "-Werror=implicit-function-declaration",
    ],
}

# --- the one build-time choice: CPython's speed-ups, or cffi's plain modules -------------------
# cffi generates different C for CPython (wrappers that convert each argument with C helpers and
# release the GIL with Python.h's macros) and for PyPy (plain C functions that its JIT calls
# directly, converting the arguments itself). Two speed-ups below rewrite CPython's wrappers:
# the int32_t argument rule (INTEGER_ARGUMENTS) and the short-call module that keeps the GIL
# (SHORT_CALL_PREAMBLE). Elsewhere neither is compiled: both modules are cffi's ordinary ones and
# greeter applies the same rules in Python (greeter._functions reads GREETER_BINDING_INT_ONLY).
CPYTHON_SPEEDUPS = sys.implementation.name == "cpython"

# Declared in both modules: 1 when the extension's int32_t arguments take int (and its
# subclasses, bool among them) only, refusing anything else with TypeError before any
# __int__ or __index__ runs; 0 when cffi converts them its own way (which calls __int__).
BINDING_CDEF = "#define GREETER_BINDING_INT_ONLY ...\n"

# CPython: int32_t arguments take int only. cffi's own conversion calls __int__ (Fraction(7, 2)
# became 3); this keeps it for int and refuses anything else with a bare TypeError, before any
# Python code of the argument's runs, so that greeter's wrapper applies Python's rule for
# integers (operator.index) itself, calling __index__ once and naming the argument (an int
# costs one type-flag test more; the same test written in Python cost add_numbers ~360
# instructions by callgrind).
INTEGER_ARGUMENTS = """\
/* greeter: int32_t arguments take int only (ffi_build.py). */
#ifndef _cffi_to_c_i32
#error "greeter: cffi no longer defines _cffi_to_c_i32 as a macro; see ffi_build.py"
#endif
static int greeter_cffi_to_c_i32(PyObject *o) { return _cffi_to_c_i32(o); }
static int greeter_int_to_c_i32(PyObject *o)
{
    if (PyLong_Check(o))
        return greeter_cffi_to_c_i32(o);
    PyErr_SetString(PyExc_TypeError, "an int is required");
    return -1;
}
#undef _cffi_to_c_i32
#define _cffi_to_c_i32 greeter_int_to_c_i32
#define GREETER_BINDING_INT_ONLY 1
"""
# Elsewhere: cffi's own conversion, untouched.
PLAIN_INTEGER_ARGUMENTS = "#define GREETER_BINDING_INT_ONLY 0\n"
BINDING_SOURCE = '#include "greeter.h"\n' + (
    INTEGER_ARGUMENTS if CPYTHON_SPEEDUPS else PLAIN_INTEGER_ARGUMENTS
)

ffibuilder = cffi.FFI()
ffibuilder.cdef(CDEF_HEADER.read_text(encoding="utf-8") + BINDING_CDEF)
ffibuilder.set_source("greeter._greeter_cffi", BINDING_SOURCE, **BUILD_OPTIONS)

# --- the short-call module ----------------------------------------------------------------

SHORT_CALL_MODULE = "greeter._greeter_cffi_short"
# The line of a doc comment that marks a short call (in either header, comment markers aside).
SHORT_CALL_MARKER = "Short call:"

# Inserted by cffi after its own prelude (which includes Python.h and defines the errno
# helpers) and before the wrappers, so the wrappers below it see these definitions. cffi
# brackets every C call of a wrapper with exactly these four names:
#     Py_BEGIN_ALLOW_THREADS  _cffi_restore_errno();  { result = f(...); }
#     _cffi_save_errno();  Py_END_ALLOW_THREADS
# Emptying them keeps the GIL (and skips cffi's errno bookkeeping, which only ffi.errno reads;
# greeter never does). On a free-threaded CPython (Py_GIL_DISABLED) there is no GIL to keep:
# nothing is redefined and the module behaves exactly like the other one. It is compiled for
# CPython only (CPYTHON_SPEEDUPS): PyPy's calls bypass such wrappers, and there the module is
# cffi's ordinary one.
SHORT_CALL_PREAMBLE = """\
#include "greeter.h"

/* greeter: the short-call preamble (ffi_build.py). */
#if !defined(Py_GIL_DISABLED)
#if !defined(Py_BEGIN_ALLOW_THREADS) || !defined(Py_END_ALLOW_THREADS)
#error "greeter: Python.h no longer defines Py_BEGIN/END_ALLOW_THREADS as macros; see ffi_build.py"
#endif
#if !defined(_cffi_restore_errno) || !defined(_cffi_save_errno)
#error "greeter: cffi no longer defines _cffi_restore/save_errno as macros; see ffi_build.py"
#endif
#undef Py_BEGIN_ALLOW_THREADS
#undef Py_END_ALLOW_THREADS
#undef _cffi_restore_errno
#undef _cffi_save_errno
#define Py_BEGIN_ALLOW_THREADS {
#define Py_END_ALLOW_THREADS }
#define _cffi_restore_errno() ((void)0)
#define _cffi_save_errno() ((void)0)
#endif
/* greeter: end of the short-call preamble. */
"""
_PREAMBLE_LINE = "/* greeter: the short-call preamble (ffi_build.py). */"
_REDEFINED = (
    "Py_BEGIN_ALLOW_THREADS",
    "Py_END_ALLOW_THREADS",
    "_cffi_restore_errno",
    "_cffi_save_errno",
)
# Other ways to let go of the GIL: if a wrapper ever used one, emptying the four names above
# would not keep it.
_OTHER_THREAD_STATE_CALLS = re.compile(
    r"\b(PyEval_SaveThread|PyEval_RestoreThread|Py_UNBLOCK_THREADS|Py_BLOCK_THREADS"
    r"|PyGILState_Ensure|PyGILState_Release|PyEval_ReleaseThread)\b"
)
_WRAPPER_START = re.compile(r"^_cffi_f_(\w+)\(PyObject \*self, PyObject \*\w+\)$", re.MULTILINE)


class ShortCallError(Exception):
    """The short-call set or cffi's generated C is not what the short-call module relies on."""


# --- reading the headers ------------------------------------------------------------------
# The one reader of include/*.h (and of the installed copy of greeter.h): the build, the stub's
# drift test and every test that asks what the header declares or documents call it.

FUNCTION = re.compile(r"(?!typedef\b)[\w\s*]+?\b(\w+)\s*\((.*)\)\s*;", re.DOTALL)


class HeaderItem(NamedTuple):
    """One item cbindgen wrote: its doc comment's lines (markers removed) and its code. (A
    NamedTuple, not a dataclass: cffi runs this file without registering it as a module.)"""

    doc: tuple[str, ...]
    code: str

    @property
    def function(self) -> str | None:
        """The name, when the item declares a function."""
        match = FUNCTION.fullmatch(self.code)
        return match.group(1) if match else None

    @property
    def doc_text(self) -> str:
        """The doc comment as one line of text (whatever its line breaks)."""
        return " ".join(" ".join(self.doc).split())


def header_items(text: str) -> list[HeaderItem]:
    """The items of a cbindgen header, in order: each is its doc comment (``//`` lines, or a
    ``/** ... */`` block) followed by its code, and items are separated by blank lines; that
    is the only layout relied on. Preprocessor lines and ``extern "C"`` braces are no code."""
    items = []
    for block in re.split(r"\n\s*\n", text):
        doc: list[str] = []
        code: list[str] = []
        in_comment = False
        for line in block.splitlines():
            stripped = line.strip()
            if in_comment or stripped.startswith("/*"):
                in_comment = not stripped.endswith("*/")
                text_part = stripped.removeprefix("/**").removeprefix("/*").removesuffix("*/")
                doc.append(text_part.strip().removeprefix("*").strip())
            elif stripped.startswith("//"):
                doc.append(stripped.removeprefix("//").strip())
            elif stripped and not stripped.startswith("#") and stripped not in HEADER_BRACES:
                code.append(stripped)
        items.append(HeaderItem(tuple(line for line in doc if line), " ".join(code)))
    return items


HEADER_BRACES = {'extern "C" {', "}"}


def header_functions(header: Path) -> dict[str, HeaderItem]:
    """``{name: item}`` of every function the header declares."""
    items = header_items(header.read_text(encoding="utf-8"))
    return {item.function: item for item in items if item.function is not None}


def short_call_declarations(cdef_text: str) -> dict[str, str]:
    """``{name: C declaration}`` of every function whose doc comment has the marker line."""
    found: dict[str, str] = {}
    for item in header_items(cdef_text):
        if not any(line.startswith(SHORT_CALL_MARKER) for line in item.doc):
            continue
        match = FUNCTION.fullmatch(item.code)
        if match is None:
            raise ShortCallError(
                f"{SHORT_CALL_MARKER!r} marks something that is not a function declaration: "
                f"{item.code or item.doc_text!r}"
            )
        name, params = match.groups()
        if "(*" in params:
            raise ShortCallError(
                f"{name} is marked {SHORT_CALL_MARKER!r} but takes a function pointer: a call "
                "that can call back into Python must release the GIL"
            )
        found[name] = item.code
    if not found:
        raise ShortCallError(f"no declaration in the cdef header is marked {SHORT_CALL_MARKER!r}")
    return found


def check_short_call_source(c_source: str, names: list[str]) -> None:
    """Raises :class:`ShortCallError` unless cffi's generated C has, for each of ``names``, a
    wrapper that calls it between the four names the preamble redefines, after the preamble,
    and nothing else that could release the GIL."""
    problems: list[str] = []
    at = c_source.find(_PREAMBLE_LINE)
    if at < 0 or c_source.count(_PREAMBLE_LINE) != 1:
        problems.append("the preamble is not in the generated C exactly once")
        at = 0
    before, after = c_source[:at], c_source[at:]
    # What the preamble overrides must already be there: Python.h (the GIL macros) and
    # cffi's own errno helpers, both as macros.
    if not re.search(r"^\s*#\s*include\s*<Python\.h>", before, re.MULTILINE):
        problems.append("Python.h is not included before the preamble")
    for helper in ("_cffi_restore_errno", "_cffi_save_errno"):
        if not re.search(rf"^\s*#\s*define\s+{helper}\b", before, re.MULTILINE):
            problems.append(f"cffi no longer #defines {helper} before the preamble")
    wrappers = _split_wrappers(after)
    if sorted(wrappers) != sorted(names):
        problems.append(f"the wrappers are for {sorted(wrappers)}, not for {sorted(names)}")
    for name, body in wrappers.items():
        call = re.escape(name) + r"\([^;]*\);"
        shape = (
            r"Py_BEGIN_ALLOW_THREADS\s+_cffi_restore_errno\(\);\s+"
            rf"\{{\s*(?:result\s*=\s*)?{call}\s*\}}\s+"
            r"_cffi_save_errno\(\);\s+Py_END_ALLOW_THREADS"
        )
        if len(re.findall(shape, body)) != 1:
            problems.append(f"_cffi_f_{name} does not call {name} inside the expected block")
    # The four names must appear after the preamble only inside those blocks (one each per
    # wrapper), and nothing else there may touch the thread state.
    for token in _REDEFINED:
        uses = _uses(token, after) - _uses(token, SHORT_CALL_PREAMBLE)
        if uses != len(wrappers):
            problems.append(f"{token} is used {uses} times after the preamble, not once a wrapper")
    other = sorted(set(_OTHER_THREAD_STATE_CALLS.findall(after)))
    if other:
        problems.append(f"the generated C also calls {', '.join(other)}")
    if problems:
        raise ShortCallError(
            f"cffi {cffi.__version__} generated C that the short-call module "
            f"({SHORT_CALL_MODULE}) cannot rely on: "
            + "; ".join(problems)
            + ". Its wrappers would not keep the GIL as documented. SHORT_CALL_PREAMBLE in "
            "ffi_build.py empties the four names cffi's wrappers put around each C call "
            "(Py_BEGIN_ALLOW_THREADS, _cffi_restore_errno(), _cffi_save_errno(), "
            "Py_END_ALLOW_THREADS). Compare a wrapper in `python ffi_build.py --emit-short "
            "short.c` with cffi's recompiler.py (_generate_cpy_function_decl) and update the "
            "preamble and check_short_call_source() together, or build with the cffi release "
            "that passed before."
        )


def _uses(name: str, text: str) -> int:
    return len(re.findall(rf"\b{name}\b", text))


def _split_wrappers(c_source: str) -> dict[str, str]:
    """``{name: source}`` of every CPython wrapper ``_cffi_f_<name>`` in ``c_source``."""
    starts = list(_WRAPPER_START.finditer(c_source))
    wrappers = {}
    for i, match in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(c_source)
        body = c_source[match.start() : end]
        # The wrapper ends at the first line that closes a top-level block.
        wrappers[match.group(1)] = body[: body.find("\n}\n") + 3]
    return wrappers


def short_call_builder(check: bool = True) -> cffi.FFI:
    """The FFI of the short-call module, its generated C checked first.

    setup.py's ``cffi_modules`` names this function; cffi calls it when the build starts.
    """
    declarations = short_call_declarations(CDEF_HEADER.read_text(encoding="utf-8"))
    short = cffi.FFI()
    short.include(ffibuilder)  # the types (and so the cdata) are the other module's
    short.cdef("\n".join(declarations.values()))
    if not CPYTHON_SPEEDUPS:
        short.set_source(SHORT_CALL_MODULE, BINDING_SOURCE, **BUILD_OPTIONS)
        return short
    short.set_source(SHORT_CALL_MODULE, SHORT_CALL_PREAMBLE + INTEGER_ARGUMENTS, **BUILD_OPTIONS)
    if check:
        with tempfile.TemporaryDirectory(prefix="greeter-ffi-build-") as tmp:
            c_file = Path(tmp) / "short.c"
            # The same generator, on the same input, as the build's own copy of this source.
            short.emit_c_code(str(c_file))
            check_short_call_source(c_file.read_text(encoding="utf-8"), list(declarations))
    return short


def main(argv: list[str]) -> int:
    short = short_call_builder()
    if argv[1:2] == ["--emit-short"] and len(argv) == 3:
        short.emit_c_code(argv[2])
        return 0
    if len(argv) > 1:
        print(__doc__, file=sys.stderr)
        return 2
    ffibuilder.compile(verbose=True)
    short.compile(verbose=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
