#!/usr/bin/env python3
"""Start a new binding from this project: a renamed copy, whole and green.

    python scripts/new_binding.py DEST --name NAME

writes a new project at DEST from the files git tracks in this checkout, as they are in the
working tree (edits not yet committed included; untracked and ignored files left out), with
every spelling of this project's name replaced. For NAME ``my_lib``:

    crate and library        my_lib             (rust/Cargo.toml, libmy_lib.so)
    C functions, constants   my_lib_*, MY_LIB_* (include/my_lib.h, include/my_lib_cdef.h)
    C types                  MyLib*             (CamelCase of NAME: MyLibStatus, ...)
    example object           MyLib              (class my_lib.MyLib, C type MyLibMyLib)
    Python package           my_lib             (and its cffi modules _my_lib_cffi*, the stubs)
    distribution             my_lib-cffi        (wheel and sdist files my_lib_cffi-*)
    environment variables    MY_LIB_*           (MY_LIB_STRIP, MY_LIB_ZIG_GLIBC, ...)
    command, thread names    my_lib, my_lib-worker-N

The rule is one substitution, applied to every file's path and text: greeter -> NAME,
Greeter -> CamelCase of NAME, GREETER -> NAME in upper case. A spelling it does not cover
(any other mix of cases) stops the generator, naming the file. Files listed in UNCHANGED are
copied as they are: LICENSE keeps its copyright line, the new project's one attribution line.

Then, in the new project, it rewrites Cargo.lock for the new crate name, formats Rust (cargo
fmt) and Python (ruff) again, since the names changed line lengths and import order,
regenerates both headers (cbindgen) and the typing stubs, checks that their drift checks pass,
adds a README section on replacing the example domain, starts CHANGELOG.md afresh (its
preamble kept), and makes DEST a git repository with one commit (its CI clones it and checks
the sdist against the files git tracks).

The example patches (examples/add-a-function/*.patch) name the commit they were made for, which
the new project does not have: each is moved onto this checkout's files (a three-way apply,
which needs the blobs of the commit it names, so this checkout's history), renamed, applied
to a copy of the new project's files, formatted there as the new project is (so that a
renamed line that sorts or wraps differently never conflicts), merged file by file into the
regenerated files, and written again as the difference from the new project, marked
``base-commit: root`` (its first and only commit, which check_patch.py reads as such); the
README and docs/adding-a-function.md then state its lines of code as counted there (a longer
name can wrap a line, a shorter one join two). A patch that does not apply or merge stops the
generator, naming the patch, with nothing written. Run it with the dev environment (`make
venv`, then `.venv/bin/python scripts/new_binding.py ...`): it needs git, cargo, cbindgen, ruff
and pycparser.

NAME must be a lower-case identifier (a letter, then letters, digits and single underscores,
at most 13 characters), not a Python keyword, builtin or standard-library module, not a Rust
keyword or standard crate, not a package this project depends on, and must not turn one of
this project's names into another name its code already uses (``greet`` would make the
package and its function ``greet`` one name). DEST must not exist, or be an empty directory.
Either refusal is one line on stderr, exit status 2, and nothing written.
"""

from __future__ import annotations

import argparse
import builtins
import importlib.util
import io
import keyword
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tokenize
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = "greeter"
# Longer names wrap more lines of the example patches, formatted for the new names: at 14
# characters three of the four pass the recipe's limits, and the new project's own recipe
# step and tests would fail (docs/new-binding.md).
MAX_NAME_LENGTH = 13
NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")

# Copied as they are, and why. Every other file is renamed, and must come out with no spelling
# of SOURCE left (tests/test_new_binding.py checks that for every tracked file).
UNCHANGED = {
    "LICENSE": "the MIT license's copyright notice must stay: the new project's attribution",
}

# Where the example domain lives; the new project's README lists them (domain_section()).
DOMAIN_FILES = {
    "rust/src/greeting.rs": "the greeting functions: the work itself, safe Rust, with its tests",
    "rust/src/ffi/greet.rs": "their C exports (`greeter_greet`, `greeter_greet_submit`, ...)",
    "rust/src/ffi/compat.rs": "the tutorial-compatible exports (`greet`, `add_numbers`, ...)",
    "rust/src/template.rs": "the example object's template, parsed once, rendered many times",
    "rust/src/ffi/objects.rs": "the example object's C exports (`greeter_greeter_new`, ...)",
    "greeter/_functions.py": "the Python functions over those exports",
    "greeter/_objects.py": "the example object's Python class, `greeter.Greeter`",
}

