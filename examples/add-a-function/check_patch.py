#!/usr/bin/env python3
"""Counts what a patch that adds a function changes, the way README's recipe promises.

    python examples/add-a-function/check_patch.py PATCH TREE [--max-files 3] [--max-lines 30]

TREE is a checkout with PATCH applied (the Rust test modules are found in it). Counted: the
source files the patch touches and the lines of code it adds to them. Not counted: tests
(``tests/``, Rust ``tests.rs`` files and ``#[cfg(test)]`` modules), generated files
(``include/``, ``*.pyi``), docs and the changelog; in the counted files, blank lines, comments
(``//``, ``///``, ``#``) and docstrings. Exits 1 when a limit is passed.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,\d+)? @@")


def is_counted(path: str) -> bool:
    """A source file: not a test, not generated, not documentation."""
    name = Path(path).name
    return not (
        path.startswith(("tests/", "include/", "docs/", "examples/"))
        or name in {"tests.rs", "proptests.rs", "CHANGELOG.md"}
        or name.endswith((".pyi", ".md", ".rst"))
    )


def added_lines(patch: str) -> dict[str, list[tuple[int, str]]]:
    """Per file, the added lines with their line numbers in the new file."""
    files: dict[str, list[tuple[int, str]]] = {}
    current: list[tuple[int, str]] | None = None
    number = 0
    for line in patch.splitlines():
        if line.startswith("+++ "):
            path = line[4:].removeprefix("b/")
            current = files.setdefault(path, []) if path != "/dev/null" else None
        elif match := HUNK.match(line):
            number = int(match.group(1))
        elif current is not None and line.startswith("+"):
            current.append((number, line[1:]))
            number += 1
        elif line.startswith(" "):
            number += 1
    return files


def test_module_start(source: str) -> int:
    """The line number where a Rust file's ``#[cfg(test)] mod tests`` starts (or past the end)."""
    lines = source.splitlines()
    for i, line in enumerate(lines, start=1):
        if line.strip() == "#[cfg(test)]" and i < len(lines) and lines[i].startswith("mod "):
            return i
    return len(lines) + 1


def code_lines(path: str, lines: list[tuple[int, str]], tree: Path) -> list[str]:
    """The added lines that are code: no blank line, comment, test or docstring."""
    code = []
    if path.endswith(".rs"):
        tests_from = test_module_start((tree / path).read_text(encoding="utf-8"))
        for number, text in lines:
            stripped = text.strip()
            if stripped and not stripped.startswith("//") and number < tests_from:
                code.append(text)
        return code
    in_docstring = False
    for _, text in lines:
        stripped = text.strip()
        quotes = stripped.count('"""')
        if in_docstring:
            in_docstring = quotes % 2 == 0
            continue
        if stripped.startswith(('"""', 'r"""')):
            in_docstring = quotes == 1
            continue
        if stripped and not stripped.startswith("#"):
            code.append(text)
    return code


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("patch", type=Path)
    parser.add_argument("tree", type=Path)
    parser.add_argument("--max-files", type=int, default=3)
    parser.add_argument("--max-lines", type=int, default=30)
    args = parser.parse_args()
    files = added_lines(args.patch.read_text(encoding="utf-8"))
    counted = {path: code_lines(path, lines, args.tree) for path, lines in files.items()}
    counted = {path: lines for path, lines in counted.items() if is_counted(path)}
    total = sum(len(lines) for lines in counted.values())
    for path, lines in counted.items():
        print(f"  {path}: {len(lines)} lines of code added")
    others = sorted(set(files) - set(counted))
    print(f"  not counted (tests, generated, docs): {', '.join(others) or 'none'}")
    print(f"{args.patch.name}: {len(counted)} source files, {total} lines of code added")
    if len(counted) > args.max_files or total > args.max_lines:
        print(
            f"over the recipe's limits ({args.max_files} files, {args.max_lines} lines)",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
