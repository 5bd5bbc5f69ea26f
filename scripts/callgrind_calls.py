#!/usr/bin/env python3
"""Instructions per call of greeter's hot sync paths, counted by callgrind.

    python scripts/callgrind_calls.py                     # print the numbers
    python scripts/callgrind_calls.py --save FILE.json    # ... and record them as a baseline
    python scripts/callgrind_calls.py --compare scripts/callgrind_baseline.json
                                                          # exit 1 if a case regressed > 5%

Each case runs twice under ``valgrind --tool=callgrind``, in a fresh interpreter that imports
the *installed* greeter (it runs from an empty directory): once with a plain ``for`` loop of
N calls, once with the same loop whose body is ``pass``. Everything else (startup, imports,
setup, a warm-up of 200 calls) is the same in both runs, so the difference divided by N (and by
the names per call for ``greet_many``) is what one call costs, loop overhead excluded.
Instruction counts do not depend on the machine's load, so they can be compared against a
recorded baseline, unlike timings. ``PYTHONHASHSEED`` is fixed so both runs hash (and so
allocate) the same way.

``--python`` picks the interpreter (default: this one), so an old and a new install in two
venvs can be measured side by side. ``--case NAME`` (repeatable) measures a subset; cases are
defined in :data:`CASES` and a new one is a line there.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Case:
    setup: str  # run once, before the warm-up
    statement: str  # the loop body being measured (lines)
    calls: int  # loop iterations (N)
    per_call: int = 1  # operations per statement: names per greet_many call


CASES: dict[str, Case] = {
    "add_numbers(3, 5)": Case("f = greeter.add_numbers", "f(3, 5)", 20_000),
    'greet("World")': Case("f = greeter.greet", 'f("World")', 20_000),
    "greet_many, per name (1,000 names)": Case(
        'f = greeter.greet_many\nnames = [f"n{i:04d}" for i in range(1000)]',
        "f(names)",
        40,
        per_call=1000,
    ),
    "a bare cffi call (greeter_live_strings)": Case(
        "from greeter._core import lib\nf = lib.greeter_live_strings", "f()", 20_000
    ),
    'Greeter("Hello, {name}!").greet("World")': Case(
        'g = greeter.Greeter("Hello, {name}!")', 'g.greet("World")', 20_000
    ),
    # RustString, the owned-string idiom: read in a with block, or made and closed.
    'with greeting("World") as s: s.value': Case(
        "f = greeter.greeting", 'with f("World") as s:\n    s.value', 20_000
    ),
    'greeting("World").close()': Case("f = greeter.greeting", 'f("World").close()', 20_000),
    # A function added by the README's recipe ("Adding a function"): made by the generic text
    # helper from a map_text_into-shaped short call, here greet's own (greeter.shout once the
    # example patch is applied, as CI does).
    "a recipe-shaped text function": Case(
        "from greeter._strings import text_function\n"
        "from greeter._core import lib\n"
        "shaped = text_function(lib.greeter_greet_into, 'greet, as the recipe makes one')\n"
        "f = getattr(greeter, 'shout', shaped)",
        'f("World")',
        20_000,
    ),
    "Greeter.greet_many, per name (1,000 names)": Case(
        'g = greeter.Greeter("Hello, {name}!")\nnames = [f"n{i:04d}" for i in range(1000)]',
        "g.greet_many(names)",
        40,
        per_call=1000,
    ),
    # The same export through each cffi module: what releasing the GIL costs (docs/design.md).
    "raw greeter_add_numbers(3, 5), GIL released": Case(
        "from greeter._greeter_cffi import lib\nf = lib.greeter_add_numbers", "f(3, 5)", 20_000
    ),
    "raw greeter_add_numbers(3, 5), GIL kept": Case(
        "from greeter._greeter_cffi_short import lib\nf = lib.greeter_add_numbers",
        "f(3, 5)",
        20_000,
    ),
}

PROGRAM = """\
import greeter
{setup}
for _ in range(200):  # warm-up, in both runs: pools filled, specialisations in place
{statement}
def run(n):
    for _ in range(n):
{body}
run({calls})
"""

COLLECTED = re.compile(r"^==\d+== Collected : (\d+)$", re.MULTILINE)


def count_instructions(python: str, program: str, workdir: Path) -> int:
    """Instructions the whole process executes, as callgrind counts them."""
    log = workdir / "callgrind.log"
    env = dict(os.environ, PYTHONHASHSEED="0")
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [
            "valgrind",
            "--tool=callgrind",
            f"--log-file={log}",
            f"--callgrind-out-file={workdir / 'callgrind.out'}",
            python,
            "-c",
            program,
        ],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    text = log.read_text(encoding="utf-8", errors="replace")
    if done.returncode != 0:
        raise RuntimeError(f"the measured program failed ({done.returncode}):\n{done.stderr}")
    match = COLLECTED.search(text)
    if match is None:
        raise RuntimeError(f"no 'Collected' line in callgrind's log:\n{text[-2000:]}")
    return int(match.group(1))


def measure(python: str, case: Case) -> float:
    """Instructions per operation: (N calls - N empty iterations) / (N * per_call)."""
    with tempfile.TemporaryDirectory(prefix="greeter-callgrind-") as tmp:
        workdir = Path(tmp)
        totals = []
        for body in (case.statement, "pass"):
            program = PROGRAM.format(
                setup=case.setup,
                statement=textwrap.indent(case.statement, " " * 4),
                body=textwrap.indent(body, " " * 8),
                calls=case.calls,
            )
            totals.append(count_instructions(python, program, workdir))
    return (totals[0] - totals[1]) / (case.calls * case.per_call)


def interpreter(python: str) -> str:
    """The interpreter itself: valgrind does not follow a launcher's exec (pyenv shims)."""
    done = subprocess.run(
        [python, "-c", "import sys; print(sys.executable)"],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python", default=sys.executable, help="interpreter to measure")
    parser.add_argument("--case", action="append", choices=sorted(CASES), help="only these")
    parser.add_argument("--save", type=Path, help="write the numbers to this JSON file")
    parser.add_argument("--note", default="", help="what was measured, stored by --save")
    parser.add_argument("--compare", type=Path, help="baseline JSON to compare against")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.05,
        help="allowed relative increase over the baseline (default 0.05: 5%%)",
    )
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        print("valgrind not found (apt-get install valgrind)", file=sys.stderr)
        return 2
    python = interpreter(args.python)
    baseline: dict[str, float] = {}
    if args.compare is not None:
        baseline = json.loads(args.compare.read_text(encoding="utf-8"))["instructions_per_call"]
    results: dict[str, float] = {}
    regressed = []
    print(f"callgrind, instructions per call ({python}):")
    for name in args.case or list(CASES):
        value = measure(python, CASES[name])
        results[name] = round(value, 1)
        line = f"  {name:<40} {value:>10,.1f}"
        if name in baseline:
            ratio = value / baseline[name]
            line += f"   baseline {baseline[name]:>10,.1f}   {ratio - 1:+.1%}"
            if ratio > 1 + args.tolerance:
                regressed.append(name)
                line += f"   REGRESSION (> {args.tolerance:.0%})"
        print(line, flush=True)
    if args.save is not None:
        args.save.write_text(
            json.dumps({"measured": args.note, "instructions_per_call": results}, indent=2) + "\n",
            encoding="utf-8",
        )
    if regressed:
        print(f"regressed: {', '.join(regressed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
