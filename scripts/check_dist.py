#!/usr/bin/env python3
"""Check the built distributions in dist/ before anyone installs them.

    python scripts/check_dist.py wheel DIST/greeter_cffi-*.whl [--plat manylinux2014_x86_64]
    python scripts/check_dist.py sdist DIST/greeter_cffi-*.tar.gz

wheel: tagged cp311-abi3 for this platform (or, with --plat, carrying that platform tag, as
auditwheel repair writes it), or under PyPy with PyPy's own tag (pp311-pypy311_pp80); holds
exactly greeter's tracked modules and package-data (pyproject.toml) plus the compiled cffi
extensions (greeter/*.abi3.so, or PyPy's suffix; at least _greeter_cffi), libgreeter.so,
include/greeter.h and the license; every extension finds libgreeter.so through RUNPATH
$ORIGIN alone; all libraries are stripped (pyelftools, which auditwheel brings into the dev
extra).

sdist: holds every file git tracks (but .ci/ and .gitignore), nothing else beyond what
setuptools generates (PKG-INFO, setup.cfg, *.egg-info/), and so no rust/target/, no binary.
A readme that pyproject.toml names but the tree lacks is reported as a warning.
"""

from __future__ import annotations

import argparse
import fnmatch
import io
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

ROOT = Path(__file__).resolve().parent.parent
NOT_IN_SDIST = (".ci/", ".gitignore")
if sys.implementation.name == "cpython":
    # One wheel for every CPython >= 3.11: the extensions use the limited API only.
    INTERPRETER_TAG, EXT_SUFFIX = "cp311-abi3", ".abi3.so"
else:
    # PyPy: a wheel for this PyPy's ABI (pp311-pypy311_pp80), with its extension suffix.
    soabi: str = sysconfig.get_config_var("SOABI")
    INTERPRETER_TAG = f"pp{sys.version_info[0]}{sys.version_info[1]}-{soabi.replace('-', '_')}"
    EXT_SUFFIX = sysconfig.get_config_var("EXT_SUFFIX")
BUILT = {
    f"greeter/_greeter_cffi{EXT_SUFFIX}",
    f"greeter/_greeter_cffi_short{EXT_SUFFIX}",
    "greeter/libgreeter.so",
    "greeter/include/greeter.h",
}
# Further cffi modules (setup.py builds every one ffi_build.py declares) are checked the same way.
EXTENSIONS = f"greeter/*{EXT_SUFFIX}"


def tracked_files() -> set[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.decode()
    return {name for name in out.split("\0") if name}


def shipped_sources() -> set[str]:
    """The tracked files the wheel must carry: greeter's modules and its package-data."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        setuptools = tomllib.load(f)["tool"]["setuptools"]
    patterns = ["*.py", *setuptools.get("package-data", {}).get("greeter", [])]
    return {
        name
        for name in tracked_files()
        if name.startswith("greeter/")
        and any(fnmatch.fnmatch(name.removeprefix("greeter/"), p) for p in patterns)
    }


def report(problems: list[str], what: Path) -> int:
    for problem in problems:
        print(f"{what.name}: {problem}", file=sys.stderr)
    if not problems:
        print(f"{what.name}: ok ({what.stat().st_size / 1024:.0f} KiB)")
    return 1 if problems else 0


def elf_problems(name: str, data: bytes, runpath: str | None) -> list[str]:
    elf = ELFFile(io.BytesIO(data))
    problems = []
    if elf.get_section_by_name(".symtab") is not None:
        problems.append(f"{name} is not stripped (.symtab present)")
    if elf.get_section_by_name(".debug_info") is not None:
        problems.append(f"{name} carries debug info")
    tags: dict[str, list[str]] = {}
    for section in elf.iter_sections():
        if isinstance(section, DynamicSection):
            for tag in section.iter_tags():
                for key in ("runpath", "rpath", "needed"):
                    if hasattr(tag, key):
                        tags.setdefault(key, []).append(getattr(tag, key))
    if tags.get("rpath"):
        problems.append(f"{name} has DT_RPATH {tags['rpath']}")
    if tags.get("runpath", []) != ([runpath] if runpath else []):
        problems.append(f"{name} has RUNPATH {tags.get('runpath')}, want {runpath}")
    return problems


def check_wheel(path: Path, plat: str | None) -> int:
    problems: list[str] = []
    platform = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    with zipfile.ZipFile(path) as wheel:
        names = {n for n in wheel.namelist() if not n.endswith("/")}  # auditwheel adds dirs
        info = next(PurePosixPath(n).parts[0] for n in names if ".dist-info/" in n)
        tags = [
            line.split(":", 1)[1].strip()
            for line in wheel.read(f"{info}/WHEEL").decode().splitlines()
            if line.startswith("Tag:")
        ]
        if plat is None and tags != [f"{INTERPRETER_TAG}-{platform}"]:
            problems.append(f"tags {tags}, want {INTERPRETER_TAG}-{platform}")
        if plat is not None and f"{INTERPRETER_TAG}-{plat}" not in tags:
            problems.append(f"tags {tags}, want {INTERPRETER_TAG}-{plat} among them")
        package = {n for n in names if not n.startswith(info)}
        extensions = {n for n in package if fnmatch.fnmatch(n, EXTENSIONS)}
        wanted = shipped_sources() | BUILT | extensions
        if package - wanted:
            problems.append(f"unexpected files (add to BUILT if meant): {sorted(package - wanted)}")
        if wanted - package:
            problems.append(f"missing files: {sorted(wanted - package)}")
        if f"{info}/licenses/LICENSE" not in names:
            problems.append("no LICENSE in the .dist-info")
        libraries = [(name, "$ORIGIN") for name in sorted(extensions)]
        for name, runpath in [*libraries, ("greeter/libgreeter.so", None)]:
            if name in names:
                problems += elf_problems(name, wheel.read(name), runpath)
    return report(problems, path)


def strip_top(names: Iterable[str]) -> set[str]:
    return {"/".join(PurePosixPath(n).parts[1:]) for n in names if len(PurePosixPath(n).parts) > 1}


def check_sdist(path: Path) -> int:
    problems: list[str] = []
    with tarfile.open(path) as sdist:
        files = strip_top(m.name for m in sdist.getmembers() if m.isfile())
    wanted = {n for n in tracked_files() if not n.startswith(NOT_IN_SDIST)}
    missing = wanted - files
    generated = {n for n in files - wanted if n in {"PKG-INFO", "setup.cfg"} or ".egg-info/" in n}
    extra = files - wanted - generated
    if missing:
        problems.append(f"missing tracked files: {sorted(missing)}")
    if extra:
        problems.append(f"files git does not track: {sorted(extra)}")
    for required in ["LICENSE", "pyproject.toml", "rust/Cargo.lock"]:
        if required not in files:
            problems.append(f"no {required}")
    with (ROOT / "pyproject.toml").open("rb") as f:
        readme = tomllib.load(f)["project"].get("readme")
    if isinstance(readme, str) and readme not in files:
        # Not fatal while the file is absent from the tree; once committed, the tracked-file
        # rule above requires it.
        print(f"{path.name}: WARNING: pyproject's readme {readme} is not in the sdist (committed?)")
    return report(problems, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("kind", choices=["wheel", "sdist"])
    parser.add_argument("path", type=Path)
    parser.add_argument("--plat", help="a wheel: the platform tag it must carry")
    args = parser.parse_args()
    return check_wheel(args.path, args.plat) if args.kind == "wheel" else check_sdist(args.path)


if __name__ == "__main__":
    sys.exit(main())
