#!/usr/bin/env bash
# NEON kernels under qemu-aarch64: the simd tests (tests/test_simd_*.c)
# cross-compiled for AArch64 by `make arm-tests`, run on an emulated CPU with
# the dot-product extension (-cpu max: both the neon and neondot paths run)
# and on one without it (-cpu cortex-a53: the neon path runs, and neondot
# must be reported missing, i.e. its cases SKIP and dispatch falls back).
cd "$(dirname "$0")/../.."
mkdir -p build/test-logs
if ! command -v qemu-aarch64 >/dev/null || ! command -v aarch64-linux-gnu-gcc >/dev/null; then
    echo "SKIP neon: qemu-aarch64 or aarch64-linux-gnu-gcc missing (scripts/install-deps.sh test)"
    exit 0
fi
if ! make -s arm-tests > build/test-logs/neon-build.log 2>&1; then
    echo "FAIL neon_build: see build/test-logs/neon-build.log"
    exit 1
fi
status=0
for cpu in max cortex-a53; do
    out=$(mktemp /tmp/tav-neon-$cpu.XXXXXX) # private: suites may run concurrently
    for t in build/arm/tests/test_simd_*; do
        echo "# $t" >> "$out"
        qemu-aarch64 -cpu "$cpu" "$t" >> "$out" 2>&1 || status=1
    done
    if [ "$cpu" = cortex-a53 ]; then
        # neondot cases are expected to SKIP here: count them as one check
        grep -E '^(PASS|FAIL|SKIP) ' "$out" | grep -v '_neondot' | sed "s/^\(PASS\|FAIL\|SKIP\) /\1 qemu_${cpu}_/"
        if grep -q '^PASS .*_neondot' "$out" || ! grep -q '^SKIP .*_neondot' "$out"; then
            echo "FAIL qemu_${cpu}_no_dotprod_detected: neondot ran on a CPU without dotprod"
        else
            echo "PASS qemu_${cpu}_no_dotprod_detected"
        fi
    else
        grep -E '^(PASS|FAIL|SKIP) ' "$out" | sed "s/^\(PASS\|FAIL\|SKIP\) /\1 qemu_${cpu}_/"
    fi
    # the NEON GEMM path(s) this CPU has must have run, not skipped
    want="gemm_shapes_neon"; [ "$cpu" = max ] && want="gemm_shapes_neon gemm_shapes_neondot"
    for w in $want; do
        grep -q "^PASS $w\$" "$out" && echo "PASS qemu_${cpu}_${w}_ran" || echo "FAIL qemu_${cpu}_${w}_ran"
    done
    cp "$out" "build/test-logs/neon-$cpu.out" 2>/dev/null
    rm -f "$out"
done
exit $status
