#!/usr/bin/env bash
# The engine on AArch64: `make arm-engine-tests` cross-builds build/arm/tav and
# the engine's C tests (golden parity, end to end) against Debian's multiarch
# arm64 libraries (FFmpeg, libpng, libjpeg-turbo, OpenBLAS), and this suite
# runs them under qemu-aarch64 with the dot-product extension (-cpu max: int8
# on the neondot path) and without it (-cpu cortex-a53: the neon path):
#   - test_engine_parity and test_engine_e2e, as the x86 build runs them;
#   - `tav generate` on the tiny model, fp32 and int8: the MP4 decodes (host
#     ffprobe) with the right frame count and size, the contact sheet PNG and
#     JPEG thumbnail decode, seeds differ, the same seed gives the same bytes
#     with 1 and 2 threads, a corrupted weight tensor (valid checksum) changes
#     the output and a flipped byte is caught by the checksum;
#   - the int8 file comes from the ARM `tav quantize` and must equal the x86 one;
#   - the ARM frames equal the x86 build's within the named tolerances below.
# Takes ~1 min on the 2-core machine (qemu is 5-20x slower than native).
cd "$(dirname "$0")/../.."
PY=${PY:-/usr/bin/python3}
TINY=tests/data/tiny.tavm
ARM_TAV=build/arm/tav
P1="a red gear moves along the conveyor"
P2="close view the press stamps a blue plate"
# ARM vs x86 frames, in RGB levels. fp32: OpenBLAS and the NEON and x86 ops sum in
# different orders, so values differ by ulps and round((y + 1) * 127.5) can
# flip by one where y lands at a rounding boundary (as in the golden test's
# TOL_RGB_MAX_ABS_FP32). int8: those ulps also flip the rounding of a few
# quantised activations; measured max 1 level on up to 5.3 % of the bytes (seeds
# 1-11, 3 scenes); 4 is the golden test's TOL_RGB_MAX_ABS_INT8.
ARM_X86_TOL_FP32=1
ARM_X86_TOL_INT8=4

mkdir -p build/test-logs
if ! command -v qemu-aarch64 >/dev/null || ! command -v aarch64-linux-gnu-gcc >/dev/null ||
   [ ! -e /usr/lib/aarch64-linux-gnu/pkgconfig/libavcodec.pc ]; then
    echo "SKIP engine_arm: qemu-aarch64, aarch64-linux-gnu-gcc or the arm64 libraries missing (scripts/install-deps.sh arm)"
    exit 0
fi
if ! make -s -j2 arm-engine-tests > build/test-logs/engine-arm-build.log 2>&1; then
    echo "FAIL engine_arm_build: see build/test-logs/engine-arm-build.log"
    exit 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
start=$SECONDS

# ---------------------------------------------------------------- the int8 file
# Quantised by the ARM build. Weights round per output channel in plain
# arithmetic, and the measured clause (out-NMSE > 5e-4 stays fp32) is far from
# the tiny model's layers (<= 1.2e-4; ARM and x86 differ in the third digit),
# so the file must be the x86 build's, byte for byte.
if qemu-aarch64 -cpu max "$ARM_TAV" quantize "$TINY" "$tmp/int8.tavm" > "$tmp/quant.log" 2>&1
then echo "PASS arm_quantize"
else echo "FAIL arm_quantize:"; cat "$tmp/quant.log"; fi
if [ -x ./tav ]; then
    ./tav quantize "$TINY" "$tmp/int8-x86.tavm" > "$tmp/quant-x86.log" 2>&1
    if cmp -s "$tmp/int8.tavm" "$tmp/int8-x86.tavm"; then echo "PASS arm_quantize_same_file_as_x86"
    else echo "FAIL arm_quantize_same_file_as_x86: the ARM and x86 int8 files differ; reports (ARM <, x86 >):"
         diff "$tmp/quant.log" "$tmp/quant-x86.log"; fi
fi

# Corrupted copies: one weight tensor's signs flipped and the checksum
# rewritten, so the loader accepts them and only the output can tell.
for m in fp32:"$TINY" int8:"$tmp/int8.tavm"; do
    "$PY" - "${m#*:}" "$tmp/flipped-${m%%:*}.tavm" <<'PYEOF'
import sys
from train import tavm
m = tavm.read(sys.argv[1])
t = m.tensors["dit.blocks.1.mlp.fc2.weight"]
t.data = -t.data
tavm.copy_writer(m).write(sys.argv[2])
PYEOF
done

# ---------------------------------------------------------------- the engine's C tests
for cpu in max cortex-a53; do
    for t in test_engine_parity test_engine_e2e; do
        out=build/test-logs/engine-arm-$cpu-$t.out
        qemu-aarch64 -cpu "$cpu" build/arm/tests/$t > "$out" 2>&1 || echo "FAIL arm_${cpu}_$t: exit status $? (see $out)"
        grep -E '^(PASS|FAIL|SKIP) ' "$out" | sed "s/^\(PASS\|FAIL\|SKIP\) /\1 arm_${cpu}_/"
    done
