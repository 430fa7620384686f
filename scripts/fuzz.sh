#!/usr/bin/env bash
# Runs every libFuzzer harness tests/fuzz/fuzz_<name>.c for SECONDS each
# (`make fuzz` calls this with FUZZ_SECONDS, default 60).
#
#   scripts/fuzz.sh [SECONDS] [NAME...]     e.g. scripts/fuzz.sh 300 model
#
# Each harness is built with clang -fsanitize=fuzzer,address,undefined into
# build/fuzz/. Sources: a harness may list what it needs on a line
#   " * fuzz-sources: core/model_file.c core/mem.c ..."
# (fast, no external libraries); without that line it is linked against the
# whole library, built once by the Makefile with clang and
# -fsanitize=fuzzer-no-link into build/fuzz/lib/, and the Makefile's libraries. It runs on a copy of tests/fuzz/corpus/<name>/ in
# build/fuzz/corpus-<name>/ (new inputs land there, the committed corpus is
# untouched); crashes are saved in build/fuzz/crash-<name>-*. A harness with a
# tests/fuzz/<name>.dict gets it as -dict. Exit status 1 if any harness
# crashed or failed to build.
set -u
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
CC=${FUZZ_CC:-clang}
out=build/fuzz
mkdir -p "$out"
FLAGS="-std=c11 -D_GNU_SOURCE -I. -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined"

if ! command -v "$CC" >/dev/null; then
    echo "fuzz: $CC not found (scripts/install-deps.sh test installs clang)" >&2; exit 1
fi

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for f in tests/fuzz/fuzz_*.c; do
        [ -e "$f" ] || continue
        n=$(basename "$f" .c); names+=("${n#fuzz_}")
    done
fi

status=0
for name in "${names[@]}"; do
    src=tests/fuzz/fuzz_$name.c
    bin=$out/fuzz_$name
    deps=$(sed -n 's/^.*fuzz-sources:[[:space:]]*//p' "$src" | head -1)
    if [ -n "$deps" ]; then
        # shellcheck disable=SC2086
        build_cmd=("$CC" $FLAGS -o "$bin" "$src" $deps -lm -pthread)
    else
        # The whole library, built by the Makefile (its per-ISA flags and source
        # lists) with clang and fuzzer instrumentation, into build/fuzz/lib.
        if [ -z "${fuzz_lib_built:-}" ]; then
            echo "== building the instrumented library (build/fuzz/lib/libtav.a)"
            make -s -j2 CC="$CC" ASAN=$out/lib \
                SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" \
                $out/lib/libtav.a || { echo "FAIL fuzz: library build failed"; exit 1; }
            fuzz_lib_built=1
        fi
        # the Makefile's LIBS (keep in sync)
        libs="$(pkg-config --libs libavformat libavcodec libswscale libavutil 2>/dev/null) \
              -lsqlite3 -lpng -ljpeg -lopenblas -lmicrohttpd -lpthread -lm"
        # shellcheck disable=SC2086
        build_cmd=("$CC" $FLAGS $(pkg-config --cflags libavformat 2>/dev/null) -o "$bin" "$src" \
                   $out/lib/libtav.a $libs)
    fi
    echo "== fuzz_$name: building"
    if ! "${build_cmd[@]}"; then
        echo "FAIL fuzz_$name: build failed"; status=1; continue
    fi
    corpus=$out/corpus-$name
    mkdir -p "$corpus"
    [ -d tests/fuzz/corpus/$name ] && cp -n tests/fuzz/corpus/$name/* "$corpus/" 2>/dev/null
    dict=()
    [ -f tests/fuzz/$name.dict ] && dict=(-dict=tests/fuzz/$name.dict)
    log=$out/fuzz_$name.log
    echo "== fuzz_$name: ${secs}s on $corpus (log $log)"
    "$bin" -max_total_time="$secs" -max_len=16384 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$out/crash-$name-" "${dict[@]}" "$corpus" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units:[[:space:]]*//p' "$log" | tail -1)
    cov=$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' )
    if [ "$rc" -eq 0 ]; then
        echo "PASS fuzz_$name: ${execs:-?} executions in ${secs}s, $cov"
    else
        echo "FAIL fuzz_$name: exit $rc after ${execs:-?} executions; see $log and $out/crash-$name-*"
        grep -m3 -E 'ERROR|SUMMARY|fuzz_' "$log" | sed 's/^/    /'
        status=1
    fi
done
exit $status
