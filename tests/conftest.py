"""Shared fixtures. The tests import the installed greeter (pytest runs in importlib mode), or
the build tree that PYTHONPATH names."""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import greeter

# Tests run their subprocesses from temporary directories: a relative PYTHONPATH (say
# PYTHONPATH=build/lib.linux-x86_64-cpython-311 after `python setup.py build`) must keep naming
# the same build tree there.
if os.environ.get("PYTHONPATH"):
    os.environ["PYTHONPATH"] = os.pathsep.join(
        os.path.abspath(p) for p in os.environ["PYTHONPATH"].split(os.pathsep) if p
    )


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """Fails the test if it leaves strings that Rust handed out and never got back."""
    gc.collect()
    before = greeter.live_strings()
    yield
    gc.collect()
    assert greeter.live_strings() == before


@pytest.fixture(autouse=True)
def _outside_the_source_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Subprocesses (``python -m greeter``, ``python -c``) put their working directory on
    sys.path; run them away from the checkout so they import the installed package too."""
    monkeypatch.chdir(tmp_path)
