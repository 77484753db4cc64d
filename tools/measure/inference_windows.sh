#!/usr/bin/env bash
# Issue #19's inference work on the bundled sample study, in one run: windows and time of a
# whole-volume segmentation with every window, skipping the windows outside the brain (the
# default) and in fast mode (overlap 0.25), then Dice, HD95 and time of the default overlap (0.5) against fast mode
# (0.25) for three modality subsets. On lavapipe (`--compute wgpu`), as the viewer runs.
# Usage: tools/measure/inference_windows.sh METAKD OUT_DIR
set -euo pipefail
METAKD=$(realpath "$1"); OUT=$2
mkdir -p "$OUT"
tools/measure/machine.sh "$METAKD" > "$OUT/machine.txt"
DATA=$(mktemp -d)
trap 'rm -rf "$DATA"' EXIT
ln -s "$(realpath assets/sample/Phantom_00001)" "$DATA/Phantom_00001"
printf 'case,split\nPhantom_00001,test\n' > "$DATA/cases.csv"
# A first segmentation compiles the shaders (Mesa caches them on disk); not timed.
"$METAKD" segment --case assets/sample/Phantom_00001 --compute wgpu --out "$DATA/warm-up.nii.gz" \
  > /dev/null 2>&1
for mode in all-windows skip fast; do
  flag=()
  [ "$mode" = all-windows ] && flag=(--all-windows)
  [ "$mode" = fast ] && flag=(--overlap 0.25)
  "$METAKD" segment --case assets/sample/Phantom_00001 --compute wgpu "${flag[@]}" \
    --out "$DATA/$mode.nii.gz" 2>&1 | tr '\r' '\n' | tail -2 > "$OUT/segment-$mode.txt"
done
for overlap in 0.5 0.25; do
  "$METAKD" eval --data "$DATA" --split test --compute wgpu --overlap "$overlap" \
    --subsets flair+t1+t1ce+t2,flair+t1ce,t2 --out "$OUT/eval-overlap-$overlap" \
    > "$OUT/eval-overlap-$overlap.log" 2>&1
done
cat "$OUT"/segment-*.txt
