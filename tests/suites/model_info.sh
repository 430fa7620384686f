#!/usr/bin/env bash
# `tav info` on the committed small.tavm and on truncated, corrupted and
# wrong-version copies: exit status, and a one-line message naming the problem.
cd "$(dirname "$0")/../.."
PY=${PY:-/usr/bin/python3}
SMALL=tests/data/small.tavm
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# name, expected status, expected text (grep -F on stdout+stderr), command...
t() {
    local name=$1 want=$2 text=$3; shift 3
    "$@" >"$tmp/out" 2>"$tmp/err"; local got=$?
    if [ "$got" -ne "$want" ]; then
        echo "FAIL info_$name: exit $got, wanted $want"; cat "$tmp/out" "$tmp/err"; return
    fi
    if ! cat "$tmp/out" "$tmp/err" | grep -qF -- "$text"; then
        echo "FAIL info_$name: output lacks '$text'"; cat "$tmp/out" "$tmp/err"; return
    fi
    # A bad file gets exactly one line on stderr.
    if [ "$want" -eq 1 ] && [ "$(wc -l <"$tmp/err")" -ne 1 ]; then
        echo "FAIL info_$name: expected one line on stderr"; cat "$tmp/err"; return
    fi
    echo "PASS info_$name"
}

# copy SMALL to $tmp/$1 with python code $2 applied to bytearray b
mutate() {
    "$PY" - "$SMALL" "$tmp/$1" "$2" <<'PYEOF'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
exec(sys.argv[3])
open(sys.argv[2], "wb").write(b)
PYEOF
}

t good 0 "checksum:  sha256 " ./tav info "$SMALL"
t good_verified 0 "(verified)" ./tav info "$SMALL"
t good_vocab_size 0 "vocabulary: 24 tokens" ./tav info "$SMALL"
t good_summary 0 "tensors:   7, 379 parameters" ./tav info "$SMALL"
t good_writer 0 "written by tav-edge 0.1.0" ./tav info "$SMALL"
t tensors_table 0 "dit.final.w" ./tav info --tensors "$SMALL"
t vocab_full 0 '"wide"' ./tav info --vocab "$SMALL"
t no_verify 0 "not verified" ./tav info --no-verify "$SMALL"
t help 0 "usage: tav info" ./tav info --help

size=$(stat -c %s "$SMALL")
head -c $((size - 1)) "$SMALL" >"$tmp/trunc1.tavm"
head -c 1000 "$SMALL" >"$tmp/trunc1000.tavm"
head -c 50 "$SMALL" >"$tmp/trunc50.tavm"
: >"$tmp/empty.tavm"
t truncated_last_byte 1 "file is truncated: $((size - 1)) bytes" ./tav info "$tmp/trunc1.tavm"
t truncated_middle 1 "file is truncated: 1000 bytes" ./tav info "$tmp/trunc1000.tavm"
t truncated_header 1 "truncated inside the 128-byte header" ./tav info "$tmp/trunc50.tavm"
t empty 1 "not a .tavm model file" ./tav info "$tmp/empty.tavm"
t not_a_model 1 "not a .tavm model file" ./tav info tests/data/make_small_tavm.py
t missing 1 "cannot open" ./tav info "$tmp/nope.tavm"

mutate data_byte.tavm 'b[-1] ^= 0x40'
t corrupt_data 1 "checksum mismatch" ./tav info "$tmp/data_byte.tavm"
t corrupt_data_no_verify 0 "not verified" ./tav info --no-verify "$tmp/data_byte.tavm"
mutate dtype.tavm 'i = b.index(b"dit.final.w\0") + 12; b[i] = 9'
t corrupt_dtype 1 "tensor 'dit.final.w' (#6): unknown dtype 9" ./tav info --no-verify "$tmp/dtype.tavm"
t corrupt_dtype_verify 1 "unknown dtype 9" ./tav info "$tmp/dtype.tavm"
mutate offset.tavm 'i = b.index(b"dit.final.w\0") + 12 + 8 + 32; b[i+5] = 1'
t corrupt_offset 1 "tensor 'dit.final.w' (#6): data offset" ./tav info "$tmp/offset.tavm"
mutate version.tavm 'b[8] = 7'
t wrong_version 1 "format version 7, written by tav-edge 0.1.0" ./tav info "$tmp/version.tavm"
mutate count.tavm 'b[24] = 200'
t corrupt_count 1 "200 tensors cannot fit" ./tav info "$tmp/count.tavm"

t usage_no_file 2 "missing FILE" ./tav info
t usage_two_files 2 "one FILE only" ./tav info "$SMALL" "$SMALL"
t usage_bad_flag 2 "unknown option '--frob'" ./tav info --frob "$SMALL"
