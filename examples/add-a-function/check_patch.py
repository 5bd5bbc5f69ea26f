#!/usr/bin/env python3
"""Applies an example patch to the commit it was made for, and counts what it changes.

    python examples/add-a-function/check_patch.py PATCH [--into DIR] [--max-files N] [--max-lines N]
    python examples/add-a-function/check_patch.py PATCH --applied TREE

An example patch names the commit it was made for on a ``base-commit: <hash>`` line above its
first diff (``git apply`` skips that text). By default the patch is applied to a copy of that
commit's tree (``git archive``), never to the working tree, so it holds whatever the checkout
has become since; ``--into DIR`` keeps that copy in DIR (empty or new) for building and
testing. ``--applied TREE`` counts a patch already applied to TREE, wherever its hunks landed.

Counted: the source files the patch touches and the lines of code it adds to them. Not
counted: tests (``tests/``, Rust ``tests.rs`` files and ``#[cfg(test)]`` modules), generated
files (``include/``, ``*.pyi``), docs and the changelog; in the counted files, blank lines,
comments (``//``, ``///``, ``#``) and docstrings. Exits 1 when a limit is passed: the recipe's
for a function (3 source files, 30 lines of code), or those the patch states above its first
diff on a ``limits: N source files, M lines of code`` line (a new object type: 4 and 60);
``--max-files`` and ``--max-lines`` override both.

To remake a patch after the tree it shows changed: apply it to a branch at the new commit,
finish it there, commit, then ``git diff BASE HEAD`` below a ``base-commit: BASE`` line.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

HUNK = re.compile(r"^@@ -\d+(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
BASE = re.compile(r"^base-commit: ([0-9a-f]{40})$", flags=re.MULTILINE)
LIMITS = re.compile(r"^limits: (\d+) source files, (\d+) lines of code$", flags=re.MULTILINE)
FUNCTION_LIMITS = (3, 30)
ROOT = Path(__file__).resolve().parent.parent.parent


class PatchError(Exception):
    """The patch cannot be applied or located: one line for the user."""


@dataclass
class Hunk:
    """One hunk: where the patch says it starts in the new file, and its new-side lines."""

    start: int
    lines: list[tuple[bool, str]] = field(default_factory=list)  # (added?, text)


def parse(patch: str) -> dict[str, list[Hunk]]:
    """Per file the patch creates or changes, its hunks."""
    files: dict[str, list[Hunk]] = {}
    hunks: list[Hunk] = []
    old_left = new_left = 0  # lines of the current hunk still to come, on either side
    for line in patch.splitlines():
        if old_left or new_left:
            tag, text = line[:1], line[1:]
            if tag in {" ", "-"}:
                old_left -= 1
            if tag in {" ", "+"}:
                new_left -= 1
                hunks[-1].lines.append((tag == "+", text))
        elif line.startswith("+++ "):
            path = line[4:].removeprefix("b/")
            hunks = files.setdefault(path, []) if path != "/dev/null" else []
        elif match := HUNK.match(line):
            old_count, new_start, new_count = match.groups()
            old_left = 1 if old_count is None else int(old_count)
            new_left = 1 if new_count is None else int(new_count)
            hunks.append(Hunk(int(new_start)))
    return files


def base_commit(patch: str) -> str:
    match = BASE.search(patch.split("\ndiff ", 1)[0])
    if match is None:
        raise PatchError("the patch names no commit it was made for (a 'base-commit: <hash>' line)")
    return match.group(1)


def stated_limits(patch: str) -> tuple[int, int]:
    """(source files, lines of code) the patch may add: its ``limits:`` line, or a function's."""
    match = LIMITS.search(patch.split("\ndiff ", 1)[0])
    if match is None:
        return FUNCTION_LIMITS
    return int(match.group(1)), int(match.group(2))