# Rust keywords and the crates every Rust program can name: a crate may not be called so.
RUST_RESERVED = frozenset(
    {
        "as",
        "async",
        "await",
        "break",
        "const",
        "continue",
        "crate",
        "dyn",
        "else",
        "enum",
        "extern",
        "false",
        "fn",
        "for",
        "if",
        "impl",
        "in",
        "let",
        "loop",
        "match",
        "mod",
        "move",
        "mut",
        "pub",
        "ref",
        "return",
        "self",
        "static",
        "struct",
        "super",
        "trait",
        "true",
        "type",
        "unsafe",
        "use",
        "where",
        "while",
        "abstract",
        "become",
        "box",
        "do",
        "final",
        "macro",
        "override",
        "priv",
        "try",
        "typeof",
        "unsized",
        "virtual",
        "yield",
        "std",
        "core",
        "alloc",
        "proc_macro",
        "test",
    }
)

# Files whose identifiers count as this project's own names (comments excepted).
PYTHON_SUFFIXES = (".py", ".pyi")
C_LIKE_SUFFIXES = (".rs", ".c", ".h")
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.DOTALL)


class Refused(Exception):
    """A NAME, DEST or environment the generator cannot work with: one line for the user."""


class RegenerationError(Exception):
    """A step in the new project failed (this checkout's own checks would fail too)."""


@dataclass(frozen=True)
class Names:
    """The three spellings of a project name."""

    lower: str
    camel: str
    upper: str

    @classmethod
    def of(cls, name: str) -> Names:
        return cls(name, "".join(part.capitalize() for part in name.split("_")), name.upper())

    def pattern(self) -> re.Pattern[str]:
        return re.compile("|".join(map(re.escape, (self.lower, self.camel, self.upper))))


SOURCE_NAMES = Names.of(SOURCE)
SOURCE_PATTERN = SOURCE_NAMES.pattern()
# Any spelling at all, whatever its case: what must not survive the renaming.
SOURCE_ANY_CASE = re.compile(re.escape(SOURCE), re.IGNORECASE)

# The example patches, and the line above a patch's first diff that names the commit it was
# made for (examples/add-a-function/check_patch.py reads it; "root" is a project's first commit).
EXAMPLE_PATCHES = "examples/add-a-function"
BASE_COMMIT = re.compile(r"^base-commit: \S+$", re.MULTILINE)
FIRST_COMMIT = "root"


@dataclass(frozen=True)
class Renamer:
    """The one substitution: each spelling of SOURCE to the same spelling of the new name."""

    new: Names

    @classmethod
    def to(cls, name: str) -> Renamer:
        return cls(Names.of(name))

    def text(self, text: str) -> str:
        spellings = {
            SOURCE_NAMES.lower: self.new.lower,
            SOURCE_NAMES.camel: self.new.camel,
            SOURCE_NAMES.upper: self.new.upper,
        }
        return SOURCE_PATTERN.sub(lambda m: spellings[m.group()], text)


@dataclass(frozen=True)
class Copied:
    """One tracked file as the new project gets it."""

    source: str  # path in this checkout
    dest: str  # path in the new project
    content: bytes
    unchanged: bool  # copied as it is (UNCHANGED)

    def leftovers(self) -> list[str]:
        """Spellings of SOURCE still in the new path or content (none, unless unchanged)."""
        if self.unchanged:
            return []
        found = SOURCE_ANY_CASE.findall(self.dest)
        found += [
            m.decode(errors="replace") for m in re.findall(rb"(?i)" + SOURCE.encode(), self.content)
        ]
        return sorted(set(found))


def tracked_files(root: Path) -> list[str]:
    """The files git tracks, that exist in the working tree (a deleted one is left out)."""
    if not (root / ".git").exists():
        raise Refused(
            f"{root} is not a git checkout: the new project is made from its tracked files"
        )
    if shutil.which("git") is None:
        raise Refused("git not found on PATH: install git")
    listing = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached"],
        capture_output=True,
        check=True,
    ).stdout.decode()
    return sorted(p for p in listing.split("\0") if p and (root / p).is_file())


