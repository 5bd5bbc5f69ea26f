"""scripts/new_binding.py: refusals, the renaming rule over every tracked file, a generated
project's drift checks and example patches and, with ``GREETER_BUILD_NEW_BINDINGS=1`` (a CI
step of its own: two release builds and a test suite, minutes), two generated projects built,
their README commands run in a fresh venv, both used in one process, and the first one's
example patches built and tested by its own recipe step."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
BUILDS = os.environ.get("GREETER_BUILD_NEW_BINDINGS") == "1"
# Names for generated projects: the first two this project accepts (a project generated under
# one of these names refuses that name, its own).
CANDIDATE_NAMES = ["pinger", "word_count", "tally", "echoer"]
KERNEL_THREAD_NAME_BYTES = 15  # Linux keeps the first 15 bytes of a thread's name


def _require_git_checkout() -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the generator copies the files git tracks")
    if shutil.which("git") is None:
        pytest.skip("git is not on PATH: the generator lists the files git tracks")


def _require_tools(new_binding: ModuleType) -> None:
    _require_git_checkout()
    try:
        new_binding.check_tools()
    except new_binding.Refused as missing:
        if os.environ.get("GREETER_REQUIRE_CBINDGEN"):
            pytest.fail(f"the generator's tools are required here: {missing}")
        pytest.skip(str(missing))


def _names(new_binding: ModuleType, count: int) -> list[str]:
    files = new_binding.tracked_files(ROOT)
    accepted = []
    for name in CANDIDATE_NAMES:
        try:
            new_binding.check_name(ROOT, name, files)
        except new_binding.Refused:
            continue
        accepted.append(name)
    assert len(accepted) >= count, accepted
    return accepted[:count]


@pytest.fixture(scope="module")
def good_name(new_binding: ModuleType) -> str:
    """A name the generator accepts here."""
    _require_git_checkout()
    return _names(new_binding, 1)[0]


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("My_lib", "not a lower-case identifier"),
        ("my-lib", "not a lower-case identifier"),
        ("2fast", "not a lower-case identifier"),
        ("_private", "not a lower-case identifier"),
        ("my__lib", "not a lower-case identifier"),
        ("my_lib_", "not a lower-case identifier"),
        ("", "not a lower-case identifier"),
        ("a" * 14, "longer than 13 characters"),
        ("class", "a Python keyword"),
        ("match", "a Python keyword"),
        ("json", "a module of Python's standard library"),
        ("asyncio", "a module of Python's standard library"),
        ("list", "a Python builtin"),
        ("fn", "a Rust keyword or standard crate"),
        ("core", "a Rust keyword or standard crate"),
        ("cffi", "a package this project depends on"),
        ("pytest", "a package this project depends on"),
        ("greeter", "contains 'greeter', this project's own name"),
        ("greeter_two", "contains 'greeter', this project's own name"),
        ("my_greeter", "contains 'greeter', this project's own name"),
        ("greet", "would rename greeter to greet, a name the code already uses"),
        ("errors", "would rename greeter to errors, a name the code already uses"),
    ],
)
def test_a_bad_name_is_refused_in_one_line_and_nothing_is_written(
    new_binding: ModuleType,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    reason: str,
) -> None:
    _require_git_checkout()
    dest = tmp_path / "new"
    assert new_binding.main([str(dest), "--name", name]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"new_binding: --name {name!r}: {reason}")
    assert err.count("\n") == 1
    assert err.endswith("\n")
    assert list(tmp_path.iterdir()) == []


def test_a_dest_that_is_not_empty_is_refused_and_left_as_it_was(
    new_binding: ModuleType, good_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _require_git_checkout()
    dest = tmp_path / "taken"
    dest.mkdir()
    (dest / "notes.txt").write_text("mine")
    assert new_binding.main([str(dest), "--name", good_name]) == 2
    assert capsys.readouterr() == ("", f"new_binding: {dest}: exists and is not empty\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    assert [p.name for p in dest.iterdir()] == ["notes.txt"]


def test_a_dest_that_is_a_file_is_refused(
    new_binding: ModuleType, good_name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _require_git_checkout()
    dest = tmp_path / "file"
    dest.write_text("mine")
    assert new_binding.main([str(dest), "--name", good_name]) == 2
    assert capsys.readouterr() == ("", f"new_binding: {dest}: exists and is not a directory\n")
    assert dest.read_text() == "mine"


def test_the_names_follow_from_name_as_help_says(new_binding: ModuleType) -> None:
    names = new_binding.Names.of("my_lib")
    assert (names.lower, names.camel, names.upper) == ("my_lib", "MyLib", "MY_LIB")
    rename = new_binding.Renamer.to("my_lib")
    text = "greeter_greet GreeterStatus GREETER_OK greeter-cffi libgreeter.so _greeter_cffi"
    assert (
        rename.text(text)
        == "my_lib_greet MyLibStatus MY_LIB_OK my_lib-cffi libmy_lib.so _my_lib_cffi"
    )
    help_text = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "new_binding.py"), "--help"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for line in ["my_lib_*, MY_LIB_*", "MyLib*", "my_lib-cffi", "MY_LIB_STRIP"]:
        assert line in help_text


def test_every_tracked_file_is_renamed_or_listed_as_unchanged(
    new_binding: ModuleType, good_name: str
) -> None:
    """The rule is generic (every spelling, any case, in every path and text), so a file added
    later is covered the day it is added, or this test names it."""
    _require_git_checkout()
    copies = new_binding.plan(ROOT, good_name)
    tracked = set(new_binding.tracked_files(ROOT))
    assert {c.source for c in copies} == tracked
    leaks = {c.dest: c.leftovers() for c in copies if c.leftovers()}
    assert leaks == {}
    for path in new_binding.UNCHANGED:
        assert path in tracked, f"UNCHANGED lists {path}, which git does not track"
    renamed = [c for c in copies if not c.unchanged and good_name.encode() in c.content]
    assert len(renamed) > len(tracked) // 2  # the rename reached the files, not only the check
    for path in new_binding.DOMAIN_FILES:
        assert path in tracked, f"DOMAIN_FILES lists {path}, which git does not track"


def test_a_spelling_the_rule_does_not_cover_is_named(
    new_binding: ModuleType, good_name: str, tmp_path: Path
) -> None:
    source = new_binding.SOURCE
    odd = source[0] + source[1:].upper()  # built here: a literal would be one in this file
    also_odd = source[:-1].capitalize() + source[-1].upper()
    (tmp_path / "covered.txt").write_text("greeter Greeter GREETER")
    (tmp_path / "odd.txt").write_text(f"a {odd} here")
    (tmp_path / "blob.bin").write_bytes(b"\xff\x00" + also_odd.encode() + b"\xfe")
    copies = new_binding.plan(tmp_path, good_name, ["blob.bin", "covered.txt", "odd.txt"])
    assert {c.dest: c.leftovers() for c in copies} == {
        "blob.bin": [also_odd],
        "covered.txt": [],
        "odd.txt": [odd],
    }
    new = new_binding.Names.of(good_name)
    assert copies[1].content == f"{new.lower} {new.camel} {new.upper}".encode()


@pytest.fixture(scope="module")
def generated(new_binding: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One project generated from this checkout (no build)."""
    _require_tools(new_binding)
    dest = tmp_path_factory.mktemp("generated") / "project"
    (name,) = _names(new_binding, 1)
    new_binding.generate(dest, name)
    return dest


