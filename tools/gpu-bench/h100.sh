#!/usr/bin/env bash
# The measurements behind the H100 figures in docs/conv3d.md and docs/model.md, as run on a
# machine lent by the device tool (run from the repository root, results under $OUT):
#
#   cargo build --workspace
#   objcopy --strip-all target/debug/metakd .gpu/metakd && xz -T2 .gpu/metakd
#   device run, carry [.gl, .gpu]:  bash tools/gpu-bench/h100.sh
#
# .gl holds the Vulkan loader packages (libvulkan1 …) as the device README says; the NVIDIA
# Vulkan driver comes with the machine.
set -u
. tools/gpu-bench/setup.sh
step() { echo "== $*"; }
TIMEFORMAT='wall %R s'

step "cuDNN conv3d (PyTorch, FP32, TF32 off)"
timeout 120 python3 tools/gpu-bench/cudnn_conv3d.py | tee "$OUT/cudnn.jsonl"

step "metakd bench conv3d --json"
time timeout 200 "$B" bench conv3d --json >"$OUT/conv3d.json"
cat "$OUT/conv3d.json"

step "whole-volume segmentation, desktop, 48³ windows, 50 % overlap (first run compiles shaders)"
for batch in 4 1 4 16; do
  time timeout 120 "$B" segment --case assets/sample/Phantom_00001 --compute wgpu \
    --batch "$batch" --out "/tmp/seg-$batch.nii.gz" 2>&1 | tr '\r' '\n' | tail -1
done

step "training throughput"
"$B" phantom --out /tmp/phantom --cases 8 --seed 11 --size brats >/dev/null
train() { # name patch batch
  sed -e "s/^patch = .*/patch = [$2, $2, $2]/" -e "s/^batch_size = .*/batch_size = $3/" \
    -e 's/^workers = .*/workers = 12/' -e 's/^compute = .*/compute = "wgpu"/' \
    assets/models/metakd-desktop.toml >"/tmp/$1.toml"
  time timeout 150 "$B" train --data /tmp/phantom --config "/tmp/$1.toml" --iterations 12 \
    --out "/tmp/run-$1" >/dev/null 2>"$OUT/train-$1.err"
  cp "/tmp/run-$1/metrics.jsonl" "$OUT/train-$1.jsonl"
  grep -o '"seconds":[0-9.e-]*' "/tmp/run-$1/metrics.jsonl" | tr '\n' ' '
  echo
}
train desktop-48-b2 48 2
train desktop-80-b4 80 4
