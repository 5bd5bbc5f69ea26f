"""greeter.Greeter is typed for its users: their code passes mypy --strict, misuse is caught.

mypy checks these snippets against the *installed* package (its ``py.typed`` marker and inline
annotations), as a user's project would see it. mypy is in the dev extra; without it (the
wheel and sdist test runs install only the test extra) this file is skipped.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("mypy")

USER_CODE = textwrap.dedent(
    """
    import asyncio
    from collections.abc import Iterator

    import greeter


    def names() -> Iterator[str]:
        yield "Ann"


    async def later(g: greeter.Greeter) -> str:
        return await g.greet_async("Ann")


    def main() -> None:
        g = greeter.Greeter("Bonjour, {name} !")
        reveal_type(g.greet("Ann"))
        reveal_type(g.greet_many(["Ann", "Bo"]))
        reveal_type(g.greet_many(names()))
        reveal_type(asyncio.run(g.greet_async("Ann")))
        reveal_type(asyncio.run(later(g)))
        reveal_type(g.template)
        reveal_type(g.closed)
        with greeter.Greeter("Hi {name}, {name}!") as h:
            reveal_type(h)
        g.close()
        reveal_type(greeter.live_objects())
        try:
            greeter.Greeter("no placeholder")
        except greeter.InvalidTemplateError as exc:
            reveal_type(exc.code)
    """
)

MISUSE = textwrap.dedent(
    """
    import greeter

    g = greeter.Greeter(b"{name}")
    g.greet(3)
    g.greet_many("Ann", "Bo")
    g.template = "{name}!"
    s: int = g.greet("Ann")
    """
)


def mypy(code: str, tmp_path: Path) -> tuple[int, list[str]]:
    source = tmp_path / "user_code.py"
    source.write_text(code, encoding="utf-8")
    # In a subprocess: mypy's in-process API leaves a large object graph behind, which made
    # every later gc.collect() in the suite (the leak fixtures) take a quarter of a second.
    command = [sys.executable, "-m", "mypy", "--strict", "--no-incremental"]
    command += ["--cache-dir", str(tmp_path / "cache"), str(source)]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
    )
    assert not done.stderr, done.stderr
    lines = done.stdout.splitlines()
    return done.returncode, [line.split(": ", 1)[1] for line in lines if ": " in line]


def test_user_code_using_a_greeter_passes_mypy_strict(tmp_path: Path) -> None:
    status, lines = mypy(USER_CODE, tmp_path)
    # The class is defined in a private module and re-exported: name it as users do.
    revealed = [
        re.sub(r'"greeter\._\w+\.Greeter"', '"greeter.Greeter"', line)
        for line in lines
        if line.startswith("note: Revealed type")
    ]
    assert revealed == [
        'note: Revealed type is "str"',
        'note: Revealed type is "list[str]"',
        'note: Revealed type is "list[str]"',
        'note: Revealed type is "str"',
        'note: Revealed type is "str"',
        'note: Revealed type is "str"',
        'note: Revealed type is "bool"',
        'note: Revealed type is "greeter.Greeter"',
        'note: Revealed type is "int"',
        'note: Revealed type is "int"',
    ], lines
    assert [line for line in lines if line.startswith("error")] == []
    assert status == 0


def test_misusing_a_greeter_is_a_type_error(tmp_path: Path) -> None:
    status, lines = mypy(MISUSE, tmp_path)
    errors = [line for line in lines if line.startswith("error")]
    assert status == 1
    assert len(errors) == 5, lines
    assert '"Greeter" has incompatible type "bytes"; expected "str"' in errors[0]
    assert 'incompatible type "int"; expected "str"' in errors[1]
    assert "Too many arguments" in errors[2]
    assert 'Property "template" defined in "Greeter" is read-only' in errors[3]
    assert (
        'Incompatible types in assignment (expression has type "str", variable has type "int")'
        in (errors[4])
    )