def plan(root: Path, name: str, files: Iterable[str] | None = None) -> list[Copied]:
    """Every tracked file of ``root``, renamed for NAME (nothing is written)."""
    rename = Renamer.to(name)
    copies = []
    for path in tracked_files(root) if files is None else files:
        data = (root / path).read_bytes()
        if path in UNCHANGED:
            copies.append(Copied(path, path, data, unchanged=True))
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            content = data  # binary: nothing to rename; leftovers() still looks inside
        else:
            content = rename.text(text).encode("utf-8")
        copies.append(Copied(path, rename.text(path), content, unchanged=False))
    return copies


def own_identifiers(root: Path, files: Iterable[str]) -> dict[str, str]:
    """The identifiers this project's code uses (comments excepted) and its module names,
    each with one file that uses it."""
    found: dict[str, str] = {}
    for path in files:
        suffix = Path(path).suffix
        found.setdefault(Path(path).stem, path)
        if suffix in PYTHON_SUFFIXES:
            text = (root / path).read_text(encoding="utf-8")
            for tok in tokenize.generate_tokens(io.StringIO(text).readline):
                if tok.type == tokenize.NAME:
                    found.setdefault(tok.string, path)
        elif suffix in C_LIKE_SUFFIXES:
            code = COMMENT.sub("", (root / path).read_text(encoding="utf-8"))
            for word in IDENTIFIER.findall(code):
                found.setdefault(word, path)
    return found


def dependency_names(root: Path) -> set[str]:
    """Import-style names (lower case, '_' for '-') of every package pyproject.toml names."""
    with (root / "pyproject.toml").open("rb") as f:
        pyproject = tomllib.load(f)
    requirements = list(pyproject.get("build-system", {}).get("requires", []))
    project = pyproject.get("project", {})
    requirements += project.get("dependencies", [])
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    names = set()
    for requirement in requirements:
        match = re.match(r"[A-Za-z0-9._-]+", requirement)
        if match:
            names.add(re.sub(r"[-.]+", "_", match.group()).lower())
    return names


