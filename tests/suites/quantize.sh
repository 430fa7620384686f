#!/usr/bin/env bash
# `tav quantize`: usage errors (exit 2), run-time failures (exit 1, nothing
# written), a good run on the tiny golden model (exit 0, the file reads back
# with s8 tensors, the report CSV), --keep, --compare.
cd "$(dirname "$0")/../.."
T=build/test-tmp/quantize-suite
rm -rf "$T"; mkdir -p "$T"
TINY=tests/data/tiny.tavm
OUT=$T/out.log
t() {  # name, expected status, command...
    local name=$1 want=$2; shift 2
    "$@" >"$OUT" 2>&1; local got=$?
    if [ "$got" -eq "$want" ]; then echo "PASS quantize_$name"; else
        echo "FAIL quantize_$name: exit $got, wanted $want"; cat "$OUT"; fi
}
has() {  # name, pattern: the last command's output contains pattern
    if grep -q -- "$2" "$OUT"; then echo "PASS quantize_$1"; else
        echo "FAIL quantize_$1: output lacks '$2'"; cat "$OUT"; fi
}
absent() {  # name, file: must not exist
    if [ ! -e "$2" ]; then echo "PASS quantize_$1"; else echo "FAIL quantize_$1: $2 exists"; fi
}

# usage
t help 0 ./tav quantize --help
has help_text "max-nmse"
t no_args 2 ./tav quantize
t one_arg 2 ./tav quantize "$TINY"
t three_args 2 ./tav quantize "$TINY" "$T/a.tavm" "$T/b.tavm"
t unknown_flag 2 ./tav quantize --frob "$TINY" "$T/a.tavm"
t bad_nmse 2 ./tav quantize --max-nmse abc "$TINY" "$T/a.tavm"
t negative_nmse 2 ./tav quantize --max-weight-nmse -1 "$TINY" "$T/a.tavm"
t keep_no_value 2 ./tav quantize "$TINY" "$T/a.tavm" --keep
t no_calib_conflict 2 ./tav quantize --no-calib --max-nmse 0.1 "$TINY" "$T/a.tavm"
has usage_hint "Try 'tav quantize --help'"
absent usage_writes_nothing "$T/a.tavm"

# a good run
t tiny 0 ./tav quantize "$TINY" "$T/tiny-int8.tavm" --report "$T/report.csv"
has tiny_table "dit.blocks.0.attn_s.q.weight"
has tiny_totals "47 of 117 tensors int8"
has tiny_calib_honest "calibration:"
t tiny_reads_back 0 ./tav info -v "$T/tiny-int8.tavm"
has tiny_s8 "s8       47 tensors"
has tiny_provenance "quant.source_sha256"
if [ "$(wc -l < "$T/report.csv")" -eq 118 ] && head -1 "$T/report.csv" | grep -q '^tensor,shape,'; then
    echo "PASS quantize_report_csv"; else echo "FAIL quantize_report_csv"; cat "$T/report.csv"; fi

# --keep: every dit.* tensor stays f32
t keep 0 ./tav quantize --keep 'dit.*' --keep 'ae.*' "$TINY" "$T/keep.tavm"
./tav info -v "$T/keep.tavm" >"$OUT" 2>&1
if grep -E '^ +[0-9]+ +(dit|ae)\.' "$OUT" | grep -q ' s8 '; then
    echo "FAIL quantize_keep_applied"; grep ' s8 ' "$OUT"; else echo "PASS quantize_keep_applied"; fi
has keep_text_still_int8 "s8        7 tensors"

# calibration: output NMSE measured on prompts through the fp32 engine
t calib_default 0 ./tav quantize "$TINY" "$T/c.tavm" --report "$T/c.csv"
has calib_default_note "calibration: 3 prompts"
if awk -F, 'NR>1 && $2 ~ /x/ && $1 !~ /emb|pos_/ && ($7 == "" || $8 == 0) {bad=1} END {exit bad}' "$T/c.csv"; then
    echo "PASS quantize_calib_every_linear_measured"; else
    echo "FAIL quantize_calib_every_linear_measured"; cat "$T/c.csv"; fi
printf '# calibration prompts\n\na red gear moves along the conveyor | the press stamps a blue plate\n' > "$T/prompts.txt"
t calib_file 0 ./tav quantize --calib "$T/prompts.txt" "$TINY" "$T/c2.tavm"
has calib_file_note "1 prompts from the caller"
printf 'the sprocket wobbles\n' > "$T/bad-prompts.txt"
t calib_unknown_word 1 ./tav quantize --calib "$T/bad-prompts.txt" "$TINY" "$T/c3.tavm"
has calib_unknown_word_named "sprocket"
absent calib_unknown_word_nothing "$T/c3.tavm"
t calib_missing_file 1 ./tav quantize --calib "$T/nope.txt" "$TINY" "$T/c3.tavm"
: > "$T/empty.txt"
t calib_empty_file 1 ./tav quantize --calib "$T/empty.txt" "$TINY" "$T/c3.tavm"
t max_nmse 0 ./tav quantize --max-nmse 6e-5 "$TINY" "$T/c4.tavm"
has max_nmse_applied "output NMSE above --max-nmse"
t no_calib 0 ./tav quantize --no-calib "$TINY" "$T/c5.tavm"
has no_calib_note "calibration: not run (disabled)"

