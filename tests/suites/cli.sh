#!/usr/bin/env bash
# The `tav` command's contract: help, exit status 2 for bad usage.
cd "$(dirname "$0")/../.."
t() {  # name, expected status, command...
    local name=$1 want=$2; shift 2
    "$@" >/tmp/tav-cli-$$.out 2>&1; local got=$?
    if [ "$got" -eq "$want" ]; then echo "PASS cli_$name"; else
        echo "FAIL cli_$name: exit $got, wanted $want"; cat /tmp/tav-cli-$$.out; fi
}
t help 0 ./tav --help
t version 0 ./tav version
t version_help 0 ./tav version --help
t unknown_command 2 ./tav frobnicate
t unknown_global_flag 2 ./tav --frob version
t version_extra_arg 2 ./tav version extra
t no_command 2 ./tav
./tav frobnicate 2>&1 | grep -q "Try 'tav --help'" && echo "PASS cli_hint" || echo "FAIL cli_hint"
for c in $(./tav --help | awk '/^Commands:/{f=1;next} /^$/{f=0} f{print $1}'); do
    if ./tav --help | grep -E "^  $c " | grep -q "not built yet"; then continue; fi
    t "${c}_help" 0 ./tav "$c" --help
done
rm -f /tmp/tav-cli-$$.out
