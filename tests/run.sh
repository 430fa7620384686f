#!/usr/bin/env bash
# Runs every test program given on the command line, then the Python tests,
# and prints one closing line "N passed, N failed, N skipped".
#
# A test program prints "PASS name" / "FAIL name" / "SKIP name: why" lines.
# A program that exits non-zero without printing a FAIL (a crash, a sanitizer
# report) counts as one failure under its own name.
set -u
cd "$(dirname "$0")/.."
PY=${PY:-/usr/bin/python3}
passed=0; failed=0; skipped=0
failures=()
logdir=build/test-logs
mkdir -p "$logdir"

count_output() {  # $1 = name, $2 = log file, $3 = exit status
    local p f s
    p=$(grep -c '^PASS ' "$2"); f=$(grep -c '^FAIL ' "$2"); s=$(grep -c '^SKIP ' "$2")
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    grep -E '^(FAIL|SKIP) ' "$2" | sed 's/^/  /'
    grep '^FAIL ' "$2" | sed "s|^FAIL |$1: |" | while read -r l; do echo "$l"; done >> "$logdir/failures"
    if [ "$3" -ne 0 ] && [ "$f" -eq 0 ]; then
        failed=$((failed + 1)); echo "  FAIL $1 (exit status $3; see $2)"
        echo "$1: exit status $3" >> "$logdir/failures"
    fi
}

: > "$logdir/failures"
for t in "$@"; do
    name=$(basename "$t")
    log="$logdir/$name.log"
    echo "== $name"
    "$t" > "$log" 2>&1
    count_output "$name" "$log" $?
done

# Python tests (train/ toolchain): unittest, one PASS/FAIL line per test.
if ls tests/py/test_*.py >/dev/null 2>&1; then
    log="$logdir/python.log"
    echo "== python (tests/py)"
    "$PY" tests/py/runner.py > "$log" 2>&1
    count_output python "$log" $?
fi

# Extra suites that are scripts (e.g. NEON under qemu, browser): tests/suites/*.sh
for s in tests/suites/*.sh; do
    [ -e "$s" ] || continue
    name=$(basename "$s" .sh)
    log="$logdir/$name.log"
    echo "== $name"
    bash "$s" > "$log" 2>&1
    count_output "$name" "$log" $?
done

if [ -s "$logdir/failures" ]; then
    echo; echo "Failures (logs in $logdir):"; sed 's/^/  /' "$logdir/failures"
fi
echo
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
