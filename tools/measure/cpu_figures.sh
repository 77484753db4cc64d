#!/bin/bash
# Every figure of docs/benchmarks.md and docs/model.md that this machine (no GPU: the CPU backend
# and Mesa's lavapipe) can measure, in one sitting, with the raw output of each command kept:
# opening a study next to nibabel, the batch loader, phantom generation, the viewer's headless
# bench, whole-volume segmentation (`desktop`, `tiny`; lavapipe and CPU) and how far the two
# devices' label maps differ, training iterations (`desktop`, `tiny`), the cost of MetaKD's two
# meta steps, one iteration of the `paper` network, the tumour components of the CPU label map,
# the bundled model's header, and its 15-subset evaluation without post-processing.
# `python3 tools/tables/cpu_figures.py` turns the raw files into the tables the pages show.
#
# usage: [ONLY_OUR_CODE=1] tools/measure/cpu_figures.sh TARGET_DIR OUT_DIR [NIBABEL_PYTHON]
#   TARGET_DIR: the cargo profile folder holding `metakd` and `metakd-viewer`
#               (e.g. ~/.cache/metakd-target/debug after `cargo build --workspace`)
#   NIBABEL_PYTHON: a Python with nibabel, numpy and scipy (default python3), for the load
#               benchmark and the label-map checks; a throwaway venv is enough.
#   ONLY_OUR_CODE=1: only the study load, the batch loader, phantom generation and the viewer,
#               where our own code (not burn's or the shaders) does the work.
# Scratch data goes to ${SCRATCH:-/tmp/metakd-figures}.
set -euo pipefail
BIN=$1/metakd
VIEWER=$1/metakd-viewer
OUT=$2
PY=${3:-python3}
SCRATCH=${SCRATCH:-/tmp/metakd-figures}
SAMPLE=assets/sample/Phantom_00001
TIME=(/usr/bin/time -f "%e s %M KB")
mkdir -p "$OUT" "$SCRATCH"

step() { echo "== $* ($(date -u +%T))" >&2; }

tools/measure/machine.sh "$1 ($(basename "$1") profile of this workspace)" > "$OUT/machine.txt"

step "opening a study, next to nibabel"
"$BIN" bench load --case "$SAMPLE" --repeat 7 --python "$PY" --json > "$OUT/load.json"

step "batch loader"
"$BIN" bench loader --sizes 80,128 --batches 30 --json > "$OUT/loader.json"

step "phantom generation"
rm -rf "$SCRATCH/ph4"
"${TIME[@]}" -o "$OUT/phantom.time" \
  "$BIN" phantom --out "$SCRATCH/ph4" --cases 4 --seed 7 --size brats > "$OUT/phantom.log" 2>&1

# The rest needs the network; ONLY_OUR_CODE=1 skips it (the figures where our own code does the
# work, for comparing build profiles).
if [ -z "${ONLY_OUR_CODE:-}" ]; then
step "training data (6 BraTS-size phantoms, seed 11)"
DATA=$SCRATCH/ph_brats
[ -f "$DATA/cases.csv" ] || "$BIN" phantom --out "$DATA" --cases 6 --seed 11 --size brats > /dev/null

step "a tiny model to segment with (2 iterations: the weights do not change the time)"
rm -rf "$SCRATCH/tiny"
"$BIN" train --data "$DATA" --preset tiny --iterations 2 --out "$SCRATCH/tiny" > /dev/null 2>&1

step "whole-volume segmentation"
for model in desktop tiny; do
  model_arg=()
  [ "$model" = tiny ] && model_arg=(--model "$SCRATCH/tiny")
  for compute in wgpu cpu; do
    "${TIME[@]}" -o "$OUT/segment_${model}_$compute.time" \
      "$BIN" segment --case "$SAMPLE" "${model_arg[@]}" --compute "$compute" \
      --out "$SCRATCH/seg_${model}_$compute.nii.gz" 2>&1 | tr '\r' '\n' | tail -n 1 \
      > "$OUT/segment_${model}_$compute.log"
  done
done
"$PY" - "$SCRATCH/seg_desktop_wgpu.nii.gz" "$SCRATCH/seg_desktop_cpu.nii.gz" \
  > "$OUT/segment_desktop_devices_differ.txt" <<'EOF'
import sys
import nibabel as nib
import numpy as np
a, b = (np.asarray(nib.load(p).dataobj) for p in sys.argv[1:3])
print(f"voxels {a.size} differing {int((a != b).sum())} tumour_voxels_cpu {int((b > 0).sum())} "
      f"tumour_voxels_wgpu {int((a > 0).sum())}")
EOF

step "the CPU label map's tumour components (the false positives post-processing leaves)"
"$PY" - "$SCRATCH/seg_desktop_cpu.nii.gz" > "$OUT/segment_desktop_cpu_components.txt" <<'EOF'
import sys
import nibabel as nib
import numpy as np
from scipy import ndimage
labels = np.asarray(nib.load(sys.argv[1]).dataobj)
# 18-neighbourhood, as the post-processing uses.
components, count = ndimage.label(labels > 0, ndimage.generate_binary_structure(3, 2))
print(f"label map {sys.argv[1]} shape {labels.shape}: {count} tumour components")
for k, where in enumerate(ndimage.find_objects(components), start=1):
    size = int((components[where] == k).sum())
    z = where[2]
    print(f"component {k}: {size} voxels, slices (third axis) {z.start}-{z.stop - 1}")
