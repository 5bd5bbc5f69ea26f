#!/usr/bin/env bash
# A Debian sid chroot with the interpreters this machine's own Debian does not ship:
# PyPy 3.11 (pypy3, pypy3-dev, pypy3-venv), CPython 3.14 and 3.15 (with venv), gcc with
# libc6-dev, make and git (to build greeter and its wheels there).
#
#   scripts/chroot.sh create ROOT          debootstrap ROOT unless it is already complete
#   scripts/chroot.sh run ROOT DIR CMD...  run CMD inside ROOT with DIR (a checkout) at /src as the
#                                          working directory, and the host's cargo and rustup at hand
#                                          (building into the chroot's own /root/cargo-target: its
#                                          glibc is newer than the host's)
#
# Needs root, debootstrap and unshare. /proc, a tmpfs on /dev/shm and the bind mounts are made in
# a private mount namespace (unshare --mount --propagation private): they vanish with the command,
# so removing ROOT can never reach the host's /proc, /dev or home directory.
set -euo pipefail

# The packages the chroot holds besides minbase.
PACKAGES=pypy3,pypy3-dev,pypy3-venv,python3.14,python3.14-venv,python3.15,python3.15-venv,gcc,libc6-dev,make,git,ca-certificates
# The suite that ships them; bookworm's debootstrap has no script named after newer suites, sid's serves them.
SUITE=sid
HOST_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
# Written last by `create`: a ROOT without it is an interrupted debootstrap and is made again.
COMPLETE_MARK=.greeter-chroot-complete

usage() {
  sed -n '2,14p' "$0" >&2
  exit 2
}

# The Debian mirror this machine's apt sources already name (deb822 or one-line format).
host_mirror() {
  local mirror
  mirror=$(grep -rhoE '^(URIs:[[:space:]]*|deb[[:space:]]+)https?://[^[:space:]]+/debian/?([[:space:]]|$)' \
    /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null |
    grep -oE 'https?://[^[:space:]]+' | head -n 1 || true)
  echo "${mirror:-http://deb.debian.org/debian}"
}

create() {
  local root=$1
  if [ -e "$root/$COMPLETE_MARK" ]; then
    echo "chroot: $root is complete"
    return
  fi
  command -v debootstrap >/dev/null || {
    echo "chroot: debootstrap is missing (apt-get update && apt-get install debootstrap)" >&2
    exit 1
  }
  rm -rf "$root"
  mkdir -p "$root"
  local mirror
  mirror=$(host_mirror)
  echo "chroot: debootstrap $SUITE from $mirror into $root"
  # debootstrap mounts /proc and /sys in ROOT while it works: in a namespace of its own, so that
  # an interrupted run leaves no mount behind under ROOT.
  unshare --mount --propagation private -- debootstrap --variant=minbase --include="$PACKAGES" \
    "$SUITE" "$root" "$mirror" /usr/share/debootstrap/scripts/sid
  # The archive's Release files may be past their Valid-Until date (a snapshot mirror).
  printf 'Acquire::Check-Valid-Until "false";\n' >"$root/etc/apt/apt.conf.d/99no-valid-until"
  # pip (and cargo, for test dependencies PyPy builds from source) trust what the host trusts.
  cp "$HOST_CA_BUNDLE" "$root/etc/ssl/certs/ca-certificates.crt"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  touch "$root/$COMPLETE_MARK"
}

run() {
  local root=$1 dir=$2
  shift 2
  [ -e "$root/$COMPLETE_MARK" ] || {
    echo "chroot: $root is not complete; run: $0 create $root" >&2
    exit 1
  }
  dir=$(cd "$dir" && pwd)
  local cargo_home=${CARGO_HOME:-$HOME/.cargo} rustup_home=${RUSTUP_HOME:-$HOME/.rustup}
  # Inside the namespace: mount, then chroot. Arguments reach the inner shell as "$@".
  # shellcheck disable=SC2016
  unshare --mount --propagation private -- bash -euc '
    root=$1 dir=$2 cargo_home=$3 rustup_home=$4
    shift 4
    mount -t proc proc "$root/proc"
    mkdir -p "$root/dev/shm" "$root/src" "$root/opt/cargo" "$root/opt/rustup"
    mount -t tmpfs -o mode=1777 tmpfs "$root/dev/shm"
    mount --bind "$dir" "$root/src"
    if [ -d "$cargo_home" ] && [ -d "$rustup_home" ]; then
      mount --bind "$cargo_home" "$root/opt/cargo"
      mount --bind "$rustup_home" "$root/opt/rustup"
    fi
    exec chroot "$root" /usr/bin/env -i HOME=/root LANG=C.UTF-8 \
      PATH=/opt/cargo/bin:/usr/local/bin:/usr/bin:/bin \
      CARGO_HOME=/opt/cargo RUSTUP_HOME=/opt/rustup CARGO_TARGET_DIR=/root/cargo-target \
      SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
      PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
      CARGO_HTTP_CAINFO=/etc/ssl/certs/ca-certificates.crt \
      PIP_DISABLE_PIP_VERSION_CHECK=1 \
      /bin/bash -euc "cd /src && exec \"\$@\"" chroot-run "$@"
  ' chroot-ns "$root" "$dir" "$cargo_home" "$rustup_home" "$@"
}

[ $# -ge 2 ] || usage
command=$1
shift
case $command in
create) create "$1" ;;
run)
  [ $# -ge 3 ] || usage
  run "$@"
  ;;
*) usage ;;
esac
