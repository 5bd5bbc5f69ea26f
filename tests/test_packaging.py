"""The installed package: what it ships, its typing stub, and its version handshake."""

from __future__ import annotations

import ast
import keyword
import os
import re
import shutil
import site
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

import greeter
from greeter import _greeter_cffi

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = Path(greeter.__file__).resolve().parent
STUB = ROOT / "greeter" / "_greeter_cffi.pyi"


def test_tests_import_the_package_under_test() -> None:
    """The installed package, or a build tree that PYTHONPATH names explicitly (``setup.py
    build``'s build/lib.*, or the checkout after ``build_ext --inplace``)."""
    named = [Path(p).resolve() for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if PACKAGE.parent in named:
        return
    # A venv may live inside the checkout (.venv-ci does), so the test is not "outside ROOT" but
    # "not ROOT/greeter, and in an installation's site-packages".
    assert not PACKAGE.samefile(ROOT / "greeter"), (
        f"greeter was imported from the source tree ({PACKAGE}); install it and run pytest "
        "(importlib mode keeps the tree off sys.path), or name a build tree in PYTHONPATH"
    )
    installs = {sysconfig.get_path("platlib"), sysconfig.get_path("purelib")}
    installs.add(site.getusersitepackages())
    assert PACKAGE.parent in {Path(p).resolve() for p in installs}, PACKAGE


def test_the_package_ships_library_header_stub_and_marker() -> None:
    for name in ["libgreeter.so", "include/greeter.h", "_greeter_cffi.pyi", "py.typed"]:
        assert (PACKAGE / name).is_file(), name
    assert greeter.library_path() == PACKAGE / "libgreeter.so"
    header = greeter.include_dir() / "greeter.h"
    assert header.read_bytes() == (ROOT / "include" / "greeter.h").read_bytes()
    assert (PACKAGE / "_greeter_cffi.pyi").read_bytes() == STUB.read_bytes()


@pytest.mark.skipif(sys.implementation.name != "cpython", reason="abi3 is CPython's")
def test_the_extension_uses_only_the_limited_api() -> None:
    # cffi names a limited-API build *.abi3.so; that is what makes one cp311-abi3 wheel honest.
    assert _greeter_cffi.__file__ is not None
    assert Path(_greeter_cffi.__file__).name == "_greeter_cffi.abi3.so"


def test_no_toolchain_when_ci_says_so() -> None:
    """.ci/run runs the installed-wheel tests with a PATH that has no cargo and no compiler."""
    if not os.environ.get("GREETER_EXPECT_NO_TOOLCHAIN"):
        pytest.skip("GREETER_EXPECT_NO_TOOLCHAIN is not set")
    found = {tool: shutil.which(tool) for tool in ["cargo", "rustc", "cc", "gcc", "clang"]}
    assert not any(found.values()), found


# --- the typing stub ------------------------------------------------------------------------


def test_the_stub_is_what_the_cdef_header_generates(gen_stub: ModuleType) -> None:
    assert gen_stub.generate() == STUB.read_text(encoding="utf-8"), (
        "greeter/_greeter_cffi.pyi is stale: run python scripts/gen_stub.py"
    )


def _stub_lib_members() -> tuple[dict[str, int | None], dict[str, int]]:
    """The stub's Lib: constants (value or None) and functions (number of parameters)."""
    tree = ast.parse(STUB.read_text(encoding="utf-8"))
    lib_class = next(
        node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "Lib"
    )
    constants: dict[str, int | None] = {}
    functions: dict[str, int] = {}
    for node in lib_class.body:
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            value = node.value.value if isinstance(node.value, ast.Constant) else None
            constants[node.target.id] = value if isinstance(value, int) else None
        elif isinstance(node, ast.FunctionDef):
            functions[node.name] = len(node.args.posonlyargs) + len(node.args.args)
    return constants, functions


def _c_arity(function: object) -> int:
    """The parameter count of a cffi lib function, from the C prototype cffi documents."""
    doc = getattr(function, "__doc__", None)
    assert isinstance(doc, str)
    prototype = doc.splitlines()[0]
    params = prototype[prototype.index("(") + 1 : prototype.rindex(")")]
    # Function-pointer parameters hold commas in their own parentheses.
    depth, count = 0, 1
    for char in params:
        depth += {"(": 1, ")": -1}.get(char, 0)
        count += char == "," and depth == 0
    return 0 if params.strip() in {"", "void"} else count


def test_the_stub_matches_the_compiled_module() -> None:
    """Names, constant values and arities agree between the stub and the built extension."""
    lib = _greeter_cffi.lib
    constants, functions = _stub_lib_members()
    typed = [name for name in dir(lib) if not keyword.iskeyword(name)]
    assert sorted(typed) == sorted([*constants, *functions])
    for name, value in constants.items():
        if value is not None:
            assert getattr(lib, name) == value, name
    for name, arity in functions.items():
        assert _c_arity(getattr(lib, name)) == arity, name


# --- the version handshake -----------------------------------------------------------------


def _other_version(version: str) -> str:
    """A different version string of the same length."""
    other = re.sub(r"\d", "9", version)
    return other if other != version else re.sub(r"\d", "8", version)


def _copy_installation(dest: Path, version: str) -> Path:
    """A copy of the installed package on a new path, without any distribution metadata, its
    embedded version set to ``version``."""
    shutil.copytree(PACKAGE, dest / "greeter", ignore=shutil.ignore_patterns("__pycache__"))
    version_file = dest / "greeter" / "_version.py"
    text = version_file.read_text(encoding="utf-8")
    assert f'__version__ = "{greeter.__version__}"' in text
    version_file.write_text(
        text.replace(f'"{greeter.__version__}"', f'"{version}"'), encoding="utf-8"
    )
    return dest / "greeter"


def _import_from(site: Path) -> subprocess.CompletedProcess[str]:
    code = "import greeter; print(greeter.__version__, greeter.LIBRARY_VERSION, greeter.__file__)"
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=site,
        env=env,
        check=False,
        timeout=60,
    )