def check_name(root: Path, name: str, files: list[str]) -> None:
    """Refuses a NAME the new project cannot carry (module docstring)."""
    if not NAME_PATTERN.fullmatch(name):
        raise Refused(
            f"--name {name!r}: not a lower-case identifier (a letter, then letters, digits "
            "and single underscores, e.g. my_lib)"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise Refused(f"--name {name!r}: longer than {MAX_NAME_LENGTH} characters")
    if SOURCE in name:
        raise Refused(f"--name {name!r}: contains {SOURCE!r}, this project's own name")
    if keyword.iskeyword(name) or keyword.issoftkeyword(name):
        raise Refused(f"--name {name!r}: a Python keyword")
    if name in sys.stdlib_module_names:
        raise Refused(f"--name {name!r}: a module of Python's standard library")
    if hasattr(builtins, name):
        raise Refused(f"--name {name!r}: a Python builtin, which the package would shadow")
    if name in RUST_RESERVED:
        raise Refused(f"--name {name!r}: a Rust keyword or standard crate")
    if name in dependency_names(root) or name == "cffi_modules":
        raise Refused(f"--name {name!r}: a package this project depends on")
    identifiers = own_identifiers(root, files)
    rename = Renamer.to(name)
    for identifier in sorted(identifiers):
        if SOURCE_PATTERN.search(identifier):
            renamed = rename.text(identifier)
            if renamed in identifiers and not SOURCE_PATTERN.search(renamed):
                raise Refused(
                    f"--name {name!r}: would rename {identifier} to {renamed}, a name the "
                    f"code already uses ({identifiers[renamed]})"
                )


def check_dest(dest: Path) -> None:
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        raise Refused(f"{dest}: exists and is not a directory")
    if dest.is_dir() and any(dest.iterdir()):
        raise Refused(f"{dest}: exists and is not empty")


def check_tools() -> None:
    """The tools the regeneration runs, each named with how to get it."""
    for tool, hint in [
        ("git", "install git"),
        ("cargo", "install Rust from https://rustup.rs"),
        ("cbindgen", "run scripts/install-cbindgen.sh"),
    ]:
        if shutil.which(tool) is None:
            raise Refused(f"{tool} not found on PATH: {hint}")
    for module in ("ruff", "pycparser"):
        if importlib.util.find_spec(module) is None:
            raise Refused(
                f"{module} is not installed for {sys.executable}: run this script with the "
                "dev environment (make venv; .venv/bin/python scripts/new_binding.py ...)"
            )


def run(cmd: list[str], cwd: Path) -> None:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise RegenerationError(f"{' '.join(cmd)} failed in the new project:\n{output}")


@dataclass(frozen=True)
class ExamplePatch:
    """An example patch moved onto this checkout's files: its text above the first diff, and
    the diff from the tracked files as they are in the working tree."""

    path: str  # in this checkout
    preamble: str
    diff: str


def git(args: list[str], cwd: Path, env: dict[str, str] | None = None, stdin: str = "") -> str:
    done = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=None if env is None else dict(os.environ, **env),
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RegenerationError(f"git {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def rebased_patches(root: Path, files: Iterable[str]) -> list[ExamplePatch]:
    """Each tracked example patch, applied three-way to the tracked files (working tree, edits
    included) in a temporary index: this checkout's own index and files are left alone."""
    patches = []
    for path in sorted(f for f in files if f.startswith(f"{EXAMPLE_PATCHES}/")):
        if not path.endswith(".patch"):
            continue
        text = (root / path).read_text(encoding="utf-8")
        preamble = text.split("\ndiff ", 1)[0].rstrip("\n") + "\n"
        with tempfile.TemporaryDirectory() as tmp:
            index = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
            git(["read-tree", "HEAD"], root, index)
            git(["add", "--update"], root, index)
            tree = git(["write-tree"], root, index).strip()
            try:
                git(["apply", "--3way", "--cached", "-"], root, index, stdin=text)
            except RegenerationError as failure:
                last = str(failure).strip().splitlines()[-1]
                raise RegenerationError(
                    f"{path} does not apply to this checkout, even three-way ({last}): "
                    "remake it as check_patch.py's docstring says"
                ) from None
            diff = git(["diff", "--cached", "--full-index", tree], root, index)
        patches.append(ExamplePatch(path, preamble, diff))
    return patches


def is_generated(path: str) -> bool:
    """A file scripts/header.py or scripts/gen_stub.py writes."""
    return path.startswith("include/") or path.endswith(".pyi")


def patched_paths(diff: str) -> list[str]:
    """The files a diff creates, changes or deletes."""
    return sorted(set(re.findall(r"^diff --git a/\S+ b/(\S+)$", diff, re.MULTILINE)))


def format_sources(project: Path) -> None:
    """Rust (cargo fmt) and Python (ruff's fixes, then its formatter) formatted again: the new
    names sort differently (imports, __all__) and change line lengths, which these put right as
    they would after a rename by hand. The new project and every copy an example patch is
    applied to go through it, so that each patch is written formatted as the project is."""
    run(["cargo", "fmt"], project / "rust")
    run([sys.executable, "-m", "ruff", "check", "--quiet", "--fix", "--exit-zero", "."], project)
    run([sys.executable, "-m", "ruff", "format", "--quiet", "."], project)


def apply_to_copies(
    patches: list[ExamplePatch], project: Path, name: str, scratch: Path
) -> list[tuple[str, Path]]:
    """Per patch, its renamed diff and a copy of the new project (not yet regenerated) with
    that diff applied; and, as ``scratch / "base"``, a copy without it. Each copy is formatted
    as the new project will be (format_sources), so that a copy and the base differ by the
    patch's changes alone, formatted for the new names."""
    rename = Renamer.to(name)
    shutil.copytree(project, scratch / "base", symlinks=True)
    format_sources(scratch / "base")
    copies = []
    for number, patch in enumerate(patches):
        copy = scratch / str(number)
        shutil.copytree(project, copy, symlinks=True)
        diff = rename.text(patch.diff)
        # Outside any repository: git apply patches the copy's files, nothing above it.
        ceiling = {"GIT_CEILING_DIRECTORIES": str(scratch)}
        try:
            git(["apply", "-"], copy, ceiling, stdin=diff)
        except RegenerationError as failure:
            raise RegenerationError(f"{patch.path}, renamed: {failure}") from None
        format_sources(copy)
        copies.append((diff, copy))
    return copies


def merge_onto_regenerated(
    patch: ExamplePatch, diff: str, patched: Path, base: Path, project: Path, merged: Path
) -> None:
    """merged: the regenerated project with the patch's changes merged in, file by file (three
    ways, from the base copy): both copies are formatted as the project is, so the merge meets
    only the patch's changes and what regeneration adds beyond formatting (a README section, a
    new changelog). Then the headers and the stub are made again, for the exports the patch
    adds."""
    shutil.copytree(project, merged, symlinks=True)
    for path in patched_paths(diff):
        new, old, target = patched / path, base / path, merged / path
        if is_generated(path):
            continue  # made again below
        if not new.exists():
            target.unlink(missing_ok=True)
        elif not old.exists() or not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(new, target)
        else:
            done = subprocess.run(
                ["git", "merge-file", "-p", str(target), str(old), str(new)],
                capture_output=True,
                check=False,
            )
            if done.returncode != 0:
                raise RegenerationError(
                    f"{patch.path}: its change to {path} conflicts with the new project's "
                    "regenerated file"
                )
            target.write_bytes(done.stdout)
    run([sys.executable, "scripts/header.py"], merged)
    run([sys.executable, "scripts/gen_stub.py"], merged)


def write_patches(
    patches: list[ExamplePatch], patched: list[Path], project: Path, name: str
) -> None:
    """Each patch again, as the difference between its merged copy and the committed project
    in the files the patch touches (a temporary index: the project's own is left alone), made
    for the project's first commit."""
    rename = Renamer.to(name)
    for patch, copy in zip(patches, patched, strict=True):
        with tempfile.TemporaryDirectory() as tmp:
            env = {
                "GIT_INDEX_FILE": str(Path(tmp) / "index"),
                "GIT_DIR": str(project / ".git"),
                "GIT_WORK_TREE": str(copy),
            }
            git(["read-tree", "HEAD"], copy, env)
            git(["add", "--all"], copy, env)
            paths = patched_paths(rename.text(patch.diff))
            diff = git(["diff", "--cached", "HEAD", "--", *paths], copy, env)
        if not diff:
            raise RegenerationError(f"{patch.path} changes nothing in the new project")
        preamble = BASE_COMMIT.sub(f"base-commit: {FIRST_COMMIT}", rename.text(patch.preamble))
        text = f"{preamble}\n{diff}"
        leftovers = sorted(set(SOURCE_ANY_CASE.findall(text)))
        if leftovers:
            raise RegenerationError(f"{patch.path} keeps {', '.join(leftovers)} after renaming")
        (project / rename.text(patch.path)).write_text(text, encoding="utf-8")


# A patch's size as the docs state it ("three source files, 30 lines of code"), and as
# check_patch.py prints it.
SIZE_CLAIM = re.compile(r"((?:one|two|three|four)\s+source\s+files,\s+)\d+(\s+lines\s+of\s+code)")
COUNTED = re.compile(r"^\S+\.patch: \d+ source files, (\d+) lines of code added$", re.MULTILINE)
# The docs that state it, each split into the parts that link to one patch: the README's
# table rows (lines) and the walkthrough's sections.
SIZE_CLAIMED_IN = {"README.md": "\n", "docs/adding-a-function.md": "\n## "}


def restate_sizes(patches: list[ExamplePatch], project: Path, name: str) -> None:
    """Each patch's lines of code as the new project's check_patch.py counts them, in the README
    row and the walkthrough section that link to it: formatted for the new names, a patch may
    take more lines (a longer name wraps one) or fewer (a shorter name joins two) than here."""
    rename = Renamer.to(name)
    for patch in patches:
        path = rename.text(patch.path)
        done = subprocess.run(
            [sys.executable, f"{EXAMPLE_PATCHES}/check_patch.py", path],
            cwd=project,
            capture_output=True,
            text=True,
            check=False,
        )
        counted = COUNTED.search(done.stdout)
        if counted is None:
            raise RegenerationError(f"{path}: check_patch.py counts nothing:\n{done.stderr}")
        link = f"add-a-function/{Path(path).name})"
        for doc, separator in SIZE_CLAIMED_IN.items():
            parts = (project / doc).read_text(encoding="utf-8").split(separator)
            restated = [
                SIZE_CLAIM.sub(rf"\g<1>{counted.group(1)}\g<2>", part) if link in part else part
                for part in parts
            ]
            (project / doc).write_text(separator.join(restated), encoding="utf-8")


def write(copies: list[Copied], dest: Path) -> None:
    for copy in copies:
        target = dest / copy.dest
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(copy.content)
        shutil.copymode(ROOT / copy.source, target)


def domain_section(name: str) -> str:
    """The new README's section on the example domain: which files hold it, how to replace it."""
    rename = Renamer.to(name)
    rows = "\n".join(
        f"| `{rename.text(path)}` | {rename.text(what)} |" for path, what in DOMAIN_FILES.items()
    )
    return f"""## Replacing the example domain

This project began as a renamed copy of a worked example that greets. The greeting is its
example domain; everything else (the boundary's guard and conversions, the error channel, the
worker pool and completion queues, the object handles, the build, the stub generator, CI) is
plumbing that names no domain. The domain lives in:

| file | what it holds |
|---|---|
{rows}

To make the project yours: add your own functions and object types beside the example ones, as
"Adding a function" shows, with their tests. Then delete the examples you no longer want: the
Rust modules above and their `pub mod` lines (`rust/src/lib.rs`, `rust/src/ffi/mod.rs`; the
crate builds without `greeting.rs`, `ffi/greet.rs` and `ffi/compat.rs`, which
`tests/test_domain.py` checks), their wrappers in the two Python modules above and their tests,
the examples under `examples/` that call them, and their rows in this README. Run
`python scripts/header.py` and `python scripts/gen_stub.py` to regenerate the headers and
stubs, then `pip install '.[test]' && pytest`.

"""


def add_domain_section(readme: Path, name: str) -> None:
    text = readme.read_text(encoding="utf-8")
    section = domain_section(name)
    anchor = "\n## Adding a function"
    at = text.find(anchor)
    text = (
        text.rstrip("\n") + "\n\n" + section
        if at < 0
        else text[: at + 1] + section + text[at + 1 :]
    )
    readme.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


def start_changelog(changelog: Path) -> None:
    """The new project's changelog keeps its preamble, not this project's history."""
    if not changelog.is_file():
        return
    text = changelog.read_text(encoding="utf-8")
    preamble = text.split("\n## ", 1)[0].rstrip("\n")
    changelog.write_text(
        f"{preamble}\n\n## [Unreleased]\n\n### Added\n\n"
        "- The project: a Rust library behind Python through a plain C ABI (cffi, cbindgen),\n"
        "  started as a renamed copy of a worked example by `scripts/new_binding.py`.\n",
        encoding="utf-8",
    )


def relax_line_length(project: Path, patched: list[Path]) -> None:
    """A longer name makes some comments and strings longer than ruff's line length, which the
    formatter does not rewrap: the files that have such lines, in the project or added by an
    example patch (the copies it is applied to), skip the line-length check (a higher limit
    for all would change what other rules accept, ruff's SIM108 among them)."""
    files: set[str] = set()
    for tree in [project, *patched]:
        result = subprocess.run(
            [sys.executable, "-m", "ruff", "check", "--select", "E501", "--output-format=concise"],
            cwd=tree,
            capture_output=True,
            text=True,
            check=False,
        )
        files.update(re.findall(r"^(.+?):\d+:\d+: E501 ", result.stdout, re.MULTILINE))
    if not files:
        return
    pyproject = project / "pyproject.toml"
    ignores = "".join(f'"{path}" = ["E501"]\n' for path in sorted(files))
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8").rstrip("\n")
        + "\n\n[tool.ruff.lint.extend-per-file-ignores]\n"
        "# The project's name is longer than the one it was made from: in these files a few\n"
        "# comments and strings grew past line-length, which the formatter does not rewrap.\n"
        + ignores,
        encoding="utf-8",
    )


def regenerate(project: Path, name: str, patched: list[Path]) -> None:
    """Everything in the new project that follows from the names (module docstring); patched:
    the copies the example patches are applied to."""
    python = sys.executable
    # Cargo.lock lists packages sorted by name: cargo writes it again for the new crate name
    # (keeping every locked version), then the builds' --locked must accept it.
    run(["cargo", "tree", "--offline", "--quiet", "-e", "all"], project / "rust")
    run(["cargo", "tree", "--offline", "--quiet", "-e", "all", "--locked"], project / "rust")
    run([python, "scripts/header.py"], project)
    run([python, "scripts/gen_stub.py"], project)
    format_sources(project)
    relax_line_length(project, patched)
    add_domain_section(project / "README.md", name)
    start_changelog(project / "CHANGELOG.md")
    run([python, "scripts/header.py", "--check"], project)
    run([python, "scripts/gen_stub.py", "--check"], project)
    run([python, "-m", "ruff", "check", "--quiet", "."], project)
    run([python, "-m", "ruff", "format", "--quiet", "--check", "."], project)
    run(["cargo", "fmt", "--check"], project / "rust")
    shutil.rmtree(project / ".ruff_cache", ignore_errors=True)


def commit(project: Path, name: str, amend: bool = False) -> None:
    identity = []
    for key, fallback in [("user.name", f"{name} developers"), ("user.email", f"{name}@localhost")]:
        configured = subprocess.run(
            ["git", "config", key], capture_output=True, text=True, check=False
        )
        if not configured.stdout.strip():
            identity += ["-c", f"{key}={fallback}"]
    if not amend:
        run(["git", "init", "--quiet"], project)
    run(["git", "add", "--all"], project)
    again = ["--amend", "--no-edit"] if amend else ["-m", f"{name}: a new binding"]
    run(["git", *identity, "commit", "--quiet", *again], project)


def generate(dest: Path, name: str) -> list[Copied]:
    """Checks NAME, DEST and the tools, then writes the new project; returns what it copied."""
    files = tracked_files(ROOT)
    check_name(ROOT, name, files)
    check_dest(dest)
    check_tools()
    copies = plan(ROOT, name, files)
    leaks = [(c.dest, c.leftovers()) for c in copies if c.leftovers()]
    if leaks:
        where, spellings = leaks[0]
        raise Refused(
            f"{where} keeps {', '.join(spellings)} after renaming: only {SOURCE_NAMES.lower}, "
            f"{SOURCE_NAMES.camel} and {SOURCE_NAMES.upper} are renamed (write it so, or list "
            "the file in UNCHANGED)"
        )
    patches = rebased_patches(ROOT, files)
    # Built beside DEST and moved into place at the end: a failure leaves nothing behind.
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=dest.parent))
    except OSError as error:
        raise Refused(f"{dest}: cannot write there ({error.strerror})") from None
    try:
        write(copies, staging)
        with tempfile.TemporaryDirectory(prefix=f".{name}-patched-") as tmp:
            scratch = Path(tmp)
            patched = apply_to_copies(patches, staging, name, scratch)
            regenerate(staging, name, [copy for _, copy in patched])
            merged = []
            for number, (patch, (diff, copy)) in enumerate(zip(patches, patched, strict=True)):
                into = scratch / f"merged-{number}"
                merge_onto_regenerated(patch, diff, copy, scratch / "base", staging, into)
                merged.append(into)
            commit(staging, name)
            write_patches(patches, merged, staging, name)
            restate_sizes(patches, staging, name)
        commit(staging, name, amend=True)
        if dest.is_dir():
            dest.rmdir()
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)  # mkdtemp made it private
        staging.rename(dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return copies


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("dest", metavar="DEST", type=Path, help="the new project's directory")
    parser.add_argument("--name", required=True, help="the new project's name, e.g. my_lib")
    args = parser.parse_args(argv)
    try:
        generate(args.dest, args.name)
    except Refused as refusal:
        print(f"new_binding: {refusal}", file=sys.stderr)
        return 2
    except RegenerationError as failure:
        print(f"new_binding: nothing written: {failure}", file=sys.stderr)
        return 1
    print(f"new_binding: {args.name} written to {args.dest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