# --compare: end-to-end frame error of one file against another
# The tiny model's int8 frames measure NMSE ~5e-4, max byte diff 2 (3 seeds);
# the bound is the engine parity test's int8 NMSE tolerance (TOL_NMSE_INT8 in
# tests/test_engine_parity.c, 2e-3): a wrong op or scale gives > 1e-2.
COMPARE_MAX_NMSE=2e-3
P1="a red gear moves along the conveyor | the press stamps a blue plate"
t compare_help 0 ./tav quantize --compare --help
has compare_help_text "frame NMSE"
t compare_self 0 ./tav quantize --compare "$T/tiny-int8.tavm" "$T/tiny-int8.tavm" -p "$P1"
if grep -Eq '^overall +18 +0\.000e\+00 +inf +0\.000 +0$' "$OUT"; then echo "PASS quantize_compare_self_zero"
else echo "FAIL quantize_compare_self_zero"; cat "$OUT"; fi
t compare_int8 0 ./tav quantize --compare "$TINY" "$T/tiny-int8.tavm" -p "$P1" -p "the robot welds a plate" --seed 4 --seeds 2
if awk -v b=$COMPARE_MAX_NMSE '$1 == "overall" { ok = ($2 == 2 * (6 + 3) && $3 > 0 && $3 < b && $6 > 0) }
        END { exit !ok }' "$OUT" && [ "$(grep -Ec '^[12] +[0-9]+ ' "$OUT")" -eq 2 ]; then
    echo "PASS quantize_compare_int8_bounded"; else echo "FAIL quantize_compare_int8_bounded"; cat "$OUT"; fi
printf '# prompts\n%s\n' "$P1" > "$T/cmp.txt"
t compare_prompts_file 0 ./tav quantize --compare "$TINY" "$T/tiny-int8.tavm" --prompts "$T/cmp.txt" --seeds 1
has compare_prompts_file_row "^overall  *6 "
t compare_default_prompts 0 ./tav quantize --compare "$TINY" "$T/tiny-int8.tavm" --seeds 1
has compare_default_prompts_named "prompt 1: "
t compare_one_file 2 ./tav quantize --compare "$TINY"
t compare_bad_seeds 2 ./tav quantize --compare "$TINY" "$TINY" --seeds 0
t compare_both_prompt_kinds 2 ./tav quantize --compare "$TINY" "$TINY" -p x --prompts "$T/cmp.txt"
t compare_mismatch 1 ./tav quantize --compare "$TINY" tests/data/tiny_up.tavm -p "$P1"   # fixed test models, not the shipped one
has compare_mismatch_msg "differ in resolution (32x32 vs 64x64)"
t compare_unknown_word 1 ./tav quantize --compare "$TINY" "$T/tiny-int8.tavm" -p "the sprocket wobbles"
has compare_unknown_word_named "sprocket"
t compare_missing 1 ./tav quantize --compare "$TINY" "$T/nope.tavm"
has compare_missing_named "nope.tavm"
t compare_not_model 1 ./tav quantize --compare "$TINY" "$T/report.csv"

# run-time failures: exit 1, a message, no output
t already_quantised 1 ./tav quantize "$T/tiny-int8.tavm" "$T/twice.tavm"
has already_quantised_msg "already quantised"
absent already_quantised_nothing "$T/twice.tavm"
head -c 3000 "$TINY" > "$T/trunc.tavm"
t truncated 1 ./tav quantize "$T/trunc.tavm" "$T/x.tavm"
has truncated_msg "truncated"
cp "$TINY" "$T/flip.tavm"
printf '\x42' | dd of="$T/flip.tavm" bs=1 seek=300000 conv=notrunc status=none
t corrupted 1 ./tav quantize "$T/flip.tavm" "$T/x.tavm"
has corrupted_msg "checksum"
t missing_input 1 ./tav quantize "$T/nope.tavm" "$T/x.tavm"
absent failures_write_nothing "$T/x.tavm"
t unwritable_dir 1 ./tav quantize "$TINY" "$T/no/such/dir/x.tavm"
has unwritable_msg "no/such/dir/x.tavm"
t same_path 1 ./tav quantize "$TINY" "$TINY"
has same_path_msg "is the input file"
t bad_report_path 1 ./tav quantize "$TINY" "$T/r.tavm" --report "$T/no/such/r.csv"
has bad_report_msg "no/such/r.csv"

# full disk (a file-size limit makes write() fail the same way)
if (ulimit -f 64; trap '' XFSZ; ./tav quantize "$TINY" "$T/full.tavm") >"$OUT" 2>&1; then
    echo "FAIL quantize_disk_full: succeeded"; else
    if grep -q "File too large" "$OUT" && [ ! -e "$T/full.tavm" ] && \
       [ -z "$(ls "$T" | grep 'full.tavm.tmp')" ]; then echo "PASS quantize_disk_full"; else
        echo "FAIL quantize_disk_full"; cat "$OUT"; ls "$T"; fi
fi
rm -rf "$T"
