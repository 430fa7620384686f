#!/usr/bin/env bash
# `tav bench gemm` and `tav info --cpu`: the commands run, --json lines carry
# the documented keys, and a kernel path the CPU or binary lacks is an error.
cd "$(dirname "$0")/../.."
t() {  # name, expected status, command...
    local name=$1 want=$2; shift 2
    "$@" >/tmp/tav-bench-$$.out 2>&1; local got=$?
    if [ "$got" -eq "$want" ]; then echo "PASS bench_$name"; else
        echo "FAIL bench_$name: exit $got, wanted $want"; cat /tmp/tav-bench-$$.out; fi
}
t unknown_benchmark 2 ./tav bench frobnicate
t missing_name 2 ./tav bench
t bad_isa_flag 2 ./tav bench gemm --isa bogus
t bogus_tav_isa 1 env TAV_ISA=bogus ./tav bench gemm --quick
t info_cpu 0 ./tav info --cpu
grep -q "kernel path in use: " /tmp/tav-bench-$$.out && echo "PASS bench_info_cpu_names_path" \
    || echo "FAIL bench_info_cpu_names_path"
t info_cpu_bogus_isa 1 env TAV_ISA=bogus ./tav info --cpu
case "$(uname -m)" in
    x86_64) other=neon ;;
    *) other=avx2 ;;
esac
t other_arch_isa 1 env TAV_ISA=$other ./tav bench gemm --quick
grep -q "not built into this binary" /tmp/tav-bench-$$.out && echo "PASS bench_other_arch_message" \
    || echo "FAIL bench_other_arch_message"

# one quick run of the default path: every line is JSON with the keys
best=$(./tav info --cpu | sed -n 's/^kernel path in use: \([a-z0-9]*\).*/\1/p')
if [ "$best" = scalar ]; then
    echo "SKIP bench_gemm_json: no SIMD path on this CPU (scalar is not benchmarked)"
else
    ./tav bench gemm --quick --json --isa "$best" > /tmp/tav-bench-$$.out 2>&1
    rc=$?
    lines=$(grep -c '^{' /tmp/tav-bench-$$.out)
    bad=0
    for key in isa threads m k n gops sgemm_gflops pct_peak; do
        n=$(grep -c "\"$key\":" /tmp/tav-bench-$$.out)
        [ "$n" -eq "$lines" ] || bad=1
    done
    if [ "$rc" -eq 0 ] && [ "$lines" -eq 2 ] && [ "$bad" -eq 0 ] && \
       [ "$(grep -vc '^{' /tmp/tav-bench-$$.out)" -eq 0 ]; then
        echo "PASS bench_gemm_json"
    else
        echo "FAIL bench_gemm_json: exit $rc, $lines lines"; cat /tmp/tav-bench-$$.out
    fi
fi
rm -f /tmp/tav-bench-$$.out
