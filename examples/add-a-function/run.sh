#!/usr/bin/env bash
# The README's recipe "Adding a function", proven for every example patch of this directory
# (or the ones named): check_patch.py applies each to the commit it was made for (its
# "base-commit:" line; never to this working tree) in a scratch directory and counts what it
# changes (a function: at most 3 source files, 30 lines of code; a new object type: 4 and 60,
# as its "limits:" line states); then the header and the typing stub are
# regenerated, the tree is built and installed into a fresh venv, and the Rust boundary's tests
# and the Python tests the patch adds or changes run there; greeter.shout's instructions per
# call are printed beside greet's.
#   PYTHON=.venv/bin/python examples/add-a-function/run.sh [PATCH...]
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

patches=("$@")
[ ${#patches[@]} -gt 0 ] || patches=("$here"/*.patch)
for patch in "${patches[@]}"; do
  patch=$(cd "$(dirname "$patch")" && pwd)/$(basename "$patch")
  name=$(basename "$patch" .patch)
  tree="$work/$name"
  say "$name: applied to the commit it was made for, counted"
  "$PYTHON" "$here/check_patch.py" "$patch" --into "$tree"
  # The Python tests the patch adds or changes.
  mapfile -t tests < <(sed -n 's|^+++ b/\(tests/test_.*\.py\)$|\1|p' "$patch")

  say "$name: header regenerated (cbindgen), then built and installed into a fresh venv"
  (cd "$tree" && scripts/install-cbindgen.sh && "$PYTHON" scripts/header.py)
  "$PYTHON" -m venv "$work/venv-$name"
  (cd "$tree" && "$work/venv-$name/bin/python" -m pip install --quiet --disable-pip-version-check '.[test]')

  say "$name: typing stub regenerated; the package and the patch's tests type-check"
  (cd "$tree" && "$work/venv-$name/bin/python" scripts/gen_stub.py)
  if "$PYTHON" -m mypy --version >/dev/null 2>&1; then
    (cd "$tree" && "$PYTHON" -m mypy --strict greeter "${tests[@]}")
  fi

  say "$name: tests: the boundary's (every export guarded, panics caught), then the Python ones"
  # One test at a time: at a patch's own commit, some tests count process-wide objects while
  # others may run (one such count once saw another test's objects go).
  (cd "$tree/rust" && cargo test --quiet ffi:: -- --test-threads=1)
  # From an empty directory, so that the installed package is imported, not the tree's.
  mkdir "$work/run-$name"
  (cd "$work/run-$name" && "$work/venv-$name/bin/python" -m pytest -q -p no:cacheprovider \
    -c "$tree/pyproject.toml" --rootdir "$tree" "${tests[@]/#/$tree/}")

  # The recipe's text function, as users add theirs: its instructions per call beside greet's
  # (scripts/callgrind_calls.py's recipe row measures greeter.shout where the package has it).
  if [ "$name" = shout ] && command -v valgrind >/dev/null; then
    say "$name: instructions per call of greeter.shout beside greet (callgrind)"
    "$PYTHON" "$tree/scripts/callgrind_calls.py" --python "$work/venv-$name/bin/python" \
      --case 'greet("World")' --case 'a recipe-shaped text function'
  fi
done
say "done"
