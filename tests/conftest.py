"""Shared fixtures. The tests import the installed greeter (pytest runs in importlib mode), or
the build tree that PYTHONPATH names."""

from __future__ import annotations

import gc
import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

import greeter
from greeter._greeter_cffi import ffi, lib

ROOT = Path(__file__).resolve().parent.parent

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
def _thread_status_taken() -> None:
    """Takes the failures earlier tests' raw hot-path calls left on this thread (a thread keeps
    those not taken yet, greeter_status_take_thread), so that each test starts with none."""
    status = ffi.new("GreeterStatus *")
    for _ in range(lib.GREETER_THREAD_FAILURES_KEPT):
        lib.greeter_status_take_thread(status)
        if status.code == lib.GREETER_OK:
            break
    lib.greeter_status_clear(status)


@pytest.fixture(autouse=True)
def _outside_the_source_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Subprocesses (``python -m greeter``, ``python -c``) put their working directory on
    sys.path; run them away from the checkout so they import the installed package too."""
    monkeypatch.chdir(tmp_path)


def _checkout_script(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while decorating
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def ffi_build() -> ModuleType:
    """The checkout's ffi_build.py: the cffi builders and the checks they run."""
    return _checkout_script("ffi_build", ROOT / "ffi_build.py")


@pytest.fixture(scope="session")
def gen_stub() -> ModuleType:
    """The checkout's scripts/gen_stub.py: the typing stubs' generator."""
    return _checkout_script("gen_stub", ROOT / "scripts" / "gen_stub.py")


@pytest.fixture(scope="session")
def bench() -> ModuleType:
    """The checkout's benchmarks/bench.py, with workload.py (which it imports) loaded first."""
    _checkout_script("workload", ROOT / "benchmarks" / "workload.py")
    return _checkout_script("bench", ROOT / "benchmarks" / "bench.py")


@pytest.fixture(scope="session")
def check_patch() -> ModuleType:
    """The checkout's examples/add-a-function/check_patch.py: applies and counts a patch."""
    return _checkout_script("check_patch", ROOT / "examples" / "add-a-function" / "check_patch.py")


@pytest.fixture(scope="session")
def new_binding() -> ModuleType:
    """The checkout's scripts/new_binding.py: the generator of renamed projects."""
    return _checkout_script("new_binding", ROOT / "scripts" / "new_binding.py")
