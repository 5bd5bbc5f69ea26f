"""Command line: ``python -m greeter greet NAME``, ``python -m greeter add A B``, and
``python -m greeter bench [...]``, which runs the benchmark harness of the source checkout it
is started in (``benchmarks/bench.py``; the package itself ships no benchmark)."""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import greeter


class _OneLineParser(argparse.ArgumentParser):
    """argparse, but bad input gives one line on stderr (no usage dump) and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(
        prog="python -m greeter",
        description="Greetings and sums computed by greeter's Rust library "
        "(the greeter-cffi distribution).",
    )
    parser.add_argument(
        "--version", action="version", version=f"greeter-cffi {greeter.__version__}"
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)

    greet = commands.add_parser("greet", help="print 'Hello, NAME!'")
    greet.add_argument("name", help="who to greet (any text without NUL)")
    greet.add_argument(
        "--async",
        dest="use_async",
        action="store_true",
        help="compute it on a Rust worker thread through asyncio ('Async Hello, NAME!')",
    )

    add = commands.add_parser("add", help="print A + B (32-bit signed integers)")
    add.add_argument("a", type=int, help="a 32-bit signed integer")
    add.add_argument("b", type=int, help="a 32-bit signed integer")

    # Listed for --help only: main() hands everything after "bench" to the harness.
    commands.add_parser("bench", help=f"run {HARNESS} of the checkout this is started in")
    return parser


# The benchmark harness, relative to a source checkout's root (not installed with the package).
HARNESS = Path("benchmarks", "bench.py")
BENCH_PROG = f"python -m {__package__} bench"


def bench(argv: list[str]) -> int:
    """Runs the checkout's harness as ``python benchmarks/bench.py ARGV`` would."""
    harness = Path.cwd() / HARNESS
    if not harness.is_file():
        print(
            f"{BENCH_PROG}: no {HARNESS} here: the benchmarks are not installed with the "
            f"package; run this in a source checkout's root (as `python -P -m greeter bench`, "
            f"so that the installed package is imported) or `python {HARNESS}` there",
            file=sys.stderr,
        )
        return 2
    sys.path.insert(0, str(harness.parent))  # its sibling modules, as for a script
    spec = importlib.util.spec_from_file_location(harness.stem, harness)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {harness}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while decorating
    spec.loader.exec_module(module)
    status: int = module.main(argv, prog=BENCH_PROG)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments[:1] == ["bench"]:
        return bench(arguments[1:])
    parser = _build_parser()
    args = parser.parse_args(arguments)
    try:
        if args.command == "greet":
            if args.use_async:
                print(asyncio.run(greeter.greet_async(args.name)))
            else:
                print(greeter.greet(args.name))
        else:
            print(greeter.add_numbers(args.a, args.b))
    except (ValueError, OverflowError, greeter.GreeterError) as exc:
        # UnicodeEncodeError (a ValueError) carries the whole argument: keep the line short.
        reason = (
            f"name is not valid Unicode text ({exc.reason})"
            if isinstance(exc, UnicodeEncodeError)
            else str(exc)
        )
        print(f"{parser.prog}: error: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
