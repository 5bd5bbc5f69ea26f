"""The benchmark harness (benchmarks/, not part of the package) runs and compares like with
like; its timings are never asserted."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

import greeter
from greeter._greeter_cffi import ffi, lib

ROOT = Path(__file__).resolve().parent.parent
HARNESS = ROOT / "benchmarks" / "bench.py"
needs_cc = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")


@needs_cc
def test_the_floor_extension_computes_the_same_results(bench: ModuleType, tmp_path: Path) -> None:
    floor = bench.build_floor(tmp_path)
    assert floor.add(3, 5) == greeter.add_numbers(3, 5) == 8
    assert floor.rust_add(-7, 2) == -5
    for name in ["World", "", "世界🌍"]:
        assert floor.greet(name) == floor.rust_greet(name) == greeter.greet(name)
    with pytest.raises(OverflowError):
        floor.add(2**31 - 1, 1)
    with pytest.raises(OverflowError):
        floor.rust_add(2**31 - 1, 1)
    status = ffi.new("GreeterStatus *")
    lib.greeter_status_take_thread(status)
    assert status.code == lib.GREETER_OK  # the floor took its failure's thread status
    assert floor.rust_live() == greeter.live_strings()


def test_the_recipe_shaped_function_greets_as_greet(bench: ModuleType) -> None:
    recipe_greet = bench.recipe_shaped_function()
    for name in ["World", "", "世界🌍", "x" * 1000]:
        assert recipe_greet(name) == greeter.greet(name)
    with pytest.raises(greeter.InteriorNulError):
        recipe_greet("a\0b")


@needs_cc
def test_every_case_runs_and_gets_one_value_per_round(bench: ModuleType, tmp_path: Path) -> None:
    floor = bench.build_floor(tmp_path)
    cases = bench._cases()
    bench.measure(cases, bench._namespace(floor), rounds=2, slice_s=0.001)
    assert all(len(c.values) == 2 and min(c.values) > 0 for c in cases)
    assert len(bench.format_table(cases, 2, 0.001)) > len(cases)
    ours, theirs = bench.measure_async(1, n=200)
    stalls = bench.measure_stalls(1, n=200)
    assert all(len(s.worst_ms) == 1 and s.worst_ms[0] >= 0 for s in stalls)
    assert len(bench.format_stalls(*stalls, 200)) == 3
    batch_stalls = bench.measure_batch_stalls(1, n=1_000)
    assert [s.label for s in batch_stalls] == ["greeter.greet_many", "greeter.Greeter.greet_many"]
    assert all(s.worst_ms[0] >= 0 and s.batch_ms[0] > 0 for s in batch_stalls)
    assert len(bench.format_batch_stalls(batch_stalls, 1_000)) == 3
    ratios = bench.ratios(cases, ours, theirs)
    assert len(ratios) == 13
    assert all(r.value > 0 for r in ratios)
    assert ratios[0].line() == f"  {ratios[0].text}: {ratios[0].value:.2f}x"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, check=False, timeout=120, cwd=cwd
    )


def test_a_short_soak_ends_with_no_live_strings() -> None:
    done = run(str(HARNESS), "--soak", "--calls", "10000")
    assert done.returncode == 0, done.stderr
    assert re.search(r"^soak: [\d,]+ mixed calls in 1 passes", done.stdout, re.MULTILINE)
    assert "live Rust strings at the end: 0, live Rust objects: 0" in done.stdout
    assert done.stdout.splitlines()[-1] == "soak: OK"


def test_bench_help_and_bad_options() -> None:
    ok = run(str(HARNESS), "--help")
    assert ok.returncode == 0
    assert "--quick" in ok.stdout
    assert "--soak" in ok.stdout
    bad = run(str(HARNESS), "--rounds", "many")
    assert bad.returncode == 2
    assert "invalid int value: 'many'" in bad.stderr
    zero = run(str(HARNESS), "--soak", "--calls", "0")
    assert zero.returncode == 2
    assert "must be at least 1, got 0" in zero.stderr


def test_python_m_greeter_bench_runs_the_checkouts_harness() -> None:
    """In a checkout's root (with -P, so that the installed package is imported) the entry
    runs benchmarks/bench.py under its own name; elsewhere it says where the harness is."""
    here = run("-P", "-m", "greeter", "bench", "--rounds", "many", cwd=ROOT)
    assert here.returncode == 2
    assert "python -m greeter bench: error: argument --rounds: invalid int value: 'many'" in (
        here.stderr
    )
    elsewhere = run("-m", "greeter", "bench", "--quick")
    assert elsewhere.returncode == 2
    assert elsewhere.stderr.startswith(
        "python -m greeter bench: no benchmarks/bench.py here: the benchmarks are not "
        "installed with the package"
    )


def test_the_package_ships_no_benchmark() -> None:
    package = Path(greeter.__file__).parent
    assert not [p.name for p in package.iterdir() if "bench" in p.name]
