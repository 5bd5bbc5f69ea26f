"""Synchronous calls: exact results for every kind of text, and the CLI."""

from __future__ import annotations

import enum
import signal
import subprocess
import sys

import pytest

import greeter

NAMES = [
    pytest.param("Alice", id="ascii"),
    pytest.param("", id="empty"),
    pytest.param("世界", id="cjk"),
    pytest.param("🦀🐍", id="emoji"),
    pytest.param("e\u0301 a\u0308\u0323", id="combining-marks"),
    pytest.param("\u200d\ufeff\U0010ffff", id="invisible-and-max-codepoint"),
    pytest.param("Ω" * 300, id="longer-than-the-fast-buffer"),
]


@pytest.mark.parametrize("name", NAMES)
def test_greet_is_exact(name: str, no_leaks: None) -> None:
    assert greeter.greet(name) == f"Hello, {name}!"


@pytest.mark.parametrize("name", NAMES)
def test_greeting_is_exact(name: str, no_leaks: None) -> None:
    with greeter.greeting(name) as s:
        assert s.value == f"Hello, {name}!"
        assert bytes(s) == f"Hello, {name}!".encode()
        assert str(s) == s.value
        assert len(s) == len(f"Hello, {name}!".encode())


def test_greet_ten_megabyte_name(no_leaks: None) -> None:
    name = "ab€" * (10 * 1024 * 1024 // 5)
    assert len(name.encode()) >= 10 * 1024 * 1024 - 5
    assert greeter.greet(name) == f"Hello, {name}!"
    with greeter.greeting(name) as s:
        assert s.value == f"Hello, {name}!"


def test_greet_accepts_str_subclasses() -> None:
    class Name(str):
        pass

    assert greeter.greet(Name("Sub")) == "Hello, Sub!"


@pytest.mark.parametrize(
    ("a", "b", "total"),
    [
        (3, 5, 8),
        (0, 0, 0),
        (-7, 2, -5),
        (2**31 - 1, 0, 2**31 - 1),
        (-(2**31), 0, -(2**31)),
        (2**31 - 1, -(2**31), -1),
        (True, 2, 3),
    ],
)
def test_add_numbers_is_exact(a: int, b: int, total: int) -> None:
    assert greeter.add_numbers(a, b) == total


class _Index:
    """An integer by ``__index__`` alone (as numpy's integers are)."""

    def __init__(self, value: int) -> None:
        self.value = value

    def __index__(self) -> int:
        return self.value


class _Color(enum.IntEnum):
    RED = 4


def test_add_numbers_accepts_every_integer_by_operator_index() -> None:
    assert greeter.add_numbers(True, False) == 1
    assert greeter.add_numbers(_Index(40), _Index(2)) == 42  # type: ignore[arg-type]
    assert greeter.add_numbers(_Color.RED, 1) == 5
    result = greeter.add_numbers(_Index(7), True)  # type: ignore[arg-type]
    assert (result, type(result)) == (8, int)
    with pytest.raises(OverflowError, match="arguments must fit in i32"):
        greeter.add_numbers(_Index(2**31), 0)  # type: ignore[arg-type]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "greeter", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_greet() -> None:
    done = _cli("greet", "Alice")
    assert (done.returncode, done.stdout, done.stderr) == (0, "Hello, Alice!\n", "")


def test_cli_greet_async() -> None:
    done = _cli("greet", "--async", "Alice")
    assert (done.returncode, done.stdout, done.stderr) == (0, "Async Hello, Alice!\n", "")


def test_cli_add() -> None:
    done = _cli("add", "3", "5")
    assert (done.returncode, done.stdout, done.stderr) == (0, "8\n", "")


@pytest.mark.parametrize("command", [[], ["greet"], ["add"]])
def test_cli_help(command: list[str]) -> None:
    done = _cli(*command, "--help")
    assert done.returncode == 0
    assert done.stdout.startswith("usage: python -m greeter")


@pytest.mark.parametrize(
    ("args", "status", "message"),
    [
        (["add", "3", "x"], 2, "python -m greeter add: error: argument b: invalid int value: 'x'"),
        (["add", "3"], 2, "python -m greeter add: error: the following arguments are required: b"),
        (["add", "2147483647", "1"], 1, "python -m greeter: error: 2147483647 + 1 overflows i32"),
        (
            ["add", "2147483648", "0"],
            1,
            "python -m greeter: error: add_numbers arguments must fit in i32, got 2147483648 and 0",
        ),
        (["greet", "a\udcffb"], 1, "python -m greeter: error: name is not valid Unicode text"),
        (["frobnicate"], 2, "python -m greeter: error: argument command: invalid choice"),
        ([], 2, "python -m greeter: error: the following arguments are required: command"),
    ],
)
def test_cli_bad_input_is_one_line_and_nonzero(args: list[str], status: int, message: str) -> None:
    done = _cli(*args)
    assert done.returncode == status
    assert done.stdout == ""
    assert done.stderr.startswith(message)
    assert done.stderr.count("\n") == 1


def test_greet_is_reentrant_from_signal_handlers(no_leaks: None) -> None:
    # A handler runs between any two bytecodes of greet, including while greet holds a
    # buffer: each call must use its own buffer and both results stay exact.
    seen: list[str] = []

    def handler(signum: int, frame: object) -> None:
        seen.append(greeter.greet("handler"))
        with greeter.greeting("handler") as s:
            seen.append(s.value)

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, 0.0002, 0.0002)
    try:
        for i in range(300_000):
            assert greeter.greet(f"main{i}") == f"Hello, main{i}!"
            if len(seen) >= 400:
                break
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert seen
    assert set(seen) == {"Hello, handler!"}
