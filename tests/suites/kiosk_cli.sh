#!/usr/bin/env bash
# `tav template` and `tav kiosk` from the shell: exit codes, messages, start and stop.
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d /tmp/tav-kiosk-cli-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
t() {  # name, expected status, grep pattern for output ('' = none), command...
    local name=$1 want=$2 pat=$3; shift 3
    "$@" >"$tmp/out" 2>&1; local got=$?
    if [ "$got" -ne "$want" ]; then echo "FAIL kiosk_cli_$name: exit $got, wanted $want"; cat "$tmp/out"; return; fi
    if [ -n "$pat" ] && ! grep -q -- "$pat" "$tmp/out"; then
        echo "FAIL kiosk_cli_$name: output lacks '$pat'"; cat "$tmp/out"; return; fi
    echo "PASS kiosk_cli_$name"
}
T=assets/templates
t template_list 0 "drill-bit-change  *4 steps" ./tav template list $T
t template_show 0 "press          number Press number (required)" ./tav template show $T/drill-bit-change.tmpl
t template_fill 0 "the blue gear is drilled" ./tav template fill $T/drill-bit-change.tmpl press=4 piece=gear colour=
t template_fill_bad_values 1 "press: Press number must be between 1 and 12." ./tav template fill $T/drill-bit-change.tmpl press=44
t template_fill_unknown_key 1 "no field called 'nozzle'" ./tav template fill $T/drill-bit-change.tmpl press=4 nozzle=2
t template_fill_not_kv 2 "expected key=value" ./tav template fill $T/drill-bit-change.tmpl press
printf 'title = x\n[step]\ncaption = the {gear}\n' > "$tmp/bad.tmpl"
t template_parse_error 1 "bad.tmpl: step 1: placeholder {gear} names no field" ./tav template fill "$tmp/bad.tmpl"
t template_missing_file 1 "cannot open" ./tav template show "$tmp/none.tmpl"
t template_no_action 2 "missing action" ./tav template
t template_check_shipped 0 "9 template(s), 445 filled prompts" ./tav template check $T
t template_check_needs_paths 2 "check needs template files" ./tav template check
t template_check_bad_model 1 "cannot check words" ./tav template check --model "$tmp/none.tavm" $T
# the tiny test model knows 19 words: the shipped templates are far outside them
out=$(./tav template check --model tests/data/tiny.tavm $T/conveyor-jam.tmpl 2>&1); st=$?
if echo "$out" | grep -q "cannot check words"; then
    echo "SKIP kiosk_cli_template_check_names_unknown_words: $(echo "$out" | tail -1)"
elif [ $st -eq 1 ] && echo "$out" | grep -q "step 2 .*unknown word"; then
    echo "PASS kiosk_cli_template_check_names_unknown_words"
else
    echo "FAIL kiosk_cli_template_check_names_unknown_words: exit $st"; echo "$out" | tail -3
fi
t kiosk_unknown_flag 2 "unknown option '--bogus'" ./tav kiosk --bogus
t kiosk_missing_value 2 "--db needs a value" ./tav kiosk --db
t kiosk_bad_port 2 "--port needs a number" ./tav kiosk --port 99999
t kiosk_needs_token_off_loopback 1 "give --token" ./tav kiosk --bind 0.0.0.0 --port 0 --db "$tmp/a.db"

# starts, answers, stops cleanly on SIGTERM
./tav kiosk --port 0 --db "$tmp/k.db" --model "$tmp/none.tavm" >"$tmp/k.out" 2>"$tmp/k.err" &
pid=$!
for _ in $(seq 50); do grep -q "serving http" "$tmp/k.out" && break; sleep 0.1; done
port=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$tmp/k.out")
if [ -n "$port" ] && python3 - "$port" <<'PY'
import json, sys, urllib.request
s = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/api/status", timeout=5))
sys.exit(0 if s["engine"] is False and s["engine_status"] else 1)
PY
then echo "PASS kiosk_cli_starts_and_reports_engine_state"; else echo "FAIL kiosk_cli_starts_and_reports_engine_state"; cat "$tmp/k.out" "$tmp/k.err"; fi
grep -q "the engine is not available" "$tmp/k.err" && echo "PASS kiosk_cli_says_engine_missing_at_start" \
    || { echo "FAIL kiosk_cli_says_engine_missing_at_start"; cat "$tmp/k.err"; }
kill -TERM $pid; wait $pid; st=$?
[ $st -eq 0 ] && echo "PASS kiosk_cli_stops_on_sigterm" || echo "FAIL kiosk_cli_stops_on_sigterm: exit $st"
