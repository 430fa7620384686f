#!/usr/bin/env bash
# `tav bench generate --json` on the tiny model: one JSON object with the
# keys the issue asks for (rtf, seconds, peak_rss_mb, torch_ratio), and the
# PyTorch reference taken at its faster thread count (1 or the engine's):
# torch_seconds is the smaller of torch_seconds_1t and torch_seconds_nt.
# Without a working Python the ratio is null with the reason, exit 0.
cd "$(dirname "$0")/../.."
T=build/test-tmp/bench-generate-suite
rm -rf "$T"; mkdir -p "$T"
PY=${PY:-/usr/bin/python3}

if TAV_THREADS=2 ./tav bench generate -m tests/data/tiny.tavm --json --quick > "$T/out.json" 2> "$T/err"; then
    echo "PASS bench_generate_runs"; else echo "FAIL bench_generate_runs"; cat "$T/err"; fi
"$PY" - "$T/out.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
def check(name, ok):
    print(("PASS " if ok else "FAIL ") + "bench_generate_" + name + ("" if ok else ": " + json.dumps(d)))
check("keys", all(k in d for k in ("rtf", "seconds", "peak_rss_mb", "torch_ratio", "torch_threads")))
check("engine_numbers", d["rtf"] > 0 and d["seconds"] > 0 and d["peak_rss_mb"] > 0 and d["threads"] == 2)
t1, tn, t = d["torch_seconds_1t"], d["torch_seconds_nt"], d["torch_seconds"]
check("torch_both_thread_counts", t1 > 0 and tn > 0)
check("torch_faster_is_reference", t == min(t1, tn) and
      d["torch_threads"] in ((1, 2) if t1 == tn else (1,) if t1 < tn else (2,)))
check("torch_ratio", d["torch_ratio"] > 0 and d["torch_cpu_ratio"] > 0)
EOF

if PY=/nonexistent/python3 ./tav bench generate -m tests/data/tiny.tavm --json --quick > "$T/nopy.json" 2>&1 &&
   grep -q '"torch_ratio":null,"torch_error":"the PyTorch reference did not run' "$T/nopy.json"; then
    echo "PASS bench_generate_without_python"; else
    echo "FAIL bench_generate_without_python"; cat "$T/nopy.json"; fi
rm -rf "$T"
