"""The benchmark suite runs and compares like with like (its timings are never asserted)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import greeter
from greeter import _bench

needs_cc = pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler")


@needs_cc
def test_the_floor_extension_computes_the_same_results(tmp_path: Path) -> None:
    floor = _bench.build_floor(tmp_path)
    assert floor.add(3, 5) == greeter.add_numbers(3, 5) == 8
    assert floor.rust_add(-7, 2) == -5
    for name in ["World", "", "世界🌍"]:
        assert floor.greet(name) == floor.rust_greet(name) == greeter.greet(name)
    with pytest.raises(OverflowError):
        floor.add(2**31 - 1, 1)
    with pytest.raises(OverflowError):
        floor.rust_add(2**31 - 1, 1)
    assert floor.rust_live() == greeter.live_strings()


@needs_cc
def test_every_case_runs_and_gets_one_value_per_round(tmp_path: Path) -> None:
    floor = _bench.build_floor(tmp_path)
    cases = _bench._cases()
    _bench.measure(cases, _bench._namespace(floor), rounds=2, slice_s=0.001)
    assert all(len(c.values) == 2 and min(c.values) > 0 for c in cases)
    assert len(_bench.format_table(cases, 2, 0.001)) > len(cases)
    ours, theirs = _bench.measure_async(1, n=200)
    stalls = _bench.measure_stalls(1, n=200)
    assert all(len(s.worst_ms) == 1 and s.worst_ms[0] >= 0 for s in stalls)
    assert len(_bench.format_stalls(*stalls, 200)) == 3
    ratios = _bench.ratios(cases, ours, theirs)
    assert len(ratios) == 11
    assert all(r.value > 0 for r in ratios)
    assert ratios[0].line() == f"  {ratios[0].text}: {ratios[0].value:.2f}x"


def test_a_short_soak_ends_with_no_live_strings() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "greeter", "bench", "--soak", "--calls", "10000"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "soak: 10,000 mixed calls" in done.stdout
    assert "live Rust strings at the end: 0" in done.stdout


def test_bench_help_and_bad_options() -> None:
    ok = subprocess.run(
        [sys.executable, "-m", "greeter", "bench", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ok.returncode == 0
    assert "--quick" in ok.stdout
    assert "--soak" in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "greeter", "bench", "--rounds", "many"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert bad.returncode == 2
    assert "invalid int value: 'many'" in bad.stderr
    zero = subprocess.run(
        [sys.executable, "-m", "greeter", "bench", "--soak", "--calls", "0"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert zero.returncode == 2
    assert "must be at least 1, got 0" in zero.stderr
