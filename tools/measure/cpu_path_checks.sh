#!/bin/bash
# Two checks of the CPU convolution path (docs/conv3d.md), on the bundled sample study:
# 1. its labels against those of a binary from before the CPU path (burn's own convolutions);
# 2. a whole-study segmentation with and without engine::allocator's malloc settings, 3 runs
#    each, alternating. NO_MALLOPT is this commit's metakd built with the
#    `engine::allocator::keep_freed_memory();` line of engine/src/bin/metakd/main.rs removed;
#    `-` skips this check.
#
# usage: tools/measure/cpu_path_checks.sh METAKD OLD_METAKD NO_MALLOPT PYTHON OUT
#   (PYTHON: a Python with nibabel and numpy, e.g. a throwaway virtual environment)
set -euo pipefail
metakd=$1 old=$2 no_mallopt=$3 python=$4 out=$5
mkdir -p "$out"
here=$(dirname "$0")
"$here/machine.sh" "$metakd $old $no_mallopt" >"$out/machine.txt"
case_dir=assets/sample/Phantom_00001
tmp=$(mktemp -d)
export RAYON_NUM_THREADS=${THREADS:-2}
"$old" segment --case $case_dir --out "$tmp/old.nii.gz" --compute cpu >"$out/segment-burn-convolutions.txt" 2>&1
"$metakd" segment --case $case_dir --out "$tmp/new.nii.gz" --compute cpu >"$out/segment-cpu-path.txt" 2>&1
"$python" "$here/compare_labels.py" "$tmp/old.nii.gz" "$tmp/new.nii.gz" | sed "s|$tmp/||g" >"$out/labels-compared.txt"
runs="1 2 3"
[ "$no_mallopt" = - ] && runs=""
for run in $runs; do
  for variant in with without; do
    bin=$metakd
    [ $variant = without ] && bin=$no_mallopt
    /usr/bin/time -f "%e s %M KB" -o "$out/segment-$variant-mallopt-$run.time" \
      "$bin" segment --case $case_dir --out "$tmp/seg.nii.gz" --compute cpu \
      >"$out/segment-$variant-mallopt-$run.txt" 2>&1
  done
done
rm -rf "$tmp"
echo "raw output in $out"