done
# each CPU model ran the int8 kernels it should
for want in max:neondot cortex-a53:neon; do
    cpu=${want%%:*} isa=${want#*:}
    if grep -qx "# int8 kernel path: $isa" build/test-logs/engine-arm-$cpu-test_engine_parity.out
    then echo "PASS arm_${cpu}_int8_path_$isa"
    else echo "FAIL arm_${cpu}_int8_path_$isa: $(grep 'kernel path' build/test-logs/engine-arm-$cpu-test_engine_parity.out)"; fi
done

# ---------------------------------------------------------------- tav generate under qemu
# arm CPU MODEL-FILE ARGS...: build/arm/tav -q generate with the two scenes
arm() { local cpu=$1 model=$2; shift 2
        qemu-aarch64 -cpu "$cpu" "$ARM_TAV" -q generate -m "$model" -p "$P1" -p "$P2" "$@"; }
# check NAME COMMAND...: PASS if the command succeeds, else FAIL (and status 1)
check() { local name=$1; shift; if "$@"; then echo "PASS $name"; else echo "FAIL $name"; return 1; fi; }
probe() { ffprobe -v error -count_frames -select_streams v:0 -of csv=p=0 \
              -show_entries stream=codec_name,width,height,pix_fmt,nb_read_frames "$1" 2>&1; }
differ() { [ -s "$1" ] && [ -s "$2" ] && ! cmp -s "$1" "$2"; }
same3() { [ -s "$1" ] && cmp -s "$1" "$2" && cmp -s "$1" "$3"; }

if ! command -v ffprobe >/dev/null; then echo "SKIP arm_generate_probe: ffprobe not installed (apt-get install ffmpeg)"; fi
for cpu in max cortex-a53; do
    for m in fp32:"$TINY" int8:"$tmp/int8.tavm"; do
        kind=${m%%:*} model=${m#*:} n=arm_${cpu}_${kind}
        d=$tmp/$cpu-$kind; mkdir -p "$d/frames"
        if arm "$cpu" "$model" --seed 3 -o "$d/a.mp4" --sheet "$d/a.png" --thumb "$d/a.jpg" \
               --frames "$d/frames" > "$d/out" 2>&1 && grep -qF "6 frames, 32x32, 8 fps, 2 scenes" "$d/out"
        then echo "PASS ${n}_generate"; else echo "FAIL ${n}_generate:"; cat "$d/out"; fi
        if command -v ffprobe >/dev/null; then
            got=$(probe "$d/a.mp4")
            check "${n}_mp4_probe" [ "$got" = "h264,32,32,yuv420p,6" ] || echo "  ffprobe says '$got'"
            got="$(probe "$d/a.png" | cut -d, -f1) $(probe "$d/a.jpg" | cut -d, -f1)"
            check "${n}_sheet_png_thumb_jpeg_decode" [ "$got" = "png mjpeg" ] || echo "  ffprobe says '$got'"
        fi
        check "${n}_sheet_has_prompts" grep -qa "prompt 2" "$d/a.png"
        arm "$cpu" "$model" --seed 3 --threads 1 -o "$d/t1.mp4" >/dev/null 2>&1
        arm "$cpu" "$model" --seed 3 --threads 2 -o "$d/t2.mp4" >/dev/null 2>&1
        check "${n}_same_bytes_1_and_2_threads" same3 "$d/t1.mp4" "$d/t2.mp4" "$d/a.mp4"
        arm "$cpu" "$model" --seed 4 -o "$d/s4.mp4" >/dev/null 2>&1
        check "${n}_seeds_differ" differ "$d/a.mp4" "$d/s4.mp4"
        arm "$cpu" "$tmp/flipped-$kind.tavm" --seed 3 -o "$d/flipped.mp4" >/dev/null 2>&1
        check "${n}_corrupted_tensor_changes_output" differ "$d/a.mp4" "$d/flipped.mp4"
    done
done
# a flipped byte anywhere is caught by the checksum, with a one-line error
"$PY" - "$TINY" "$tmp/bad.tavm" <<'PYEOF'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[len(b) // 2] ^= 0xFF
open(sys.argv[2], "wb").write(b)
PYEOF
arm max "$tmp/bad.tavm" -o "$tmp/bad.mp4" > "$tmp/bad.out" 2>&1
st=$?
refused() { [ "$st" -eq 1 ] && grep -q checksum "$tmp/bad.out" && [ "$(wc -l < "$tmp/bad.out")" -eq 1 ] &&
            [ ! -e "$tmp/bad.mp4" ]; }
check arm_corrupt_model_checksum_error refused || { echo "  exit $st:"; cat "$tmp/bad.out"; }

# ---------------------------------------------------------------- ARM vs x86 frames
if [ -x ./tav ]; then
    for m in fp32:"$TINY":$ARM_X86_TOL_FP32 int8:"$tmp/int8.tavm":$ARM_X86_TOL_INT8; do
        IFS=: read -r kind model tol <<< "$m"
        mkdir -p "$tmp/x86-$kind"
        ./tav -q generate -m "$model" -p "$P1" -p "$P2" --seed 3 -o "$tmp/x86-$kind.mp4" \
            --frames "$tmp/x86-$kind" >/dev/null 2>&1
        for cpu in max cortex-a53; do
            "$PY" tests/suites/frames_diff.py "arm_${cpu}_${kind}_frames_match_x86" \
                "$tmp/$cpu-$kind/frames" "$tmp/x86-$kind" "$tol" ||
                echo "FAIL arm_${cpu}_${kind}_frames_match_x86: tests/suites/frames_diff.py failed"
        done
    done
else
    echo "SKIP arm_frames_match_x86: ./tav is not built (make tav)"
fi
echo "engine_arm: $((SECONDS - start)) s under qemu"
exit 0
