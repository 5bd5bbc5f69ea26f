"""The README's claims about the C API and the recipe for adding a function hold."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "add-a-function"


def readme_section(title: str) -> str:
    return (ROOT / "README.md").read_text().split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_the_readme_c_api_table_names_every_export_and_nothing_else(ffi_build: ModuleType) -> None:
    rows = [line for line in readme_section("The C API in brief").splitlines() if line[:3] == "| `"]
    named = {name for row in rows for name in re.findall(r"`(\w+)`", row.split("|")[1])}
    assert named == set(ffi_build.header_functions(ROOT / "include" / "greeter.h"))


def run_check_patch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLE / "check_patch.py"), *args],
        capture_output=True,
        text=True,
        check=False,
    )


def counts(output: str) -> tuple[int, int]:
    found = re.search(r"(\d+) source files, (\d+) lines of code", output)
    assert found is not None, output
    return int(found.group(1)), int(found.group(2))


def base_of(check_patch: ModuleType, patch: Path) -> str:
    """The commit the patch was made for (``root``: the first commit, as in a project
    scripts/new_binding.py generated); skips where git or that history is missing (an sdist's
    tree, a shallow clone)."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs git and the checkout's history")
    found = re.search(r"^base-commit: ([0-9a-f]{40}|root)$", patch.read_text(), flags=re.MULTILINE)
    assert found is not None, f"{patch.name} names no base commit"
    if found.group(1) == "root":
        return str(check_patch.first_commit())
    known = subprocess.run(
        ["git", "cat-file", "-e", f"{found.group(1)}^{{commit}}"], cwd=ROOT, check=False
    )
    if known.returncode != 0:
        pytest.skip(f"{found.group(1)} is not in this clone's history")
    return found.group(1)


def patch_rows() -> dict[str, str]:
    """The README's "Adding a function" table: each example patch's name and its row."""
    rows = readme_section("Adding a function").splitlines()
    found = {}
    for row in rows:
        link = re.search(r"\(examples/add-a-function/([\w-]+\.patch)\)", row)
        if row.startswith("|") and link is not None:
            found[link.group(1)] = row
    return found


def test_every_example_patch_has_a_row_of_the_readme_table() -> None:
    assert set(patch_rows()) == {patch.name for patch in EXAMPLE.glob("*.patch")}
    assert "shout.patch" in patch_rows()


@pytest.mark.parametrize("name", sorted(patch.name for patch in EXAMPLE.glob("*.patch")))
def test_each_example_patch_applies_to_its_commit_and_stays_as_small_as_the_readme_says(
    check_patch: ModuleType, name: str
) -> None:
    """Applied to the commit it was made for, never to the working tree: a user's own changes
    (the recipe asks for some near the patch's context) cannot make it fail."""
    patch = EXAMPLE / name
    base_of(check_patch, patch)
    done = run_check_patch(str(patch))
    assert done.returncode == 0, done.stdout + done.stderr
    files, lines = counts(done.stdout)
    words = {1: "one", 2: "two", 3: "three", 4: "four"}
    claim = f"{words[files]} source files, {lines} lines of code"
    assert claim in patch_rows()[name]
    walkthrough = (ROOT / "docs" / "adding-a-function.md").read_text().split("\n## ")
    (section,) = [text for text in walkthrough if f"add-a-function/{name})" in text]
    assert claim in " ".join(section.split())
    # The recipe's limits: a function's, or a new object type's (its "limits:" line).
    limits = re.search(
        r"^limits: (\d+) source files, (\d+) lines of code$", patch.read_text(), re.M
    )
    max_files, max_lines = (3, 30) if limits is None else (int(limits[1]), int(limits[2]))
    assert (max_files, max_lines) in {(3, 30), (4, 60)}
    assert files <= max_files
    assert lines <= max_lines


