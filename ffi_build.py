"""cffi API-mode build of greeter's native module, ``greeter._greeter_cffi``.

The declarations come from include/greeter_cdef.h, which cbindgen generates from rust/ (never a
hand copy). The generated C source includes include/greeter.h, the public header from the same
crate, so the C compiler checks every cdef declaration against it.

The extension links against the Rust cdylib (rust/target/release/libgreeter.so), which is shipped
next to it in the package and found through an ``$ORIGIN`` rpath. One copy of the Rust state
(live-string counter, worker pool) then serves both this module and ctypes users of
``greeter.library_path()``; linking the staticlib instead would give each its own copy.

cffi compiles the module against CPython's limited API (``_greeter_cffi.abi3.so``), which is
what lets setup.py tag the wheel ``cp311-abi3``. The linker strips it unless ``GREETER_STRIP=0``.
"""

from __future__ import annotations

import os
from pathlib import Path

import cffi

ROOT = Path(__file__).resolve().parent
INCLUDE_DIR = ROOT / "include"
RUST_TARGET_DIR = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "rust" / "target"))
RUST_LIB_DIR = RUST_TARGET_DIR / "release"
# Rust cdylibs have no SONAME: the DT_NEEDED entry is "libgreeter.so", found beside us.
LINK_ARGS = ["-Wl,-rpath,$ORIGIN"]
if os.environ.get("GREETER_STRIP", "1") != "0":
    LINK_ARGS.append("-Wl,--strip-all")

ffibuilder = cffi.FFI()
ffibuilder.cdef((INCLUDE_DIR / "greeter_cdef.h").read_text(encoding="utf-8"))
ffibuilder.set_source(
    "greeter._greeter_cffi",
    '#include "greeter.h"',
    include_dirs=[str(INCLUDE_DIR)],
    library_dirs=[str(RUST_LIB_DIR)],
    libraries=["greeter"],
    extra_link_args=LINK_ARGS,
    # A cdef that disagrees with greeter.h must stop the build, not warn.
    extra_compile_args=[
        "-Werror=incompatible-pointer-types",
        "-Werror=implicit-function-declaration",
    ],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
