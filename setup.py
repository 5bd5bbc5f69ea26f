"""Build greeter-cffi: cargo builds the Rust library, cffi compiles the binding against it.

``pip install .``, ``pip wheel .``, ``python setup.py build`` and ``python setup.py build_ext
--inplace`` all run cargo (release) first, then cffi's build_ext for every module that
``cffi_modules`` declares, then copy the cdylib and the public header into the built package, so
that ``greeter.library_path()`` and ``greeter.include_dir()`` point at the very build the
binding uses. No cbindgen is needed: the headers in include/ are committed.

Where the build goes: a build through pip or ``python -m build`` (PEP 517) writes nothing into
the source tree: cargo's target directory, setuptools' build directory and the egg-info go to
a cache directory outside it (``$GREETER_BUILD_DIR``, by default one per checkout under
``$XDG_CACHE_HOME/greeter-cffi/``, so a second ``pip install .`` is incremental; for a tree in
the temporary directory, a directory removed when the build ends); a set ``CARGO_TARGET_DIR``
still wins for cargo. ``python setup.py build`` builds into the tree as it
always has (``build/lib*/``, ``rust/target/``), and ``build_ext --inplace`` makes the checkout
itself the build tree: both are asked for by name.

The version is written into the built ``greeter/_version.py``, from rust/Cargo.toml, so a
build tree (``build/lib*/`` or an in-place build) imports without distribution metadata;
``python setup.py build`` and ``build_ext --inplace`` also refresh the committed copy.

The wheel is tagged ``cp311-abi3``: cffi compiles the extension against CPython's limited API
(it is named ``_greeter_cffi.abi3.so``) and the Rust library does not touch Python at all, so
one wheel serves CPython 3.11 and every later version. The shipped libraries are stripped of
symbol tables and debug info (``GREETER_STRIP=0`` keeps them, for profiling or debugging).

``GREETER_ZIG_GLIBC=2.17`` builds for an older glibc than this machine's: zig (the ``ziglang``
package) becomes the C compiler and linker of every cffi extension, and ``cargo zigbuild``
(the ``cargo-zigbuild`` package) links the Rust cdylib against glibc 2.17, so that
``auditwheel repair --plat manylinux2014_x86_64`` accepts the wheel (``make manylinux``).
"""

from __future__ import annotations

import os
import platform
import sys
import sysconfig
from pathlib import Path

DIST = "greeter-cffi"
ROOT = Path(__file__).resolve().parent


def _stop(message: str) -> None:
    """One line on stderr and a non-zero exit: a build that cannot work says so at once."""
    print(f"{DIST}: {message}", file=sys.stderr)
    raise SystemExit(1)


if sys.platform != "linux":
    _stop(
        f"builds and runs on Linux only, not {sys.platform} (see README, Platforms); "
        "nothing was built"
    )
if sys.version_info < (3, 11):  # noqa: UP036 (setup.py may be run by any python3)
    _stop(f"needs CPython 3.11 or later, not {platform.python_version()}")

if sysconfig.get_config_var("Py_GIL_DISABLED"):
    _stop(
        "free-threaded CPython is not supported yet: greeter is built for CPython's limited API "
        "(abi3), which a free-threaded build cannot load, and its Python side has not been "
        "made and tested safe without the GIL (see README, Platforms); nothing was built"
    )

import tomllib  # noqa: E402 (3.11+: after the version check, which must work on any Python)
from importlib import metadata  # noqa: E402


def _release(version: str) -> tuple[int, ...]:
    numbers = []
    for part in version.split("."):
        digits = "".join(c for c in part if c.isdigit()) if part[:1].isdigit() else ""
        if not digits:
            break
        numbers.append(int(digits))
    return tuple(numbers)


