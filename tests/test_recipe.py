"""The README's claims about the C API and the recipe for adding a function hold."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "add-a-function"


def header_functions() -> set[str]:
    text = (ROOT / "include" / "greeter.h").read_text()
    return set(re.findall(r"^[A-Za-z].*?\b(\w+)\(", text, flags=re.MULTILINE)) - {"typedef"}


def readme_section(title: str) -> str:
    return (ROOT / "README.md").read_text().split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_readme_c_api_table_names_every_export_and_nothing_else() -> None:
    rows = [line for line in readme_section("The C API in brief").splitlines() if line[:3] == "| `"]
    named = {name for row in rows for name in re.findall(r"`(\w+)`", row.split("|")[1])}
    assert named == header_functions()


def test_the_recipe_patch_applies_and_stays_as_small_as_the_readme_says(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is needed to apply the patch")
    patch = (EXAMPLE / "shout.patch").read_text()
    touched = re.findall(r"^\+\+\+ b/(\S+)$", patch, flags=re.MULTILINE)
    for path in touched:
        if (ROOT / path).exists():
            (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(ROOT / path, tmp_path / path)
    subprocess.run(["git", "apply", str(EXAMPLE / "shout.patch")], cwd=tmp_path, check=True)
    done = subprocess.run(
        [sys.executable, str(EXAMPLE / "check_patch.py"), str(EXAMPLE / "shout.patch"), "."],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    counts = re.search(r"(\d+) source files, (\d+) lines of code", done.stdout)
    assert counts is not None, done.stdout
    files, lines = counts.groups()
    words = {"1": "one", "2": "two", "3": "three"}
    claim = f"{words[files]} source\nfiles, {lines} lines of code"
    assert claim in readme_section("Adding a function")
    assert int(files) <= 3
    assert int(lines) <= 30


def test_the_line_count_refuses_a_patch_over_the_limit(tmp_path: Path) -> None:
    patch = tmp_path / "big.patch"
    body = "".join(f"+x = {i}\n" for i in range(31))
    patch.write_text(
        f"--- a/greeter/_functions.py\n+++ b/greeter/_functions.py\n@@ -1,0 +1,31 @@\n{body}"
    )
    done = subprocess.run(
        [sys.executable, str(EXAMPLE / "check_patch.py"), str(patch), str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "1 source files, 31 lines of code added" in done.stdout
