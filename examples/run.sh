#!/usr/bin/env bash
# Runs every example against the installed greeter and checks its exact output; the C example is
# built with the compile and link line hello.c documents, as C89, C99 and C++, warnings as
# errors (so the public header is checked too: -Wall -Wextra -pedantic, and extern "C" for C++).
#   PYTHON=.venv/bin/python examples/run.sh        (make examples)
set -euo pipefail
here=$(dirname "$0")
PYTHON=${PYTHON:-python3}
CC=${CC:-cc}
CXX=${CXX:-c++}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

check() { # NAME COMMAND...: runs it, compares stdout with the expected text on stdin
  local name=$1
  shift
  cat >"$out/$name.expected"
  "$@" >"$out/$name.out"
  if ! diff -u "$out/$name.expected" "$out/$name.out"; then
    echo "examples: $name printed something else (diff above)" >&2
    exit 1
  fi
  echo "examples: $name ok"
}

version=$("$PYTHON" -P -c 'import greeter; print(greeter.__version__)')

check hello.py "$PYTHON" "$here/hello.py" <<EOT
8
Hello, Alice!
Hello, Bob!
['Hello, Ann!', 'Hello, Bo!']
Async Hello, Carol!
GreeterOverflowError: 2147483647 + 1 overflows i32
live strings: 0
EOT

check hello_ctypes.py "$PYTHON" "$here/hello_ctypes.py" <<EOT
8
Hello, Alice!
True
library $version
EOT

INC=$("$PYTHON" -P -c 'import greeter; print(greeter.include_dir())')
LIB=$("$PYTHON" -P -c 'import greeter; print(greeter.library_path().parent)')
for std in c89 c99; do
  "$CC" -std=$std -Wall -Wextra -pedantic -Werror -I"$INC" "$here/hello.c" \
    -L"$LIB" -lgreeter -Wl,-rpath,"$LIB" -o "$out/hello-$std"
done
"$CXX" -x c++ -std=c++11 -Wall -Wextra -pedantic -Werror -I"$INC" "$here/hello.c" \
  -L"$LIB" -lgreeter -Wl,-rpath,"$LIB" -o "$out/hello-cxx"
for program in hello-c89 hello-c99 hello-cxx; do
  check "$program" "$out/$program" <<EOT
8
Hello, Alice!
Hello, Bob! (11 bytes)
error 2: name is not valid UTF-8: invalid utf-8 sequence of 1 bytes from index 1
library $version, live strings 0
EOT
done
