#!/bin/bash
# This project against PyTorch on the same machine, in one run: the `desktop` network's whole-
# volume segmentation of the sample study and its training step per method, with peak memory.
# The PyTorch side is tools/measure/torch_desktop.py (the same network, layer for layer, and
# the same inference steps; its header says what each method's step does), run in a throwaway
# virtual environment that this script makes when VENV does not exist yet (torch, numpy, scipy
# and nibabel from the Python package registry; never a dependency of the product).
#
# usage: tools/measure/pytorch_side_by_side.sh METAKD VENV OUT [DATA]
#   METAKD: the metakd binary (release build); VENV: the virtual environment's folder;
#   OUT: where the raw output goes (docs/measurements/<name>/ to publish it);
#   DATA: BraTS-size phantoms to train on (made with `metakd phantom` when missing).
# Then `python3 tools/tables/pytorch_side_by_side.py OUT` writes OUT/table.md.
#
# Both sides use 2 threads (THREADS to change). Inference: 3 runs each, `metakd segment` on
# the CPU backend and on wgpu (lavapipe where there is no GPU), all four sequences, default
# settings. Training: iterations 1–20 of `metakd train` (iteration 0 prepares and warms up;
# GMD 1–4) against 20 PyTorch steps after 2 warm-up steps (GMD 4), batch 2 × 48³, Adam;
# MetaKD's meta step as 1 step every 10 iterations on both sides (the bundled 10 every 100,
# amortised the same). Our loader's worker threads share the 2 cores with the step; PyTorch's
# batches are random tensors made before the timer starts.
set -euo pipefail
metakd=$(realpath "${1:?usage: pytorch_side_by_side.sh METAKD VENV OUT [DATA]}")
venv=${2:?venv}
out=${3:?out}
data=${4:-/tmp/side-by-side-phantoms}
threads=${THREADS:-2}
here=$(dirname "$0")
mkdir -p "$out"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet torch numpy scipy nibabel
fi
if [ ! -f "$data/cases.csv" ]; then
  "$metakd" phantom --out "$data" --cases 6 --seed 11 --size brats 2>/dev/null
fi
export THREADS=$threads RAYON_NUM_THREADS=$threads OMP_NUM_THREADS=$threads
"$here/machine.sh" "$metakd" >"$out/machine.txt"
echo "torch $("$venv/bin/python" -c 'import torch; print(torch.__version__)'), $threads threads" >>"$out/machine.txt"
"$venv/bin/python" "$here/torch_desktop.py" params >"$out/torch-params.json"

case_dir=assets/sample/Phantom_00001
for run in 1 2 3; do
  for compute in cpu wgpu; do
    /usr/bin/time -f "%e s %M KB" -o "$out/ours-segment-$compute-$run.time" \
      "$metakd" segment --case "$case_dir" --out "$out/ours-$compute.nii.gz" --compute "$compute" \
      >"$out/ours-segment-$compute-$run.txt" 2>&1
  done
  /usr/bin/time -f "%e s %M KB" -o "$out/torch-segment-$run.time" \
    "$venv/bin/python" "$here/torch_desktop.py" infer "$case_dir" "$out/torch.nii.gz" \
    >"$out/torch-segment-$run.json"
done
rm -f "$out"/*.nii.gz

for method in baseline metakd lckd gmd; do
  iterations=21
  [ "$method" = gmd ] && iterations=5
  config="$out/ours-train-$method.toml"
  sed -e "s/^method = .*/method = \"$method\"/" \
    -e "s/^warmup_iterations = .*/warmup_iterations = 0/" \
    -e "s/^checkpoint_every = .*/checkpoint_every = 1000/" \
    -e "s/^validate_every = .*/validate_every = 1000/" \
    -e "s/^meta_every = .*/meta_every = 10/" \
    -e "s/^meta_steps = .*/meta_steps = 1/" \
    assets/models/metakd-desktop.toml >"$config"
  rm -rf "$out/ours-train-$method"
  /usr/bin/time -f "%e s %M KB" -o "$out/ours-train-$method.time" \
    "$metakd" train --config "$config" --data "$data" --out "$out/ours-train-$method" \
    --iterations "$iterations" --compute cpu >"$out/ours-train-$method.log" 2>&1
  mv "$out/ours-train-$method/metrics.jsonl" "$out/ours-train-$method.metrics.jsonl"
  rm -rf "$out/ours-train-$method"
  /usr/bin/time -f "%e s %M KB" -o "$out/torch-train-$method.time" \
    "$venv/bin/python" "$here/torch_desktop.py" train "$method" $((iterations - 1)) \
    >"$out/torch-train-$method.json"
done
echo "raw output in $out; table: python3 tools/tables/pytorch_side_by_side.py $out"