def missing_build_requirements() -> list[str]:
    """pyproject's [build-system] requirements that this interpreter lacks.

    pip provides them in an isolated environment; ``python setup.py ...`` runs with whatever
    the environment has (a fresh venv has an old setuptools and no cffi)."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        requires: list[str] = tomllib.load(f)["build-system"]["requires"]
    missing = []
    for requirement in requires:
        name, _, minimum = requirement.partition(">=")
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            missing.append(requirement)
            continue
        if _release(installed) < _release(minimum):
            missing.append(requirement)
    return missing


if __name__ == "__main__":
    _missing = missing_build_requirements()
    if _missing:
        _quoted = " ".join(f'"{r}"' for r in _missing)
        _stop(f"python setup.py needs {', '.join(_missing)} first: python -m pip install {_quoted}")

import atexit  # noqa: E402
import hashlib  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402

from setuptools import setup  # noqa: E402
from setuptools.command.build_ext import build_ext  # noqa: E402
from setuptools.command.build_py import build_py  # noqa: E402
from setuptools.errors import SetupError  # noqa: E402

PACKAGE = "greeter"
CARGO_TOML = ROOT / "rust" / "Cargo.toml"


def out_of_tree_build_dir() -> Path | None:
    """Where a PEP 517 build (pip, ``python -m build``) puts everything it makes, or None for
    ``python setup.py ...``, which builds in the tree (module docstring). setuptools' PEP 517
    backend is the one that imports ``setuptools.build_meta`` before it runs this file."""
    if "setuptools.build_meta" not in sys.modules:
        return None
    chosen = os.environ.get("GREETER_BUILD_DIR")
    if chosen:
        return Path(chosen).resolve()
    if ROOT.is_relative_to(Path(tempfile.gettempdir()).resolve()):
        # A scratch tree (a CI step's, a test's) is built once: a cache kept for it would only
        # grow, so its build directory goes with this process.
        scratch = Path(tempfile.mkdtemp(prefix=f"{DIST}-build-"))
        atexit.register(shutil.rmtree, scratch, ignore_errors=True)
        return scratch
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    checkout = hashlib.sha256(str(ROOT).encode()).hexdigest()[:12]
    return cache / DIST / f"{ROOT.name}-{checkout}"


BUILD_DIR = out_of_tree_build_dir()
DEFAULT_TARGET_DIR = BUILD_DIR / "cargo" if BUILD_DIR else ROOT / "rust" / "target"
TARGET_DIR = Path(os.environ.get("CARGO_TARGET_DIR", DEFAULT_TARGET_DIR))
HEADER = ROOT / "include" / f"{PACKAGE}.h"
VERSION_FILE = Path(PACKAGE, "_version.py")
VERSION_TEMPLATE = '''\
"""The package version, written by setup.py from rust/Cargo.toml at build time (never edit it
by hand), so that an installation and a build tree alike know it without distribution metadata.
The Rust library reports its own through ``greeter_version()``; ``greeter._core`` refuses a
library whose version differs."""

__version__ = "{version}"
'''
# GREETER_ZIG_GLIBC=2.17: link everything against that glibc with zig (module docstring).
ZIG_GLIBC = os.environ.get("GREETER_ZIG_GLIBC", "")
RUST_TRIPLE = f"{platform.machine()}-unknown-linux-gnu"
# Flags of an interpreter's own build that zig's linker refuses, dropped when zig links: Debian's
# PyPy links extensions with -Bsymbolic-functions, which changes nothing for a module whose one
# export is its init function.
ZIG_REFUSES = frozenset(["-Wl,-Bsymbolic-functions"])
CDYLIB = (
    TARGET_DIR / f"{RUST_TRIPLE}" / "release" / f"lib{PACKAGE}.so"
    if ZIG_GLIBC
    else TARGET_DIR / "release" / f"lib{PACKAGE}.so"
)

INSTALL_HINTS = {
    "cargo": "install Rust from https://rustup.rs and retry (or install a prebuilt wheel)",
    "cc": "install a C compiler (for example `apt-get install gcc`) and retry",
    "cargo-zigbuild": "GREETER_ZIG_GLIBC needs `python -m pip install cargo-zigbuild ziglang`",
}


def crate_version() -> str:
    """The version: Cargo.toml is its one source (greeter_version() returns the same)."""
    with CARGO_TOML.open("rb") as f:
        version: str = tomllib.load(f)["package"]["version"]
        return version


def write_version_file(path: Path) -> None:
    """greeter/_version.py with the crate's version; rewritten only when it differs."""
    text = VERSION_TEMPLATE.format(version=crate_version())
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


def tool_path() -> str:
    """PATH, with this interpreter's scripts directory first: tools pip installed beside it
    (cargo-zigbuild, ziglang's python -m) count even when its venv is not activated."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def require(tool: str, what: str) -> str:
    path = shutil.which(tool, path=tool_path())
    if path is None:
        hint = INSTALL_HINTS.get(tool, INSTALL_HINTS["cc"])
        raise SetupError(f"{DIST}: {what} ({tool!r}) was not found on PATH; {hint}")
    return path


def strip_enabled() -> bool:
    """Whether to strip the shipped libraries: yes unless ``GREETER_STRIP=0``."""
    return os.environ.get("GREETER_STRIP", "1") != "0"


def zig_cc() -> list[str]:
    """zig's C compiler, targeting glibc ZIG_GLIBC, from the ziglang package."""
    try:
        metadata.version("ziglang")
    except metadata.PackageNotFoundError:
        raise SetupError(f"{DIST}: {INSTALL_HINTS['cargo-zigbuild']}") from None
    return [
        sys.executable,
        "-m",
        "ziglang",
        "cc",
        "-target",
        f"{platform.machine()}-linux-gnu.{ZIG_GLIBC}",
    ]


