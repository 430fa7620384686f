#!/usr/bin/env bash
# `tav scenes` contract: cut frames/times on a video made by the ffmpeg CLI
# (three synthetic scenes, cuts at frames 16 and 28 at 8 fps), --json shape,
# exit 1 for missing / non-video files, exit 2 for bad usage.
cd "$(dirname "$0")/../.."
PY=${PY:-/usr/bin/python3}
if [ ! -e ./tav ]; then echo "SKIP scenes_cli: ./tav is not built"; exit 0; fi
tmp=$(mktemp -d /tmp/tav-scenes-XXXXXX)
trap 'rm -rf "$tmp"' EXIT

# Work on a snapshot of ./tav: in a shared tree another build may relink
# ./tav while this suite runs (a half-written binary fails with "Text file
# busy" / "Permission denied"); retry the copy until the snapshot runs.
snapshot_tav() {  # $1 = destination
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        if cp ./tav "$1" 2>/dev/null && "$1" version >/dev/null 2>&1; then return 0; fi
        sleep 3
    done
    return 1
}
if ! snapshot_tav "$tmp/tav"; then echo "FAIL scenes_cli: ./tav does not run"; exit 1; fi
TAV="$tmp/tav"

t() {  # name, expected status, command...
    local name=$1 want=$2; shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"; local got=$?
    if [ "$got" -eq "$want" ]; then echo "PASS scenes_$name"; else
        echo "FAIL scenes_$name: exit $got, wanted $want"; cat "$tmp/out" "$tmp/err"; fi
}

t help 0 "$TAV" scenes --help
t no_video 2 "$TAV" scenes
t unknown_flag 2 "$TAV" scenes x.mp4 --frob
t bad_threshold 2 "$TAV" scenes x.mp4 --threshold abc
t zero_threshold 2 "$TAV" scenes x.mp4 --threshold 0
t bad_min_len 2 "$TAV" scenes x.mp4 --min-scene-len 0
t two_videos 2 "$TAV" scenes a.mp4 b.mp4
t missing_file 1 "$TAV" scenes "$tmp/missing.mp4"
grep -q "missing.mp4: no such file" "$tmp/err" && echo "PASS scenes_missing_message" \
    || { echo "FAIL scenes_missing_message"; cat "$tmp/err"; }
echo "Replace the drill bit on press 4." > "$tmp/notes.txt"
t text_file 1 "$TAV" scenes "$tmp/notes.txt"
t directory 1 "$TAV" scenes "$tmp"

if ! command -v ffmpeg >/dev/null; then
    echo "SKIP scenes_detects_cuts: ffmpeg CLI missing (scripts/install-deps.sh test)"; exit 0
fi
ffmpeg -v error -y -f lavfi -i "testsrc=s=64x64:r=8:d=2" -f lavfi -i "color=c=blue:s=64x64:r=8:d=1.5" \
    -f lavfi -i "testsrc2=s=64x64:r=8:d=2" -filter_complex "[0][1][2]concat=n=3:v=1[v]" -map "[v]" \
    -pix_fmt yuv420p -c:v libx264 "$tmp/three.mp4"
t detects_cuts 0 "$TAV" scenes "$tmp/three.mp4"
grep -q "cut at frame     16" "$tmp/out" && grep -q "cut at frame     28" "$tmp/out" \
    && echo "PASS scenes_text_cuts" || { echo "FAIL scenes_text_cuts"; cat "$tmp/out"; }
"$TAV" scenes "$tmp/three.mp4" --json > "$tmp/j.json"
"$PY" - "$tmp/j.json" <<'PYEOF'
import json, sys
try:
    o = json.load(open(sys.argv[1]))
except ValueError as e:
    print(f"FAIL scenes_json: not JSON: {e}")
    sys.exit(0)
ok = (o["cut_frames"] == [16, 28] and o["cut_times"] == [2.0, 3.5] and o["fps"] == 8
      and o["frames"] == 44 and o["width"] == 64 and o["height"] == 64
      and [(s["start"], s["end"]) for s in o["scenes"]] == [(0, 16), (16, 28), (28, 44)]
      and all(c["kind"] in ("hard", "dissolve") for c in o["cuts"]))
print(("PASS" if ok else "FAIL") + " scenes_json")
if not ok:
    print(json.dumps(o))
PYEOF
# frames wider than the detector's 128 px are scaled by the reader: same cuts,
# the source size in the JSON
ffmpeg -v error -y -i "$tmp/three.mp4" -vf scale=400:300 -c:v libx264 -pix_fmt yuv420p "$tmp/three400.mp4"
"$TAV" scenes "$tmp/three400.mp4" --json > "$tmp/j4.json"
"$PY" -c "
import json, sys
try:
    o = json.load(open(sys.argv[1])); ok = o['cut_frames'] == [16, 28] and (o['width'], o['height']) == (400, 300)
except ValueError:
    ok = False
print(('PASS' if ok else 'FAIL') + ' scenes_large_frames')" "$tmp/j4.json"
# a very high threshold finds nothing: one scene
"$TAV" scenes "$tmp/three.mp4" --json --threshold 250 > "$tmp/j2.json"
"$PY" -c "
import json, sys
try:
    o = json.load(open(sys.argv[1])); ok = o['cut_frames'] == [] and len(o['scenes']) == 1
except ValueError:
    ok = False
print(('PASS' if ok else 'FAIL') + ' scenes_threshold_flag')" "$tmp/j2.json"

# A cross-fade made by ffmpeg's xfade (0.5 s = 4 frames from 1.5 s, i.e. blends
# between frames 12 and 16): one dissolve inside it; none without the
# dissolve detector (each step is below the hard threshold).
ffmpeg -v error -y -f lavfi -i "testsrc=s=64x64:r=8:d=3" -f lavfi -i "color=c=orange:s=64x64:r=8:d=3" \
    -filter_complex "[0][1]xfade=transition=fade:duration=0.5:offset=1.5,format=yuv420p[v]" \
    -map "[v]" -c:v libx264 "$tmp/fade.mp4"
"$TAV" scenes "$tmp/fade.mp4" --json > "$tmp/f1.json"
"$TAV" scenes "$tmp/fade.mp4" --json --dissolve-window 0 > "$tmp/f0.json"
"$PY" - "$tmp/f1.json" "$tmp/f0.json" <<'PYEOF'
import json, sys
try:
    a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
    ok = (len(a["cuts"]) == 1 and a["cuts"][0]["kind"] == "dissolve"
          and 12 <= a["cuts"][0]["frame"] <= 16 and b["cut_frames"] == [])
except (ValueError, KeyError) as e:
    ok, a, b = False, str(e), ""
print(("PASS" if ok else "FAIL") + " scenes_xfade_dissolve")
if not ok:
    print(a, b)
PYEOF

# JSON escaping: a file name with a quote, a backslash and a space
weird="$tmp/we\"ird \\name.mp4"
cp "$tmp/three.mp4" "$weird"
"$TAV" scenes "$weird" --json > "$tmp/w.json"
"$PY" - "$tmp/w.json" "$weird" <<'PYEOF'
import json, sys
try:
    ok = json.load(open(sys.argv[1]))["video"] == sys.argv[2]
except ValueError:
    ok = False
print(("PASS" if ok else "FAIL") + " scenes_json_escapes_path")
PYEOF
