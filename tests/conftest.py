"""Shared fixtures. The tests import the installed greeter (pytest runs in importlib mode)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

import greeter


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