class BuildPyWithVersion(build_py):
    """Copies the package with a _version.py that matches rust/Cargo.toml."""

    def run(self) -> None:
        built_package = Path(self.build_lib) / PACKAGE
        if BUILD_DIR is not None and built_package.is_dir():
            # The cache outlives this build: a module since removed from the tree must not
            # reach the wheel from an earlier build's copy.
            shutil.rmtree(built_package)
        super().run()
        write_version_file(built_package / VERSION_FILE.name)
        if BUILD_DIR is None:
            write_version_file(ROOT / VERSION_FILE)


class BuildRustThenCffi(build_ext):
    """cffi wraps this class; cargo must run before its run() compiles and links."""

    def run(self) -> None:
        cargo = require("cargo", "the Rust toolchain")
        env = dict(os.environ)
        if ZIG_GLIBC:
            zigbuild = require("cargo-zigbuild", "cargo-zigbuild")
            # cargo-zigbuild runs `python3 -m ziglang` when no zig is on PATH: this python's.
            env["PATH"] = tool_path()
            cmd = [zigbuild, "zigbuild", "--target", f"{RUST_TRIPLE}.{ZIG_GLIBC}"]
        else:
            require(os.environ.get("CC", "cc").split()[0], "a C compiler")
            cmd = [cargo, "build"]
        cmd += ["--release", "--locked", "--manifest-path", str(CARGO_TOML)]
        cmd += ["--target-dir", str(TARGET_DIR)]
        if strip_enabled():
            # The dynamic symbol table (the exported C API) stays; .symtab and debug info go.
            env.setdefault("CARGO_PROFILE_RELEASE_STRIP", "symbols")
        print(f"{DIST}:", " ".join(cmd), flush=True)
        if subprocess.run(cmd, env=env, check=False).returncode != 0:
            raise SetupError(f"{DIST}: cargo build failed; see its output above")
        if ZIG_GLIBC:
            # Objects and extensions left in build/ by the host compiler must not be reused.
            self.force = True
        super().run()  # cffi generates the C source, then build_extensions() below
        # In place, the checkout is the build tree; otherwise only build_lib gets the files.
        build_root = ROOT if self.inplace else Path(self.build_lib)
        if self.inplace:
            write_version_file(ROOT / VERSION_FILE)
        self.ship_native_files(build_root / PACKAGE)

    @staticmethod
    def ship_native_files(dest: Path) -> None:
        """The cdylib (for ctypes users and the extension's $ORIGIN rpath) and the header."""
        (dest / "include").mkdir(parents=True, exist_ok=True)
        shutil.copy2(CDYLIB, dest / CDYLIB.name)
        shutil.copy2(HEADER, dest / "include" / HEADER.name)

    def build_extensions(self) -> None:
        # The interpreter's link flags may carry an rpath to its own lib directory (pyenv's do),
        # which would be searched for libgreeter.so before $ORIGIN: keep only ffi_build's.
        linker = self.compiler.linker_so
        self.compiler.linker_so = [arg for arg in linker if not arg.startswith("-Wl,-rpath,")]
        if ZIG_GLIBC:
            # Whatever compiler the interpreter was built with, zig replaces it (same flags).
            zig = zig_cc()
            for name in ["compiler", "compiler_so", "linker_so"]:
                flags = [f for f in getattr(self.compiler, name)[1:] if f not in ZIG_REFUSES]
                setattr(self.compiler, name, zig + flags)
        for ext in self.extensions:
            # Link against the cdylib this build just made (and ships), whatever the mode.
            ext.library_dirs = [str(CDYLIB.parent), *ext.library_dirs]
        super().build_extensions()


# A PEP 517 build keeps its build directory and egg-info out of the tree (module docstring).
OUT_OF_TREE_OPTIONS = (
    {
        "build": {"build_base": str(BUILD_DIR / "setuptools")},
        "egg_info": {"egg_base": str(BUILD_DIR)},
    }
    if BUILD_DIR
    else {}
)
if BUILD_DIR:
    BUILD_DIR.mkdir(parents=True, exist_ok=True)

setup(
    version=crate_version(),
    # The second module keeps the GIL for the short calls; ffi_build.py explains it.
    cffi_modules=["ffi_build.py:ffibuilder", "ffi_build.py:short_call_builder"],
    cmdclass={"build_py": BuildPyWithVersion, "build_ext": BuildRustThenCffi},
    # One wheel for CPython >= 3.11: the extension uses only the limited API (abi3).
    options={"bdist_wheel": {"py_limited_api": "cp311"}, **OUT_OF_TREE_OPTIONS},
)
