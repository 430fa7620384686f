#!/usr/bin/env bash
# `make demo`: a multi-scene video of a sample work procedure from the shipped model.
#
#   scripts/demo.sh                   # assets/default-int8.tavm (else default.tavm), drill-bit change
#   TAV_MODEL=FILE scripts/demo.sh    # another model file
#   TAV_TEMPLATE=assets/templates/conveyor-jam.tmpl scripts/demo.sh
#
# Builds `tav` if needed, fills the procedure template into one scene prompt
# per step (`tav template fill`), generates the video and prints where it wrote
# the MP4, the PNG contact sheet (one row per scene) and a JPEG thumbnail.
set -euo pipefail
cd "$(dirname "$0")/.."

# the shipped int8 model (make model: train, export, tav quantize) if present, else the fp32 one
if [ -z "${TAV_MODEL:-}" ] && [ -f assets/default-int8.tavm ]; then
    MODEL=assets/default-int8.tavm
else
    MODEL=${TAV_MODEL:-assets/default.tavm}
fi
TEMPLATE=${TAV_TEMPLATE:-assets/templates/drill-bit-change.tmpl}
FIELDS=${TAV_FIELDS:-press=4 piece=plate colour=blue}
OUT=${TAV_DEMO_OUT:-build/demo}
SEED=${TAV_SEED:-7}

if [ ! -x ./tav ]; then
    echo "demo: building tav ..."
    make -s -j2 tav
fi
if [ ! -f "$MODEL" ]; then
    echo "demo: the model file $MODEL does not exist." >&2
    if [ "$MODEL" = assets/default.tavm ]; then
        echo "demo: make the shipped model with 'make model' (trains and exports it; hours on 2 cores)." >&2
        echo "demo: to see the pipeline run meanwhile, use the tiny random test model (its frames are" >&2
        echo "demo: untrained noise):  TAV_MODEL=tests/data/tiny.tavm TAV_PROMPTS=tiny make demo" >&2
    fi
    exit 1
fi

# One scene prompt per procedure step.
prompts=()
seconds_args=()
if [ "${TAV_PROMPTS:-}" = tiny ]; then
    # words from the tiny test model's vocabulary
    prompts=("a red gear moves along the conveyor" "the press stamps a blue plate"
             "the robot welds a plate")
    TEMPLATE="(fixed prompts for the tiny model)"
elif ./tav template --help >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    mapfile -t prompts < <(./tav template fill "$TEMPLATE" $FIELDS)
    # each step's duration, from the "(N s)" of `tav template show`
    secs=$(./tav template show "$TEMPLATE" | sed -n 's/.*(\([0-9.]*\) s)$/\1/p' | paste -sd, -)
    if [ "$(echo "$secs" | tr ',' '\n' | grep -c .)" -eq "${#prompts[@]}" ]; then
        seconds_args=(--seconds "$secs")
    fi
else
    prompts=("drill press, wide view: the blue plate rotates"
             "the blue plate is drilled at the drill press in a close up"
             "drill press, close view: the blue plate spins"
             "the blue plate is inspected at the inspection camera in a close up")
    TEMPLATE="(fixed prompts: tav template is not built)"
fi
echo "demo: procedure $TEMPLATE, ${#prompts[@]} scenes:"
args=()
for p in "${prompts[@]}"; do
    echo "  - $p"
    args+=(-p "$p")
done

mkdir -p "$OUT"
./tav generate -m "$MODEL" "${args[@]}" "${seconds_args[@]}" --seed "$SEED" \
    -o "$OUT/demo.mp4" --sheet "$OUT/demo-sheet.png" --thumb "$OUT/demo-thumb.jpg"
echo
echo "demo: video          $OUT/demo.mp4"
echo "demo: contact sheet  $OUT/demo-sheet.png  (one row per scene)"
echo "demo: thumbnail      $OUT/demo-thumb.jpg"
