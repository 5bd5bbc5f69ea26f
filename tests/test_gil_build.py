"""The short-call module's build: the set read from the header, and the check of cffi's C.

ffi_build.py empties four names in the C that cffi generates for ``_greeter_cffi_short``; these
tests show that its build-time check accepts the C this cffi generates and refuses, with a
message that says where to look, the ways a future cffi could change that C.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

import greeter
from greeter import _greeter_cffi_short

ROOT = Path(__file__).resolve().parent.parent
SHORT_STUB = ROOT / "greeter" / "_greeter_cffi_short.pyi"
# The checks of the C that cffi generates for the short-call module: CPython's C (PyPy's cffi
# generates other C, and the build compiles none of the preamble there: CPYTHON_SPEEDUPS).
cpython_c = pytest.mark.skipif(
    sys.implementation.name != "cpython",
    reason="the short-call preamble is compiled for CPython only (ffi_build.CPYTHON_SPEEDUPS)",
)


@pytest.fixture(scope="module")
def names(ffi_build: ModuleType) -> list[str]:
    text = (ROOT / "include" / "greeter_cdef.h").read_text(encoding="utf-8")
    return list(ffi_build.short_call_declarations(text))


@pytest.fixture(scope="module")
def generated(ffi_build: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The C source of the short-call module, as this cffi generates it."""
    c_file = tmp_path_factory.mktemp("short") / "short.c"
    ffi_build.short_call_builder(check=False).emit_c_code(str(c_file))
    return c_file.read_text(encoding="utf-8")


# --- the set ----------------------------------------------------------------------------------


def test_the_set_is_the_marked_declarations_and_the_module_holds_it(names: list[str]) -> None:
    assert {"greeter_add_numbers", "greeter_greet_into", "greeter_debug_spin"} <= set(names)
    assert sorted(dir(_greeter_cffi_short.lib)) == sorted(names)


def test_a_marker_on_anything_but_a_plain_function_stops_the_build(ffi_build: ModuleType) -> None:
    error = ffi_build.ShortCallError
    with pytest.raises(error, match="not a function declaration"):
        ffi_build.short_call_declarations("// Short call: a constant\n#define X 1\n")
    with pytest.raises(error, match="takes a function pointer"):
        ffi_build.short_call_declarations("// Short call: x\nvoid f(void (*cb)(char*));\n")
    with pytest.raises(error, match="no declaration"):
        ffi_build.short_call_declarations("// A call.\nint f(int a);\n")
    # The marker must start its line: a mention elsewhere in a comment does not count.
    found = ffi_build.short_call_declarations(
        "// See `Short call:` below.\nint f(int a);\n\n// Text.\n//\n// Short call: yes.\n"
        "int64_t g(int32_t a,\n          int32_t b);\n"
    )
    assert found == {"g": "int64_t g(int32_t a, int32_t b);"}


def test_the_short_stub_is_fresh_and_shipped(gen_stub: ModuleType) -> None:
    assert gen_stub.generate_short() == SHORT_STUB.read_text(encoding="utf-8"), (
        "greeter/_greeter_cffi_short.pyi is stale: run python scripts/gen_stub.py"
    )
    shipped = Path(greeter.__file__).parent / SHORT_STUB.name
    assert shipped.read_bytes() == SHORT_STUB.read_bytes()


# --- the check of cffi's generated C ----------------------------------------------------------


@cpython_c
def test_this_cffi_generates_what_the_check_expects(
    ffi_build: ModuleType, generated: str, names: list[str]
) -> None:
    ffi_build.check_short_call_source(generated, names)
    # What the check relies on, spelled out: every wrapper calls its export between the four
    # redefined names, after the preamble.
    preamble = generated.index("the short-call preamble")
    for name in names:
        wrapper = generated.index(f"\n_cffi_f_{name}(PyObject *self")
        assert wrapper > preamble
        block = re.search(
            r"Py_BEGIN_ALLOW_THREADS\s+_cffi_restore_errno\(\);\s+\{ (result = )?"
            + name
            + r"\(.*?\); \}\s+_cffi_save_errno\(\);\s+Py_END_ALLOW_THREADS",
            generated[wrapper:],
        )
        assert block is not None, name


def _after_preamble(edit: Callable[[str], str]) -> Callable[[str], str]:
    def apply(c_source: str) -> str:
        end = "/* greeter: end of the short-call preamble. */\n"
        at = c_source.index(end) + len(end)
        return c_source[:at] + edit(c_source[at:])

    return apply


def _preamble_first(c_source: str) -> str:
    start = c_source.index("/* greeter: the short-call preamble")
    end = c_source.index("/****", start)
    return c_source[start:end] + c_source[:start] + c_source[end:]


