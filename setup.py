"""Build greeter: cargo builds the Rust library, cffi compiles the binding against it.

``pip install .``, ``pip wheel .`` and ``python setup.py build`` all run cargo (release) first,
then cffi's build_ext, then copy the cdylib and the public header into the package, so that
``greeter.library_path()`` and ``greeter.include_dir()`` point at the very build the binding
uses. No cbindgen is needed: the headers in include/ are committed.

The wheel is tagged ``cp311-abi3``: cffi compiles the extension against CPython's limited API
(it is named ``_greeter_cffi.abi3.so``) and the Rust library does not touch Python at all, so
one wheel serves CPython 3.11 and every later version. The shipped libraries are stripped of
symbol tables and debug info (``GREETER_STRIP=0`` keeps them, for profiling or debugging).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext
from setuptools.errors import SetupError

ROOT = Path(__file__).resolve().parent
CARGO_TOML = ROOT / "rust" / "Cargo.toml"
TARGET_DIR = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "rust" / "target"))
CDYLIB = TARGET_DIR / "release" / "libgreeter.so"
HEADER = ROOT / "include" / "greeter.h"


def crate_version() -> str:
    """The version: Cargo.toml is its one source (greeter_version() returns the same)."""
    with CARGO_TOML.open("rb") as f:
        version: str = tomllib.load(f)["package"]["version"]
        return version


def require(tool: str, what: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise SetupError(f"greeter: {what} ({tool!r}) was not found on PATH; {INSTALL_HINTS[tool]}")
    return path


INSTALL_HINTS = {
    "cargo": "install Rust from https://rustup.rs and retry (or install a prebuilt wheel)",
    "cc": "install a C compiler (for example `apt-get install gcc`) and retry",
}


def strip_enabled() -> bool:
    """Whether to strip the shipped libraries: yes unless ``GREETER_STRIP=0``."""
    return os.environ.get("GREETER_STRIP", "1") != "0"


class BuildRustThenCffi(build_ext):
    """cffi wraps this class; cargo must run before its run() compiles and links."""

    def run(self) -> None:
        cargo = require("cargo", "the Rust toolchain")
        require(os.environ.get("CC", "cc").split()[0], "a C compiler")
        cmd = [cargo, "build", "--release", "--locked", "--manifest-path", str(CARGO_TOML)]
        env = dict(os.environ)
        if strip_enabled():
            # The dynamic symbol table (the exported C API) stays; .symtab and debug info go.
            env.setdefault("CARGO_PROFILE_RELEASE_STRIP", "symbols")
        print("greeter:", " ".join(cmd), flush=True)
        if subprocess.run(cmd, env=env, check=False).returncode != 0:
            raise SetupError("greeter: cargo build failed; see its output above")
        super().run()  # cffi generates the C source, then build_extensions() below
        package_dir = ROOT / "greeter" if self.inplace else Path(self.build_lib) / "greeter"
        self.ship_native_files(package_dir)
        if not self.inplace and (ROOT / ".git").exists():
            # A git checkout: `python -m greeter` run from its root imports ./greeter (the
            # working directory comes first on sys.path), so give that copy the same build.
            # The files are ignored by git and excluded from the sdist.
            self.ship_native_files(ROOT / "greeter")
            for ext in self.extensions:
                built = Path(self.get_ext_fullpath(ext.name))
                shutil.copy2(built, ROOT / "greeter" / built.name)

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
        super().build_extensions()


if __name__ == "__main__" or "setuptools" in sys.modules:
    setup(
        version=crate_version(),
        # The second module keeps the GIL for the short calls; ffi_build.py explains it.
        cffi_modules=["ffi_build.py:ffibuilder", "ffi_build.py:short_call_builder"],
        cmdclass={"build_ext": BuildRustThenCffi},
        # One wheel for CPython >= 3.11: the extension uses only the limited API (abi3).
        options={"bdist_wheel": {"py_limited_api": "cp311"}},
    )
