"""Sphinx configuration of greeter's API reference (``make docs``).

The Python pages are autodoc over the installed ``greeter`` package; the C page is hawkmoth
over include/greeter.h, whose ``/** */`` comments cbindgen copies from the Rust ``///`` docs.
CI builds it with warnings as errors (``sphinx-build -W``).
"""

from __future__ import annotations

import re
from pathlib import Path

from sphinx.application import Sphinx

import greeter

ROOT = Path(__file__).resolve().parents[2]

project = "greeter-cffi"
author = "the greeter authors"
copyright = "the greeter authors, MIT licence"
release = greeter.__version__
version = release

extensions = ["sphinx.ext.autodoc", "hawkmoth"]

# autodoc: signatures carry the type hints; members in source order.
autodoc_typehints = "signature"
autodoc_member_order = "bysource"

# hawkmoth: parse the public header as C99, with the system headers the C compiler uses.
hawkmoth_root = str(ROOT / "include")
hawkmoth_compiler = "cc"
hawkmoth_clang = ["-std=c99"]

# Every cross-reference must resolve, but the standard library's: there is no network here for
# intersphinx, and Python's own docs document those.
nitpicky = True
nitpick_ignore_regex = [
    ("py:class", r"(collections\.abc|pathlib|typing|asyncio)\..*"),
    ("c:identifier", r"u?int(8|16|32|64)_t|size_t|bool"),
]

html_theme = "alabaster"
html_title = f"greeter-cffi {release}"
exclude_patterns = ["_build"]
default_role = "literal"  # `x` in the Rust /// docs (Markdown) is code


def _code_span(match: re.Match[str]) -> str:
    # reST ends interpreted text only after a non-space: show edge spaces as visible ones.
    text = match.group(1)
    stripped = text.strip(" ")
    left, right = len(text) - len(text.lstrip(" ")), len(text) - len(text.rstrip(" "))
    return "`" + "\u2423" * left + stripped + "\u2423" * right + "`"


def _markdown_to_rest(app: Sphinx, lines: list[str], transform: object, options: object) -> None:
    """The Rust ``///`` docs are Markdown: ``# Safety`` headings become rubrics, and code spans
    with edge spaces (`Hello, `) stay code spans, their edge spaces shown as U+2423."""
    for i in reversed(range(len(lines))):
        if lines[i].startswith("# "):
            lines[i : i + 1] = [f".. rubric:: {lines[i][2:]}", ""]
        else:
            lines[i] = re.sub(r"`([^`]+)`", _code_span, lines[i])


def setup(app: Sphinx) -> None:
    app.connect("hawkmoth-process-docstring", _markdown_to_rest)
