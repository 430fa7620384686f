#!/usr/bin/env bash
# The engine's golden-parity test (tests/test_engine_parity.c) cross-built for
# AArch64 (`make arm-engine-tests`) and run under qemu-aarch64: with the
# dot-product extension (-cpu max: int8 on the neondot path) and without it
# (-cpu cortex-a53: the neon path). fp32 uses a portable sgemm there
# (tests/arm/sgemm_portable.c: no target OpenBLAS is installed); the int8
# case quantises with the host's ./tav.
cd "$(dirname "$0")/../.."
mkdir -p build/test-logs
if ! command -v qemu-aarch64 >/dev/null || ! command -v aarch64-linux-gnu-gcc >/dev/null; then
    echo "SKIP engine_arm: qemu-aarch64 or aarch64-linux-gnu-gcc missing (scripts/install-deps.sh test)"
    exit 0
fi
if ! make -s arm-engine-tests > build/test-logs/engine-arm-build.log 2>&1; then
    echo "FAIL engine_arm_build: see build/test-logs/engine-arm-build.log"
    exit 1
fi
status=0
for cpu in max cortex-a53; do
    out=build/test-logs/engine-arm-$cpu.out
    qemu-aarch64 -cpu "$cpu" build/arm/tests/test_engine_parity > "$out" 2>&1 || status=1
    grep -E '^(PASS|FAIL|SKIP) ' "$out" | sed "s/^\(PASS\|FAIL\|SKIP\) /\1 qemu_${cpu}_/"
done
exit $status
