"""Command line: ``python -m greeter greet NAME``, ``python -m greeter add A B``,
``python -m greeter bench [--quick] [--plot FILE.png] [--soak]``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
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

    bench = commands.add_parser(
        "bench",
        help="time greeter against raw cffi, cffi ABI mode, ctypes and a C API floor",
        description="Time greeter against raw cffi, cffi ABI mode, ctypes and a CPython C API "
        "floor compiled now (needs a C compiler); print the times, their paired ratios and "
        "what a bare FFI call costs on this machine. Needs the bench extra for --plot and "
        "--json: pip install 'greeter-cffi[bench]'.",
    )
    from greeter._bench import add_arguments

    add_arguments(bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command == "bench":
        from greeter._bench import run

        return run(args)
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
