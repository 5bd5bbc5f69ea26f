#!/usr/bin/env bash
# Installs the pinned cbindgen that generates include/greeter.h. The version is part of the
# header ("Generated with cbindgen:X"), so everyone must use the same one.
set -euo pipefail
CBINDGEN_VERSION="0.29.2"
if command -v cbindgen >/dev/null 2>&1 && [ "$(cbindgen --version)" = "cbindgen $CBINDGEN_VERSION" ]; then
  exit 0
fi
cargo install cbindgen --version "$CBINDGEN_VERSION" --locked
