#!/usr/bin/env bash
# `tav generate` end to end on the tiny model: the MP4 decodes (ffprobe) with
# the right frame count and size; sheet, thumbnail and frame dump appear; the
# same seed gives the same MP4 bytes with 1 and 2 threads; seeds differ; and
# every error (unknown words, too many scenes, missing/corrupt model,
# unwritable output, bad usage) exits with a one-line message saying why.
cd "$(dirname "$0")/../.."
PY=${PY:-/usr/bin/python3}
TINY=tests/data/tiny.tavm
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if [ ! -x ./tav ]; then echo "SKIP generate_suite: ./tav is not built (make tav)"; exit 0; fi

P1="a red gear moves along the conveyor"
P2="close view the press stamps a blue plate"
gen() { ./tav -q generate -m "$TINY" -p "$P1" -p "$P2" "$@"; }

# name, expected status, expected text (grep -F on stdout+stderr), command...
t() {
    local name=$1 want=$2 text=$3; shift 3
    "$@" >"$tmp/out" 2>"$tmp/err"; local got=$?
    if [ "$got" -ne "$want" ]; then
        echo "FAIL generate_$name: exit $got, wanted $want"; cat "$tmp/out" "$tmp/err"; return 1
    fi
    if ! cat "$tmp/out" "$tmp/err" | grep -qF -- "$text"; then
        echo "FAIL generate_$name: output lacks '$text'"; cat "$tmp/out" "$tmp/err"; return 1
    fi
    if [ "$want" -eq 1 ] && [ "$(wc -l <"$tmp/err")" -ne 1 ]; then
        echo "FAIL generate_$name: expected one line on stderr"; cat "$tmp/err"; return 1
    fi
    echo "PASS generate_$name"
}

# ---------------------------------------------------------------- outputs
t writes_mp4 0 "6 frames, 32x32, 8 fps, 2 scenes" \
    gen --seed 3 -o "$tmp/a.mp4" --sheet "$tmp/a.png" --thumb "$tmp/a.jpg" --frames "$tmp"
if command -v ffprobe >/dev/null; then
    got=$(ffprobe -v error -count_frames -select_streams v:0 \
          -show_entries stream=nb_read_frames,width,height,codec_name,pix_fmt -of csv=p=0 "$tmp/a.mp4")
    if [ "$got" = "h264,32,32,yuv420p,6" ]; then echo "PASS generate_mp4_probe"
    else echo "FAIL generate_mp4_probe: ffprobe says '$got'"; fi
else
    echo "SKIP generate_mp4_probe: ffprobe not installed (apt-get install ffmpeg)"
fi
if [ -s "$tmp/a.png" ] && [ -s "$tmp/a.jpg" ] && [ -s "$tmp/frame_00005.png" ] && [ ! -e "$tmp/frame_00006.png" ]
then echo "PASS generate_sheet_thumb_frames"
else echo "FAIL generate_sheet_thumb_frames: missing files"; ls -l "$tmp"; fi
if grep -qa "prompt 2" "$tmp/a.png"; then echo "PASS generate_sheet_has_prompts"
else echo "FAIL generate_sheet_has_prompts: no 'prompt 2' text chunk"; fi

gen --seed 3 --threads 1 -o "$tmp/t1.mp4" >/dev/null 2>&1
gen --seed 3 --threads 2 -o "$tmp/t2.mp4" >/dev/null 2>&1
if [ -s "$tmp/t1.mp4" ] && cmp -s "$tmp/t1.mp4" "$tmp/t2.mp4" && cmp -s "$tmp/t1.mp4" "$tmp/a.mp4"
then echo "PASS generate_same_bytes_1_and_2_threads"
else echo "FAIL generate_same_bytes_1_and_2_threads"; fi
gen --seed 4 -o "$tmp/s4.mp4" >/dev/null 2>&1
if [ -s "$tmp/s4.mp4" ] && ! cmp -s "$tmp/s4.mp4" "$tmp/a.mp4"; then echo "PASS generate_seeds_differ"
else echo "FAIL generate_seeds_differ"; fi
t bar_prompt_splits 0 "3 scenes" ./tav -q generate -m "$TINY" -p "$P1 | $P2" -p "a gear" -o "$tmp/b.mp4"
t fps 0 "12 frames, 32x32, 16 fps" gen --fps 16 -o "$tmp/f.mp4"
t seconds 0 "20 frames, 32x32, 8 fps, 2 scenes" gen --seconds 1,1.5 -o "$tmp/d.mp4"
t usage_seconds_count 2 "--seconds gives 3 durations for 2 scenes" gen --seconds 1,1,1 -o "$tmp/x.mp4"
t usage_seconds_value 2 "--seconds wants" gen --seconds 1,abc -o "$tmp/x.mp4"
t not_a_tty_is_quiet 0 "wrote" gen -o "$tmp/q.mp4"
if [ ! -s "$tmp/err" ]; then echo "PASS generate_no_progress_when_not_a_tty"
else echo "FAIL generate_no_progress_when_not_a_tty: stderr not empty"; cat "$tmp/err"; fi

# ---------------------------------------------------------------- errors
t unknown_word 1 "unknown words in prompt: 'purple', 'zebra'" \
    ./tav generate -m "$TINY" -p "a purple gear" -p "a zebra" -o "$tmp/u.mp4"
[ ! -e "$tmp/u.mp4" ] && echo "PASS generate_unknown_word_writes_nothing" || echo "FAIL generate_unknown_word_writes_nothing"
t too_many_scenes 1 "7 scenes given; at most 6" \
    ./tav generate -m "$TINY" -p "a | a | a | a | a | a | a" -o "$tmp/u.mp4"
# The default model is found relative to the working directory: from an empty one it is missing.
mkdir -p "$tmp/empty"
t missing_default_model 1 "make model" \
    env -C "$tmp/empty" "$PWD/tav" generate -p "$P1" -o "$tmp/u.mp4"
t missing_model 1 "does not exist" ./tav generate -m "$tmp/nope.tavm" -p "$P1" -o "$tmp/u.mp4"
"$PY" - "$TINY" "$tmp/bad.tavm" <<'PYEOF'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[len(b) // 2] ^= 0xFF
open(sys.argv[2], "wb").write(b)
PYEOF
t corrupt_model 1 "checksum" ./tav generate -m "$tmp/bad.tavm" -p "$P1" -o "$tmp/u.mp4"
t unwritable_output 1 "does not exist" gen -o "$tmp/no/such/dir/x.mp4"
t unwritable_sheet 1 "cannot write the sheet" gen -o "$tmp/x.mp4" --sheet "$tmp/none/x.png"
t odd_usage_no_output 2 "give the output MP4 with -o" ./tav generate -m "$TINY" -p "$P1"
t usage_no_prompt 2 "give at least one scene prompt" ./tav generate -m "$TINY" -o "$tmp/x.mp4"
t usage_bad_steps 2 "--steps wants an integer" gen --steps 0 -o "$tmp/x.mp4"
t usage_unknown_flag 2 "unknown option '--bogus'" gen --bogus -o "$tmp/x.mp4"
t help 0 "usage: tav generate" ./tav generate --help
exit 0
