"""The committed headers are exactly what cbindgen generates from rust/ now."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _require_cbindgen() -> str:
    path = shutil.which("cbindgen")
    if path is None:
        if os.environ.get("GREETER_REQUIRE_CBINDGEN"):
            pytest.fail("cbindgen is required here (scripts/install-cbindgen.sh)")
        pytest.skip("cbindgen not installed (scripts/install-cbindgen.sh)")
    return path


def test_headers_match_the_crate() -> None:
    _require_cbindgen()
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "header.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_cdef_header_has_no_preprocessor_lines_but_defines() -> None:
    text = (ROOT / "include" / "greeter_cdef.h").read_text()
    directives = [line for line in text.splitlines() if line.startswith("#")]
    assert directives
    assert all(line.startswith("#define GREETER_") for line in directives), directives


def test_the_drift_check_fails_on_a_stale_header(tmp_path: Path) -> None:
    cbindgen = _require_cbindgen()
    stale = tmp_path / "greeter.h"
    stale.write_text((ROOT / "include" / "greeter.h").read_text() + "/* hand edit */\n")
    done = subprocess.run(
        [cbindgen, "--quiet", "--config", "cbindgen.toml", "--output", str(stale), "--verify", "."],
        cwd=ROOT / "rust",
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