def _patch_library_version(library: Path, old: str, new: str) -> None:
    """Rewrites the NUL-terminated version string greeter_version() returns, in place."""
    data = library.read_bytes()
    needle = old.encode() + b"\0"
    assert needle in data, f"{old!r} not found in {library}"
    library.write_bytes(data.replace(needle, new.encode() + b"\0"))


def test_the_version_is_the_crate_version() -> None:
    """rust/Cargo.toml is the version's one source; setup.py embeds it in greeter/_version.py."""
    with (ROOT / "rust" / "Cargo.toml").open("rb") as f:
        crate = tomllib.load(f)["package"]["version"]
    assert greeter.__version__ == greeter.LIBRARY_VERSION == crate
    committed = (ROOT / "greeter" / "_version.py").read_text(encoding="utf-8")
    assert f'__version__ = "{crate}"' in committed, "run python setup.py build_py to refresh it"


def test_a_faithful_copy_of_the_installation_imports(tmp_path: Path) -> None:
    """The control for the refusals below, and the proof that importing needs no distribution
    metadata: the copy has none, imports, and is what loads."""
    _copy_installation(tmp_path, greeter.__version__)
    done = _import_from(tmp_path)
    assert done.returncode == 0, done.stderr
    version, library_version, file = done.stdout.split()
    assert version == library_version == greeter.__version__
    assert Path(file).is_relative_to(tmp_path)


def test_a_library_of_another_version_is_refused(tmp_path: Path) -> None:
    """A stale libgreeter.so beside a newer package: import must fail, naming both versions."""
    other = _other_version(greeter.LIBRARY_VERSION)
    package = _copy_installation(tmp_path, greeter.__version__)
    _patch_library_version(package / "libgreeter.so", greeter.LIBRARY_VERSION, other)
    done = _import_from(tmp_path)
    assert done.returncode != 0
    assert "ImportError" in done.stderr
    assert f"greeter {greeter.__version__} found native library version {other}" in done.stderr
    assert "reinstall greeter" in done.stderr


def test_a_package_of_another_version_is_refused(tmp_path: Path) -> None:
    """The same handshake seen from the other side: a package newer than the library."""
    other = _other_version(greeter.__version__)
    _copy_installation(tmp_path, other)
    done = _import_from(tmp_path)
    assert done.returncode != 0
    assert "ImportError" in done.stderr
    assert f"greeter {other} found native library version {greeter.LIBRARY_VERSION}" in (
        done.stderr
    )