def test_the_count_is_the_same_wherever_the_hunks_land(
    check_patch: ModuleType, tmp_path: Path
) -> None:
    """Applied at an offset (40 lines above every hunk: more than a test module is away), the
    patch counts the same: test modules are found where the hunks landed, not where the patch
    says they were."""
    patch = EXAMPLE / "shout.patch"
    base = base_of(check_patch, patch)
    archive = subprocess.run(
        ["git", "archive", "--format=tar", base], cwd=ROOT, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(tmp_path)], input=archive.stdout, check=True)
    for path in re.findall(r"^\+\+\+ b/(\S+)$", patch.read_text(), flags=re.MULTILINE):
        source = tmp_path / path
        if source.exists():
            comment = "//" if path.endswith(".rs") else "#"
            source.write_text(f"{comment} moved\n" * 40 + source.read_text())
    subprocess.run(["git", "apply", str(patch)], cwd=tmp_path, check=True)
    shifted = run_check_patch(str(patch), "--applied", str(tmp_path))
    assert shifted.returncode == 0, shifted.stdout + shifted.stderr
    assert counts(shifted.stdout) == counts(run_check_patch(str(patch)).stdout)


def test_the_line_count_refuses_a_patch_over_the_limit(tmp_path: Path) -> None:
    patch = tmp_path / "big.patch"
    body = "".join(f"+x = {i}\n" for i in range(31))
    patch.write_text(
        f"--- a/greeter/_functions.py\n+++ b/greeter/_functions.py\n@@ -1,0 +1,31 @@\n{body}"
    )
    done = run_check_patch(str(patch), "--applied", str(tmp_path))
    assert done.returncode == 1
    assert "1 source files, 31 lines of code added" in done.stdout


def test_a_patch_states_the_larger_limits_of_an_object_type(tmp_path: Path) -> None:
    patch = tmp_path / "object.patch"
    header = "limits: 4 source files, 60 lines of code\n"
    for added, refused in ((60, 0), (61, 1)):
        body = "".join(f"+x = {i}\n" for i in range(added))
        patch.write_text(
            f"{header}--- a/greeter/_objects.py\n+++ b/greeter/_objects.py\n"
            f"@@ -1,0 +1,{added} @@\n{body}"
        )
        assert run_check_patch(str(patch), "--applied", str(tmp_path)).returncode == refused


def test_base_commit_root_is_the_first_commit_and_two_first_commits_are_refused(
    tmp_path: Path,
) -> None:
    """A generated project's patches are made for its first commit (``base-commit: root``):
    applied there whatever came after; a history with two commits without a parent is named."""
    if shutil.which("git") is None:
        pytest.skip("needs git")
    repo = tmp_path / "repo"
    (repo / "examples" / "add-a-function").mkdir(parents=True)
    script = repo / "examples" / "add-a-function" / "check_patch.py"
    shutil.copy(EXAMPLE / "check_patch.py", script)
    (repo / "core.py").write_text("one = 1\n")

    def git(*args: str) -> str:
        identity = ["-c", "user.name=t", "-c", "user.email=t@localhost"]
        return subprocess.run(
            ["git", *identity, *args], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()

    git("init", "--quiet")
    git("add", "--all")
    git("commit", "--quiet", "-m", "first")
    (repo / "core.py").write_text("uno = 1\n")  # the patch's context, changed since
    git("commit", "--quiet", "--all", "-m", "second")
    patch = tmp_path / "two.patch"
    patch.write_text(
        "core.two: made for the first commit.\nbase-commit: root\n\n"
        "diff --git a/core.py b/core.py\n--- a/core.py\n+++ b/core.py\n"
        "@@ -1 +1,2 @@\n one = 1\n+two = 2\n"
    )

    def run_check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(script), str(patch)], capture_output=True, text=True, check=False
        )

    done = run_check()
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "two.patch: 1 source files, 1 lines of code added"
    other_root = git("commit-tree", "HEAD^{tree}", "-m", "another first commit")
    git(
        "reset",
        "--quiet",
        git("commit-tree", "HEAD^{tree}", "-p", "HEAD", "-p", other_root, "-m", "m"),
    )
    done = run_check()
    assert done.returncode == 2
    assert done.stderr == (
        "two.patch: the patch is made for the repository's first commit (base-commit: root), "
        "but it has 2 commits without a parent: name the commit by its hash\n"
    )
