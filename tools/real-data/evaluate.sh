#!/usr/bin/env bash
# The 15-subset evaluation of a model on the held-out real cases, with the raw output kept:
#
#   [SPLIT=val] [SUBSETS=flair+t1+t1ce+t2,flair+t1ce] [MIRROR=x] [RESUME=1] tools/real-data/evaluate.sh METAKD MODEL DATA OUT [COMPUTE]
#
# METAKD: the metakd binary; MODEL: a model file or run folder; DATA: the folder
# tools/real-data/deepbrainseg.sh wrote; OUT: where machine.txt, command.txt, eval.md/csv/json
# and stderr.txt go (under docs/measurements/ to publish them); COMPUTE: cpu or wgpu (default
# wgpu: Mesa's lavapipe on a machine without a GPU; the same label maps up to float rounding).
# SPLIT: which split (default test); SUBSETS: only these modality subsets (default all 15);
# MIRROR: test-time mirroring, off, x or xyz (default off); RESUME: reuse the cases an
# interrupted run kept in OUT/cases/ (machine.txt and command.txt then gain the new run's lines).
# Default inference settings: 48³ windows, 50 % overlap, Gaussian weighting, post-processing.
set -euo pipefail
metakd=${1:?usage: evaluate.sh METAKD MODEL DATA OUT [COMPUTE]}
model=${2:?model}
data=${3:?data}
out=${4:?out}
compute=${5:-wgpu}
split=${SPLIT:-test}
mkdir -p "$out"
if [ -z "${RESUME:-}" ]; then rm -f "$out/machine.txt" "$out/command.txt" "$out/stderr.txt"; fi
{
  echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- engine app shaders || echo ' (with uncommitted changes)')"
  echo "date $(date -u +%FT%TZ)"
  echo "cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
  echo "memory $(free -g | awk '/Mem:/ {print $2}') GiB"
  echo "mesa-vulkan-drivers $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null || echo none)"
  echo "model $model ($(sha256sum "$( [ -d "$model" ] && echo "$model/model.metakd" || echo "$model")" | cut -c1-16))"
  echo "$split cases $(grep ",$split\$" "$data/cases.csv" | cut -d, -f1 | xargs)"
} >>"$out/machine.txt"
cmd=("$metakd" eval --model "$model" --data "$data" --split "$split" --compute "$compute" --out "$out")
if [ -n "${SUBSETS:-}" ]; then cmd+=(--subsets "$SUBSETS"); fi
if [ -n "${MIRROR:-}" ]; then cmd+=(--mirror "$MIRROR"); fi
if [ -n "${RESUME:-}" ]; then cmd+=(--resume); fi
echo "${cmd[*]}" >>"$out/command.txt"
"${cmd[@]}" 2>>"$out/stderr.txt"