# Ways a cffi release could change the generated C, each of which would make the preamble
# silently useless (the GIL released anyway) or wrong.
CFFI_CHANGES: dict[str, tuple[Callable[[str], str], str]] = {
    "wrappers release the GIL with direct calls": (
        _after_preamble(
            lambda s: s.replace(
                "Py_BEGIN_ALLOW_THREADS", "{ PyThreadState *_save = PyEval_SaveThread();"
            ).replace("Py_END_ALLOW_THREADS", "PyEval_RestoreThread(_save); }")
        ),
        "also calls PyEval_RestoreThread, PyEval_SaveThread",
    ),
    "the errno helpers become functions": (
        lambda s: re.sub(r"#define _cffi_restore_errno\b", "/* gone */", s),
        "no longer #defines _cffi_restore_errno",
    ),
    "the preamble lands before Python.h": (
        _preamble_first,
        "Python.h is not included before the preamble",
    ),
    "the call moves out of the bracket": (
        _after_preamble(
            lambda s: s.replace("  _cffi_save_errno();\n  Py_END_ALLOW_THREADS\n", "").replace(
                "  Py_BEGIN_ALLOW_THREADS\n  _cffi_restore_errno();\n",
                "  Py_BEGIN_ALLOW_THREADS\n  _cffi_restore_errno();\n  _cffi_save_errno();\n"
                "  Py_END_ALLOW_THREADS\n",
            )
        ),
        "does not call greeter_greet_into inside the expected block",
    ),
    "a second bracket appears": (
        _after_preamble(lambda s: s.replace("(void)self;", "Py_BEGIN_ALLOW_THREADS (void)self;")),
        "Py_BEGIN_ALLOW_THREADS is used",
    ),
    "wrappers are renamed": (
        _after_preamble(lambda s: s.replace("_cffi_f_", "_cffi_wrap_")),
        "the wrappers are for []",
    ),
}


@cpython_c
@pytest.mark.parametrize("change", sorted(CFFI_CHANGES))
def test_a_cffi_that_generates_other_c_stops_the_build_with_directions(
    ffi_build: ModuleType, generated: str, names: list[str], change: str
) -> None:
    edit, problem = CFFI_CHANGES[change]
    changed = edit(generated)
    assert changed != generated
    with pytest.raises(ffi_build.ShortCallError) as caught:
        ffi_build.check_short_call_source(changed, names)
    message = str(caught.value)
    assert problem in message
    for direction in ["SHORT_CALL_PREAMBLE", "ffi_build.py", "--emit-short", "recompiler.py"]:
        assert direction in message


@cpython_c
def test_the_builder_checks_the_c_it_generates(
    ffi_build: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    ffi_build.short_call_builder()  # this cffi: passes
    # A preamble that lost its marker line is what the check would see if cffi stopped
    # inserting set_source()'s text: the builder refuses to hand cffi that module.
    preamble = ffi_build.SHORT_CALL_PREAMBLE.replace("short-call preamble", "preamble")
    monkeypatch.setattr(ffi_build, "SHORT_CALL_PREAMBLE", preamble)
    with pytest.raises(ffi_build.ShortCallError, match="not in the generated C exactly once"):
        ffi_build.short_call_builder()


def test_the_cpython_speedups_are_compiled_for_cpython_only(
    ffi_build: ModuleType, tmp_path: Path
) -> None:
    # The build's one choice: CPython gets the int32_t rule in C and the short-call preamble;
    # any other interpreter (PyPy) gets cffi's plain modules, with no CPython C-API trick.
    cpython = sys.implementation.name == "cpython"
    assert ffi_build.CPYTHON_SPEEDUPS is cpython
    sources = {}
    for name, builder in [
        ("main", ffi_build.ffibuilder),
        ("short", ffi_build.short_call_builder(check=False)),
    ]:
        c_file = tmp_path / f"{name}.c"
        builder.emit_c_code(str(c_file))
        sources[name] = c_file.read_text(encoding="utf-8")
    for text in sources.values():
        assert ("greeter: int32_t arguments take int only" in text) is cpython
        assert ("#define _cffi_to_c_i32 greeter_int_to_c_i32" in text) is cpython
        assert f"#define GREETER_BINDING_INT_ONLY {int(cpython)}" in text
    assert ("greeter: the short-call preamble" in sources["short"]) is cpython


# --- the preamble under the preprocessor -------------------------------------------------------

CC = os.environ.get("CC", "cc").split()[0]


@pytest.mark.skipif(shutil.which(CC) is None, reason="no C compiler (an installed-wheel run)")
@pytest.mark.parametrize("free_threaded", [False, True])
def test_the_preamble_empties_the_bracket_unless_free_threaded(
    ffi_build: ModuleType, tmp_path: Path, free_threaded: bool
) -> None:
    # CPython's and cffi's definitions, shaped as they are; then the preamble; then a wrapper's
    # bracket. On a free-threaded build (no GIL) the preamble changes nothing.
    source = tmp_path / "bracket.c"
    source.write_text(
        "#define Py_BEGIN_ALLOW_THREADS { PyThreadState *_save = PyEval_SaveThread();\n"
        "#define Py_END_ALLOW_THREADS PyEval_RestoreThread(_save); }\n"
        "#define _cffi_restore_errno ((void(*)(void))_cffi_exports[13])\n"
        "#define _cffi_save_errno ((void(*)(void))_cffi_exports[14])\n"
        + ffi_build.SHORT_CALL_PREAMBLE.replace('#include "greeter.h"', "")
        + "BRACKET: Py_BEGIN_ALLOW_THREADS _cffi_restore_errno(); { f(); } _cffi_save_errno();"
        " Py_END_ALLOW_THREADS\n"
    )
    flags = ["-DPy_GIL_DISABLED=1"] if free_threaded else []
    done = subprocess.run(
        [CC, "-E", "-P", *flags, str(source)], capture_output=True, text=True, check=True
    )
    bracket = " ".join(done.stdout.split("BRACKET:")[1].split())
    if free_threaded:
        assert bracket == (
            "{ PyThreadState *_save = PyEval_SaveThread(); ((void(*)(void))_cffi_exports[13])(); "
            "{ f(); } ((void(*)(void))_cffi_exports[14])(); PyEval_RestoreThread(_save); }"
        )
    else:
        assert bracket == "{ ((void)0); { f(); } ((void)0); }"
