#!/usr/bin/env python3
"""Generate include/greeter.h and include/greeter_cdef.h from rust/ with cbindgen.

    python scripts/header.py           # regenerate both headers
    python scripts/header.py --check   # exit 1 if a committed header differs from rust/

greeter.h is the public header (set_source includes it, so the C compiler checks every
declaration); greeter_cdef.h is the same API without #include/#ifdef lines, for cffi's cdef().
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUST = ROOT / "rust"
HEADERS = {
    "cbindgen.toml": ROOT / "include" / "greeter.h",
    "cbindgen-cdef.toml": ROOT / "include" / "greeter_cdef.h",
}


def run_cbindgen(config: str, output: Path, verify: bool) -> int:
    cmd = ["cbindgen", "--quiet", "--config", config, "--output", str(output)]
    if verify:
        cmd.append("--verify")  # exits 2 when the output would change
    return subprocess.run([*cmd, "."], cwd=RUST, check=False).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail on drift instead of writing")
    args = parser.parse_args()
    if shutil.which("cbindgen") is None:
        print("cbindgen not found: run scripts/install-cbindgen.sh", file=sys.stderr)
        return 2
    stale = []
    with tempfile.TemporaryDirectory() as tmp:
        for config, header in HEADERS.items():
            if args.check:
                # cbindgen --verify still rewrites its output on drift: verify a copy, so a
                # check never repairs the committed header behind the developer's back.
                target = Path(tmp) / header.name
                shutil.copyfile(header, target)
            else:
                target = header
            if run_cbindgen(config, target, verify=args.check) != 0:
                stale.append(header.relative_to(ROOT))
    if stale:
        if args.check:
            names = ", ".join(map(str, stale))
            print(f"stale header(s): {names}; run: python scripts/header.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
