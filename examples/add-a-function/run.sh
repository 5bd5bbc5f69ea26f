#!/usr/bin/env bash
# The README's recipe "Adding a function", proven: applies shout.patch (greeter.shout and
# greeter.shout_async, with their tests) to a scratch copy of this checkout, counts what it
# changes (check_patch.py: at most 3 source files, 30 lines of code), regenerates the header and
# the typing stub, builds and installs it into a fresh venv, and runs the tests.
#   PYTHON=.venv/bin/python examples/add-a-function/run.sh
# The Rust build goes to $SHOUT_TARGET_DIR (default rust/target/add-a-function), so a second
# run is incremental.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
PYTHON=$("${PYTHON:-python3}" -c 'import sys; print(sys.executable)')
export CARGO_TARGET_DIR=${SHOUT_TARGET_DIR:-$root/rust/target/add-a-function}
export PATH="$HOME/.cargo/bin:$PATH"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
start=$SECONDS
say() { printf 'add-a-function: %s (%ss)\n' "$*" "$((SECONDS - start))"; }

say "scratch copy of the tracked files, shout.patch applied"
(cd "$root" && git ls-files -z | xargs -0 cp --parents -t "$work")
cd "$work"
git apply "$here/shout.patch"
"$PYTHON" "$here/check_patch.py" "$here/shout.patch" .

say "header regenerated (cbindgen), then built and installed into a fresh venv"
scripts/install-cbindgen.sh
"$PYTHON" scripts/header.py
grep -q "greeter_shout_submit(" include/greeter.h
"$PYTHON" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check '.[test]'

say "typing stub regenerated; the new functions type-check"
"$work/venv/bin/python" scripts/gen_stub.py
grep -q "def greeter_shout_into(" greeter/_greeter_cffi.pyi
if "$PYTHON" -m mypy --version >/dev/null 2>&1; then
  "$PYTHON" -m mypy --strict greeter tests/test_shout.py
fi

say "tests: the boundary's (every export guarded, panics caught), then the Python ones"
(cd rust && cargo test --quiet ffi::)
# From an empty directory, so that the installed package is imported, not ./greeter.
mkdir "$work/run" && cd "$work/run"
"$work/venv/bin/python" -m pytest -q -p no:cacheprovider -c "$work/pyproject.toml" \
  --rootdir "$work" "$work/tests/test_shout.py" "$work/tests/test_properties.py"
"$work/venv/bin/python" -c 'import asyncio, greeter
print(greeter.shout("World"), asyncio.run(greeter.shout_async("async")))'
say "done"