def git(*args: str, cwd: Path = ROOT, stdin: str | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, input=stdin, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise PatchError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def apply_to_base(patch: Path, dest: Path) -> None:
    """dest: the tree of the patch's base commit with the patch applied."""
    commit = base_commit(patch.read_text(encoding="utf-8"))
    git("cat-file", "-e", f"{commit}^{{commit}}")
    dest.mkdir(parents=True, exist_ok=True)
    if any(dest.iterdir()):
        raise PatchError(f"{dest} is not empty")
    archive = subprocess.run(
        ["git", "archive", "--format=tar", commit], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    git("apply", str(patch.resolve()), cwd=dest)


def added_line_numbers(path: str, hunks: list[Hunk], text: str) -> list[tuple[int, str]]:
    """The added lines with their numbers in the patched file: each hunk is found where its
    new-side lines stand (nearest to where the patch says), so an offset changes nothing."""
    lines = text.splitlines()
    numbered = []
    for hunk in hunks:
        block = [line for _, line in hunk.lines]
        positions = range(len(lines) - len(block) + 1)
        starts = [i for i in positions if lines[i : i + len(block)] == block]
        if not starts:
            raise PatchError(f"{path}: a hunk of the patch is not in the tree (applied?)")
        start = min(starts, key=lambda i: abs(i + 1 - hunk.start))
        numbered += [(start + 1 + k, line) for k, (added, line) in enumerate(hunk.lines) if added]
    return numbered


def rust_test_lines(source: str) -> set[int]:
    """The line numbers inside a ``#[cfg(test)]`` module (attribute to closing brace)."""
    lines = source.splitlines()
    inside: set[int] = set()
    for i, line in enumerate(lines):
        if line.strip() != "#[cfg(test)]":
            continue
        j = i + 1
        while j < len(lines) and lines[j].strip().startswith("#["):
            j += 1
        if j == len(lines) or "mod " not in lines[j] or "{" not in lines[j]:
            continue
        depth = 0
        for k in range(j, len(lines)):
            depth += lines[k].count("{") - lines[k].count("}")
            if depth == 0:
                inside.update(range(i + 1, k + 2))
                break
    return inside


def is_counted(path: str) -> bool:
    """A source file: not a test, not generated, not documentation."""
    name = Path(path).name
    return not (
        path.startswith(("tests/", "include/", "docs/", "examples/"))
        or name in {"tests.rs", "proptests.rs", "CHANGELOG.md"}
        or name.endswith((".pyi", ".md", ".rst"))
    )


def code_lines(path: str, hunks: list[Hunk], tree: Path) -> list[str]:
    """The added lines that are code: no blank line, comment, test or docstring."""
    code = []
    if path.endswith(".rs"):
        source = (tree / path).read_text(encoding="utf-8")
        tests = rust_test_lines(source)
        for number, text in added_line_numbers(path, hunks, source):
            stripped = text.strip()
            if stripped and not stripped.startswith("//") and number not in tests:
                code.append(text)
        return code
    in_docstring = False
    for hunk in hunks:
        for added, text in hunk.lines:
            if not added:
                continue
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


def count(patch: Path, tree: Path, max_files: int, max_lines: int) -> int:
    files = parse(patch.read_text(encoding="utf-8"))
    counted = {path: code_lines(path, hunks, tree) for path, hunks in files.items()}
    counted = {path: lines for path, lines in counted.items() if is_counted(path)}
    total = sum(len(lines) for lines in counted.values())
    for path, lines in counted.items():
        print(f"  {path}: {len(lines)} lines of code added")
    others = sorted(set(files) - set(counted))
    print(f"  not counted (tests, generated, docs): {', '.join(others) or 'none'}")
    print(f"{patch.name}: {len(counted)} source files, {total} lines of code added")
    if len(counted) > max_files or total > max_lines:
        print(f"over the recipe's limits ({max_files} files, {max_lines} lines)", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("patch", type=Path)
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--into", type=Path, help="keep the patched base tree in this directory")
    where.add_argument("--applied", type=Path, help="a tree the patch is already applied to")
    parser.add_argument("--max-files", type=int, help="default: the patch's limits")
    parser.add_argument("--max-lines", type=int, help="default: the patch's limits")
    args = parser.parse_args()
    files, lines = stated_limits(args.patch.read_text(encoding="utf-8"))
    args.max_files = files if args.max_files is None else args.max_files
    args.max_lines = lines if args.max_lines is None else args.max_lines
    try:
        if args.applied is not None:
            return count(args.patch, args.applied, args.max_files, args.max_lines)
        if args.into is not None:
            apply_to_base(args.patch, args.into)
            return count(args.patch, args.into, args.max_files, args.max_lines)
        with tempfile.TemporaryDirectory() as tmp:
            apply_to_base(args.patch, Path(tmp))
            return count(args.patch, Path(tmp), args.max_files, args.max_lines)
    except PatchError as exc:
        print(f"{args.patch.name}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
