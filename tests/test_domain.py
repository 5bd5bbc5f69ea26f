"""The example domain is replaceable: the crate builds without it.

The greeting domain is ``rust/src/greeting.rs`` (the work) with its exports
``rust/src/ffi/greet.rs`` and ``rust/src/ffi/compat.rs`` (the tutorial-compatible greetings).
Everything else (texts, memory, the pool, the boundary's conversions and guard, objects,
diagnostics) is plumbing a new domain reuses, so a copy of the crate with the domain deleted
must pass ``cargo check`` with warnings as errors.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

RUST = Path(__file__).resolve().parent.parent / "rust"

# The domain: its files, and the module declarations that name them.
DOMAIN_FILES = ["src/greeting.rs", "src/ffi/greet.rs", "src/ffi/compat.rs"]
DOMAIN_MODULES = {
    "src/lib.rs": ["pub mod greeting;"],
    "src/ffi/mod.rs": ["pub mod compat;", "pub mod greet;"],
}


def test_the_crate_builds_without_the_greeting_domain(tmp_path: Path) -> None:
    cargo = shutil.which("cargo") or shutil.which(str(Path.home() / ".cargo" / "bin" / "cargo"))
    if cargo is None:
        pytest.skip("cargo is needed to build the crate")
    crate = tmp_path / "rust"
    shutil.copytree(RUST, crate, ignore=shutil.ignore_patterns("target"))
    for name in DOMAIN_FILES:
        (crate / name).unlink()
    for name, lines in DOMAIN_MODULES.items():
        source = (crate / name).read_text()
        for line in lines:
            assert f"\n{line}\n" in source, f"{name} no longer declares {line!r}"
            source = source.replace(f"\n{line}\n", "\n")
        (crate / name).write_text(source)
    env = dict(os.environ, CARGO_TARGET_DIR=str(tmp_path / "target"), RUSTFLAGS="-D warnings")
    done = subprocess.run(
        [cargo, "check", "--lib", "--quiet", "--offline"],
        cwd=crate,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