EOF

step "the bundled model file's header (its learned modality weights)"
"$PY" - assets/models/metakd-desktop.metakd > "$OUT/bundled_model_header.json" <<'EOF'
import json
import struct
import sys
data = open(sys.argv[1], "rb").read()
(length,) = struct.unpack("<Q", data[8:16])
print(json.dumps(json.loads(data[16:16 + length]), indent=1))
EOF

step "training iterations"
for preset in desktop tiny; do
  if [ "$preset" = desktop ]; then args=(--config assets/models/metakd-desktop.toml); else args=(--preset tiny); fi
  for compute in wgpu cpu; do
    run=$SCRATCH/train_${preset}_$compute
    rm -rf "$run"
    "${TIME[@]}" -o "$OUT/train_${preset}_$compute.time" \
      "$BIN" train --data "$DATA" "${args[@]}" --iterations 8 --compute "$compute" --out "$run" > /dev/null 2>&1
    cp "$run/metrics.jsonl" "$OUT/train_${preset}_$compute.metrics.jsonl"
  done
done

# The measured configurations: the bundled model's, with the meta schedule or the network
# changed (each run's run.toml is kept with its output).
BUNDLED=assets/models/metakd-desktop.toml
CONFIGS=$SCRATCH/configs
mkdir -p "$CONFIGS"
sed 's/^meta_every = .*/meta_every = 1000000/' "$BUNDLED" > "$CONFIGS/desktop-meta-off.toml"
sed -e 's/^meta_every = .*/meta_every = 1/' -e 's/^meta_steps = .*/meta_steps = 1/' "$BUNDLED" \
  > "$CONFIGS/desktop-gate-proxy-every-step.toml"
{ cat "$CONFIGS/desktop-gate-proxy-every-step.toml"; echo 'meta_update = "one_step_lookahead"'; } \
  > "$CONFIGS/desktop-lookahead-every-step.toml"
# The paper network at a crop this machine can train: its fixed widths, the released SGD.
sed -e 's/^preset = .*/preset = "paper"/' -e 's/^channels = .*/channels = [64, 256, 512, 1024, 256]/' \
  -e 's/^patch = .*/patch = [32, 64, 64]/' -e 's/^batch_size = .*/batch_size = 1/' \
  -e 's/^kind = .*/kind = "sgd"/' -e 's/^learning_rate = .*/learning_rate = 0.01/' \
  -e 's/^meta_steps = .*/meta_steps = 20/' "$BUNDLED" > "$CONFIGS/paper-small.toml"

step "MetaKD's meta steps (CPU, 2 BraTS-size phantoms, one meta step before every iteration)"
META=$SCRATCH/ph_meta
[ -f "$META/cases.csv" ] || "$BIN" phantom --out "$META" --cases 2 --seed 1 --size brats > /dev/null
for variant in meta-off gate-proxy-every-step lookahead-every-step; do
  run=$SCRATCH/meta_$variant
  rm -rf "$run"
  "$BIN" train --data "$META" --config "$CONFIGS/desktop-$variant.toml" \
    --iterations 5 --compute cpu --out "$run" > /dev/null 2>&1
  cp "$run/metrics.jsonl" "$OUT/meta_$variant.metrics.jsonl"
  cp "$run/run.toml" "$OUT/meta_$variant.run.toml"
done

step "the paper network, 1 x 32 x 64 x 64 crops"
for compute in cpu wgpu; do
  run=$SCRATCH/paper_$compute
  rm -rf "$run"
  "${TIME[@]}" -o "$OUT/paper_$compute.time" \
    "$BIN" train --data "$META" --config "$CONFIGS/paper-small.toml" \
    --iterations 4 --compute "$compute" --out "$run" > /dev/null 2>&1
  cp "$run/metrics.jsonl" "$OUT/paper_$compute.metrics.jsonl"
  cp "$run/run.toml" "$OUT/paper_$compute.run.toml"
done

step "the bundled model on the sample under all 15 subsets, without post-processing"
rm -rf "$SCRATCH/eval_nopp"
"${TIME[@]}" -o "$OUT/eval_no_postprocess.time" \
  "$BIN" eval --data assets/sample --split train --no-postprocess --out "$SCRATCH/eval_nopp" \
  > "$OUT/eval_no_postprocess.log" 2>&1
cp "$SCRATCH/eval_nopp/eval.md" "$OUT/eval_no_postprocess.md"
cp "$SCRATCH/eval_nopp/eval.json" "$OUT/eval_no_postprocess.json"
fi

step "viewer, headless (two runs)"
for run in 1 2; do
  "$VIEWER" --bench --frames 300 > "$OUT/viewer_$run.txt" 2>&1
done
step "done"
