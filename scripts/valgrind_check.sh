#!/usr/bin/env bash
# Memcheck over a representative greeter workload (benchmarks/workload.py).
#
#   scripts/valgrind_check.sh                 # exit 0: no greeter leak or invalid access
#   scripts/valgrind_check.sh --prove-leak    # leaks one string on purpose: must exit 1
#
# Runs the workload with PYTHONMALLOC=malloc (so Python's own allocations are visible to
# memcheck) against the greeter installed for $PYTHON (default: python3 on PATH). Fails on any
# definitely-lost block, invalid read/write/free, use of uninitialised memory, bad syscall
# argument or overlapping copy whose stack touches the greeter library (libgreeter.so or greeter._greeter_cffi), or when the workload itself fails
# (live_strings() not back to 0). CPython's own exit-time leaks and ld.so's known strncmp
# over-reads never touch greeter and are ignored. scripts/valgrind.supp suppresses exactly the
# allocations cffi keeps for the life of the process. Extra arguments go to the workload
# (for example --rounds 50). VALGRIND_LOG keeps the full log at that path.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# The interpreter itself, not a launcher: valgrind does not follow exec, so a pyenv shim (a
# shell script) would have it check bash while Python runs unchecked.
python="$("${PYTHON:-python3}" -c 'import sys; print(sys.executable)')"
command -v valgrind >/dev/null || { echo "valgrind not found (apt-get install valgrind)" >&2; exit 2; }
log="${VALGRIND_LOG:-$(mktemp -t greeter-valgrind.XXXXXX)}"
start=$SECONDS

workload_status=0
# Run from an empty directory so the installed package is imported, not a source tree.
(cd "$(mktemp -d)" && PYTHONMALLOC=malloc valgrind --tool=memcheck \
    --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite \
    --num-callers=50 --suppressions="$here/valgrind.supp" --log-file="$log" \
    "$python" "$here/../benchmarks/workload.py" "$@") || workload_status=$?

"$python" - "$log" "$workload_status" "$((SECONDS - start))" <<'PY'
import re
import sys

log_path, workload_status, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3]
text = open(log_path, encoding="utf-8", errors="replace").read()
lines = [re.sub(r"^==\d+== ?", "", line) for line in text.splitlines()]
records, current = [], []
for line in lines:
    if line.strip():
        current.append(line)
    elif current:
        records.append(current)
        current = []
if current:
    records.append(current)

# Leaks and invalid accesses, as asked; uninitialised reads, bad syscall arguments and
# overlapping copies too, when they touch greeter (none do today).
BAD = ("definitely lost in loss record", "Invalid read", "Invalid write", "Invalid free",
       "Mismatched free", "uninitialised", "Syscall param", "overlap")
GREETER = ("libgreeter.so", "_greeter_cffi", "greeter::", "greeter_")
bad = [r for r in records if any(k in r[0] for k in BAD) and any(g in l for l in r for g in GREETER)]
other = sum(1 for r in records if any(k in r[0] for k in BAD)) - len(bad)
summary = [l for l in lines if "definitely lost:" in l or "ERROR SUMMARY" in l
           or "suppressed:" in l]
for record in bad:
    print("\n".join(record[:30]))
    print()
print("\n".join(summary))
print(f"valgrind check: {len(bad)} greeter error(s), {other} outside greeter ignored, "
      f"workload exit {workload_status}, {seconds}s; log: {log_path}")
if not any("ERROR SUMMARY" in l for l in lines) or not any("LEAK SUMMARY" in l for l in lines):
    print("valgrind check: memcheck did not cover the workload (no error or leak summary)")
    sys.exit(1)
sys.exit(1 if bad or workload_status else 0)
PY