def test_a_generated_project_keeps_only_its_attribution_line(
    new_binding: ModuleType, generated: Path
) -> None:
    """Files listed as unchanged are copied as they are; no other path or line names this
    project (LICENSE's copyright line names the project it was made from, or one before)."""
    mentions = []
    for path in generated.rglob("*"):
        relative = path.relative_to(generated)
        if relative.parts[0] == ".git":
            continue
        assert "greeter" not in str(relative).lower()
        if relative.as_posix() in new_binding.UNCHANGED:
            assert path.read_bytes() == (ROOT / relative).read_bytes()
        elif path.is_file():
            for line in path.read_bytes().decode(errors="replace").splitlines():
                if "greeter" in line.lower():
                    mentions.append(f"{relative}: {line}")
    assert mentions == []
    assert list(new_binding.UNCHANGED) == ["LICENSE"]


def test_a_generated_project_is_one_clean_commit_whose_drift_checks_pass(
    generated: Path,
) -> None:
    status = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=generated,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert status == ""
    for script in ["scripts/header.py", "scripts/gen_stub.py"]:
        done = subprocess.run(
            [sys.executable, script, "--check"],
            cwd=generated,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    readme = (generated / "README.md").read_text()
    assert "## Replacing the example domain" in readme
    changelog = (generated / "CHANGELOG.md").read_text()
    assert re.findall(r"^## .*", changelog, re.MULTILINE) == ["## [Unreleased]"]


EXAMPLE_PATCHES = ROOT / "examples" / "add-a-function"


def _check_patch(project: Path, patch: Path, *options: str) -> dict[str, int]:
    """check_patch.py of ``project`` on ``patch`` (applied to the commit it names): lines of
    code per counted file, and the total under "total"."""
    script = project / "examples" / "add-a-function" / "check_patch.py"
    done = subprocess.run(
        [sys.executable, str(script), str(patch), *options],
        cwd=project,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    found = dict(re.findall(r"^  (\S+): (\d+) lines of code added$", done.stdout, re.MULTILINE))
    total = re.search(
        r"^\S+\.patch: \d+ source files, (\d+) lines of code added$", done.stdout, re.M
    )
    assert total is not None, done.stdout
    return {**{path: int(n) for path, n in found.items()}, "total": int(total.group(1))}


def _stated_size(project: Path, patch: str) -> int:
    """The lines of code the project's README table states for ``patch``."""
    readme = (project / "README.md").read_text()
    (row,) = [line for line in readme.splitlines() if f"add-a-function/{patch})" in line]
    stated = re.search(r"source files, (\d+) lines of code", row)
    assert stated is not None, row
    return int(stated.group(1))


def _counted_as_stated(
    project: Path,
    patch: Path,
    here: dict[str, int],
    rename: Callable[[str], str],
    *options: str,
) -> int:
    """check_patch.py of ``project`` counts ``patch`` in the files it counts here, and the
    lines of code the project's README states (formatted for the new names, a line may wrap or
    join: the generator states the new count), which it returns."""
    counted = _check_patch(project, patch, *options)
    assert set(counted) == {rename(path) for path in here}, patch.name
    assert counted["total"] == _stated_size(project, patch.name), patch.name
    return counted["total"]


def test_a_generated_projects_example_patches_are_made_for_its_first_commit(
    new_binding: ModuleType, check_patch: ModuleType, generated: Path
) -> None:
    """Each example patch here is written again for the new project: ``base-commit: root``
    (which check_patch.py reads as the first commit), its description and limits renamed, and
    it applies there, counts the same files and the lines of code the new README states."""
    (name,) = _names(new_binding, 1)
    rename = new_binding.Renamer.to(name)
    patches = sorted(EXAMPLE_PATCHES.glob("*.patch"))
    written = sorted((generated / "examples" / "add-a-function").glob("*.patch"))
    assert [p.name for p in written] == [p.name for p in patches]
    assert len(patches) >= 4
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=generated, capture_output=True, text=True, check=True
    ).stdout.strip()
    assert check_patch.first_commit(generated) == head
    for patch in patches:
        ours = patch.read_text()
        theirs = (generated / "examples" / "add-a-function" / patch.name).read_text()
        preamble, their_preamble = ours.split("\ndiff ", 1)[0], theirs.split("\ndiff ", 1)[0]
        assert their_preamble == re.sub(
            r"^base-commit: [0-9a-f]{40}$", "base-commit: root", rename.text(preamble), flags=re.M
        )
        assert "base-commit: root\n" in theirs
        generated_patch = generated / "examples" / "add-a-function" / patch.name
        _counted_as_stated(generated, generated_patch, _check_patch(ROOT, patch), rename.text)


def test_an_example_patch_is_moved_three_ways_onto_a_changed_checkout(
    new_binding: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A change beside a patch's context (here a line in shout.patch's context, which plain
    ``git apply`` refuses) is merged; a change to the lines the patch changes stops the
    generator in one line naming the patch, with nothing written."""
    _require_tools(new_binding)
    (name,) = _names(new_binding, 1)
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    for path in new_binding.tracked_files(ROOT):  # the working tree, as the generator sees it
        (clone / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, clone / path)
    functions = clone / "greeter" / "_functions.py"
    source = functions.read_text()
    assert source.count('    "greet_many",\n') == 1
    functions.write_text(
        source.replace('    "greet_many",\n', '    "greet_many",\n    # more greetings\n')
    )
    shout = EXAMPLE_PATCHES / "shout.patch"
    plain = subprocess.run(
        ["git", "apply", "--check", str(shout)], cwd=clone, check=False, capture_output=True
    )
    assert plain.returncode != 0
    monkeypatch.setattr(new_binding, "ROOT", clone)
    dest = tmp_path / "merged"
    new_binding.generate(dest, name)
    assert "    # more greetings\n" in (dest / name / "_functions.py").read_text()
    rename = new_binding.Renamer.to(name)
    moved = dest / "examples" / "add-a-function" / "shout.patch"
    _counted_as_stated(dest, moved, _check_patch(ROOT, shout), rename.text)

    functions.write_text(source.replace('    "live_strings",\n', '    "live_strings",  # last\n'))
    refused = tmp_path / "refused"
    capsys.readouterr()
    assert new_binding.main([str(refused), "--name", name]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    # greeting_length.patch, the first patch in order to do so, adds a line after "live_strings".
    assert err.startswith(
        "new_binding: nothing written: examples/add-a-function/greeting_length.patch does not "
        "apply to this checkout, even three-way (U greeter/_functions.py): remake it as "
    )
    assert err.count("\n") == 1
    assert not refused.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clone", "merged"]


def test_the_longest_name_generates_a_project_its_own_checks_accept(
    new_binding: ModuleType, tmp_path: Path
) -> None:
    """generate() itself runs ruff check, ruff format --check, cargo fmt --check and both drift
    checks in the new project: a name longer than greeter moves lines past the line length,
    and its types sort after ``ThreadStatus`` (an import line beside one an example patch
    changes is reordered). Each example patch applied there leaves the project as formatted
    and lint-clean as it was, counts what the new README states, and stays within the
    recipe's limits."""
    _require_tools(new_binding)
    name = "word_count_py"
    assert len(name) == new_binding.MAX_NAME_LENGTH
    project = tmp_path / name
    new_binding.generate(project, name)
    assert (project / name / "py.typed").is_file()
    rename = new_binding.Renamer.to(name).text
    grown = []
    for patch in sorted(EXAMPLE_PATCHES.glob("*.patch")):
        moved = project / "examples" / "add-a-function" / patch.name
        here = _check_patch(ROOT, patch)
        there = _counted_as_stated(project, moved, here, rename)
        if there > here["total"]:
            grown.append(patch.name)
        tree = tmp_path / f"applied-{patch.stem}"
        _check_patch(project, moved, "--max-lines", "999", "--into", str(tree))
        for command, cwd in [
            (["cargo", "fmt", "--check"], tree / "rust"),
            ([sys.executable, "-m", "ruff", "format", "--check", "--quiet", "."], tree),
            ([sys.executable, "-m", "ruff", "check", "--quiet", "."], tree),
        ]:
            done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
            assert done.returncode == 0, f"{patch.name}: {command}\n{done.stdout}{done.stderr}"
    assert grown, "no example patch takes more lines with a longer name: docs/new-binding.md"


# --- builds: GREETER_BUILD_NEW_BINDINGS=1 ---------------------------------------------------

needs_builds = pytest.mark.skipif(not BUILDS, reason="GREETER_BUILD_NEW_BINDINGS=1 builds projects")


def _readme_commands(project: Path) -> list[str]:
    """The command lines of the README's first ``sh`` block under "## Install"."""
    readme = (project / "README.md").read_text()
    install = readme.split("\n## Install", 1)[1]
    block = install.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def venv_with_two(
    new_binding: ModuleType, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[str], dict[str, str]]:
    """Two generated projects; the first installed and tested by its README's commands in a
    fresh venv, the second installed beside it."""
    _require_tools(new_binding)
    base = tmp_path_factory.mktemp("bindings")
    names = _names(new_binding, 2)
    for name in names:
        new_binding.generate(base / name, name)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GREETER_", "PYTHON"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    env["VIRTUAL_ENV"] = str(venv)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    for name in names:
        # Each project's own build cache (its setup.py reads NAME_BUILD_DIR): the README's
        # second command and the second install reuse the first build instead of a scratch one.
        env[f"{new_binding.Names.of(name).upper}_BUILD_DIR"] = str(base / f"build-{name}")
    return venv, names, env


@needs_builds
def test_a_generated_projects_readme_commands_pass_in_a_fresh_venv(
    venv_with_two: tuple[Path, list[str], dict[str, str]], tmp_path: Path
) -> None:
    venv, names, env = venv_with_two
    project = venv.parent / names[0]
    commands = _readme_commands(project)
    assert len(commands) == 2, commands
    assert all("pip install" in command for command in commands), commands
    outputs = []
    for command in commands:
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, f"{command}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
        outputs.append(done.stdout)
    assert outputs[0].splitlines()[-1] == "Hello, Alice!"
    assert re.search(r"\d+ passed", outputs[1]), outputs[1][-2000:]
    assert " failed" not in outputs[1]


SIDE_BY_SIDE = """
import asyncio, gc, time
from collections import Counter
from pathlib import Path
import {a}, {b}

a, b = {a}, {b}
assert a.greet("Ann") == "Hello, Ann!" and b.greet("Bo") == "Hello, Bo!"
assert a.library_path() != b.library_path()
maps = Path("/proc/self/maps").read_text()
assert str(a.library_path()) in maps and str(b.library_path()) in maps

# Each has its own pool: sizes set apart, threads named apart.
a.shutdown(); b.shutdown()
a.configure_pool(threads=2); b.configure_pool(threads=3)
assert a.pool_size()[0] == 2 and b.pool_size()[0] == 3

async def both():
    calls = [a.greet_async(f"a{{i}}") for i in range(40)]
    calls += [b.{camel_b}("Hi {{name}}").greet_async(f"b{{i}}") for i in range(40)]
    return await asyncio.gather(*calls)

results = asyncio.run(both())
assert results == [f"Async Hello, a{{i}}!" for i in range(40)] + [f"Hi b{{i}}" for i in range(40)]
# A thread names itself once it runs: on a loaded machine that may come after the results.
pools = [("{a}", 2), ("{b}", 3)]
expected = Counter(f"{{m}}-worker-{{i}}"[:{cut}] for m, threads in pools for i in range(threads))
for _ in range(600):
    names = Counter(p.read_text().strip() for p in Path("/proc/self/task").glob("*/comm"))
    if Counter({{n: names[n] for n in expected}}) == expected:
        break
    time.sleep(0.05)
assert Counter({{n: names[n] for n in expected}}) == expected, names

# Live counts and objects are each library's own.
kept = b.{camel_b}("Hey {{name}}")
gc.collect()
assert (a.live_objects(), b.live_objects()) == (0, 1)
with a.greeting("Cy") as s:
    assert (a.live_strings(), b.live_strings()) == (1, 0) and s.value == "Hello, Cy!"
kept.close()

# Shutting one pool down leaves the other's running, and its queue too.
a.shutdown()
try:
    asyncio.run(a.greet_async("x"))
except a.PoolShutDownError:
    pass
else:
    raise AssertionError("a's pool still ran")
async def two_loops_one_each():
    return await b.greet_async("still")
assert asyncio.run(two_loops_one_each()) == "Async Hello, still!"
print("side by side: ok")
"""


@needs_builds
def test_two_generated_projects_live_side_by_side(
    venv_with_two: tuple[Path, list[str], dict[str, str]], new_binding: ModuleType, tmp_path: Path
) -> None:
    venv, names, env = venv_with_two
    for name in names:
        done = subprocess.run(
            [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "--quiet",
                str(venv.parent / name),
            ],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-4000:]
    a, b = names
    script = SIDE_BY_SIDE.format(
        a=a, b=b, camel_b=new_binding.Names.of(b).camel, cut=KERNEL_THREAD_NAME_BYTES
    )
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", textwrap.dedent(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout == "side by side: ok\n"


@needs_builds
def test_each_generated_library_exports_only_its_own_prefix(
    venv_with_two: tuple[Path, list[str], dict[str, str]], new_binding: ModuleType
) -> None:
    """Process-global names: every exported C symbol carries the project's prefix, except the
    tutorial-compatible functions (rust/src/ffi/compat.rs keeps the tutorial's names)."""
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("nm (binutils) is not installed")
    venv, names, env = venv_with_two
    compat = set(
        re.findall(
            r"#\[no_mangle\]\s*pub (?:unsafe )?extern \"C\" fn (\w+)",
            (ROOT / "rust" / "src" / "ffi" / "compat.rs").read_text(),
        )
    )
    for name in names:
        find = f"import {name}; print({name}.library_path())"
        library = subprocess.run(
            [str(venv / "bin" / "python"), "-c", find],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert Path(library).name == f"lib{name}.so"
        symbols = subprocess.run(
            [nm, "-D", "--defined-only", "--format=just-symbols", library],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        unprefixed = {s for s in symbols if not s.startswith(f"{name}_")}
        assert unprefixed == compat, name


@needs_builds
def test_a_generated_projects_example_patches_build_and_pass_their_tests(
    venv_with_two: tuple[Path, list[str], dict[str, str]],
) -> None:
    """The new project's own recipe step (examples/add-a-function/run.sh, which its .ci/run
    runs): each example patch applied to its first commit, counted, built and tested."""
    venv, names, env = venv_with_two
    project = venv.parent / names[0]
    done = subprocess.run(
        ["bash", "examples/add-a-function/run.sh"],
        cwd=project,
        env={**env, "PYTHON": sys.executable},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    patches = sorted(p.name for p in EXAMPLE_PATCHES.glob("*.patch"))
    counted = re.findall(r"^(\S+\.patch): \d+ source files", done.stdout, re.MULTILINE)
    assert counted == patches
    assert done.stdout.splitlines()[-1].startswith("add-a-function: done")