def test_the_stub_generator_types_every_kind_of_declaration(
    gen_stub: ModuleType, tmp_path: Path
) -> None:
    """Generic, not hand-listed: functions, constants, enums and globals of any C types."""
    cdef = tmp_path / "cdef.h"
    cdef.write_text(
        "// a comment\n"
        "#define A_CONST 0x10\n"
        "#define A_NEGATIVE (-3)\n"
        "#define FROM_HEADER ...\n"
        "typedef struct Thing Thing;\n"
        "typedef int32_t Code;\n"
        "typedef enum Colour { RED, GREEN = 4 } Colour;\n"
        "typedef void (*callback_t)(void *user, const char *text);\n"
        "/* block\n comment */\n"
        "extern const uint64_t a_global;\n"
        "Code make(const char *name, char *out, size_t len, Thing **thing);\n"
        "bool check(Colour colour, double ratio, char letter, callback_t cb);\n"
        "void nothing(void);\n"
        "int logf(const char *format, ...);\n"
        "struct Thing *unnamed(int, uint8_t);\n"
        "float lambda(int def, int def_);\n",
        encoding="utf-8",
    )
    stub = gen_stub.generate(cdef)
    expected = [
        "    A_CONST: Final = 16",
        "    A_NEGATIVE: Final = -3",
        "    FROM_HEADER: Final[int]",
        "    RED: Final[int]",
        "    GREEN: Final[int]",
        "    a_global: int",
        "    def make(name: CData | bytes, out: CData, len: int, thing: CData, /) -> int: ...",
        "    def check(colour: int, ratio: float, letter: bytes, cb: CData, /) -> bool: ...",
        "    def nothing() -> None: ...",
        "    def logf(format: CData | bytes, *args: Any) -> int: ...",
        "    def unnamed(arg0: int, arg1: int, /) -> CData: ...",
        "    # lambda: a Python keyword; getattr(lib, 'lambda') reaches it",
    ]
    for line in expected:
        assert line in stub.splitlines(), line
    # An enum's cdata reads back as its enumerator's name: ffi.string may return str.
    assert "def string(self, cdata: CData, maxlen: int = -1) -> bytes | str: ..." in stub


def test_the_stub_generator_refuses_what_cdef_would_not_take(
    gen_stub: ModuleType, tmp_path: Path
) -> None:
    for text in ['#define NAME "text"\n', "#include <stdint.h>\n", "int f(int x\n"]:
        cdef = tmp_path / "bad.h"
        cdef.write_text(text, encoding="utf-8")
        with pytest.raises(gen_stub.StubError):
            gen_stub.generate(cdef)


# --- building from source: setup.py stops early, with one line ------------------------------


def _run_setup_py(prelude: str, *args: str) -> subprocess.CompletedProcess[str]:
    """setup.py run as ``python setup.py ARGS`` after ``prelude`` (which patches the world)."""
    code = (
        "import runpy, sys\n"
        f"{prelude}\n"
        f"sys.argv = ['setup.py', *{list(args)!r}]\n"
        f"runpy.run_path({str(ROOT / 'setup.py')!r}, run_name='__main__')\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )


def test_setup_py_stops_at_once_on_another_os() -> None:
    done = _run_setup_py("sys.platform = 'darwin'", "build")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        "greeter-cffi: builds and runs on Linux only, not darwin (see README, Platforms); "
        "nothing was built\n"
    )


def test_setup_py_stops_at_once_on_a_free_threaded_cpython() -> None:
    prelude = (
        "import sysconfig\n"
        "real = sysconfig.get_config_var\n"
        "sysconfig.get_config_var = lambda name: 1 if name == 'Py_GIL_DISABLED' else real(name)"
    )
    done = _run_setup_py(prelude, "build")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        "greeter-cffi: free-threaded CPython is not supported yet: greeter is built for "
        "CPython's limited API (abi3), which a free-threaded build cannot load, and its Python "
        "side has not been made and tested safe without the GIL (see README, Platforms); "
        "nothing was built\n"
    )


def test_setup_py_names_the_missing_build_requirements_in_one_line() -> None:
    prelude = (
        "import importlib.metadata as m\n"
        "real = m.version\n"
        "def version(name):\n"
        "    if name == 'cffi': raise m.PackageNotFoundError(name)\n"
        "    return '65.5.0' if name == 'setuptools' else real(name)\n"
        "m.version = version"
    )
    done = _run_setup_py(prelude, "build")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == (
        "greeter-cffi: python setup.py needs setuptools>=77, cffi>=1.17 first: "
        'python -m pip install "setuptools>=77" "cffi>=1.17"\n'
    )


def test_the_source_tree_package_says_it_is_not_built(tmp_path: Path) -> None:
    """A checkout's greeter/ has no extension (builds never write into it): importing it must
    say so and how to reach the installed package, not fail deep inside the binding."""
    shutil.copytree(ROOT / "greeter", tmp_path / "greeter", ignore=shutil.ignore_patterns("*.so"))
    done = subprocess.run(
        [sys.executable, "-c", "import greeter"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == (
        f"ImportError: greeter at {tmp_path / 'greeter'} has no compiled extension: this is a "
        "source tree; import the installed package (run from another directory, or `python -P`), "
        "or build here with `python setup.py build_ext --inplace`"
    )
