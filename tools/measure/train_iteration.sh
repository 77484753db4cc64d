#!/bin/bash
# Seconds per training iteration of the `desktop` model on lavapipe (wgpu) and on the CPU
# backend, as docs/model.md's "Speed and memory" table reports them: 8 iterations of
# `metakd train` with the bundled model's configuration on BraTS-size phantoms, the median of
# the `seconds` of the 2nd to 8th iterations (0-based 1-7) in metrics.jsonl (the first also prepares the cases and
# compiles shaders), and the peak RSS from /usr/bin/time.
#
# usage: tools/measure/train_iteration.sh METAKD_BINARY OUT_DIR
# Raw output: OUT_DIR/{wgpu,cpu}/metrics.jsonl, OUT_DIR/{wgpu,cpu}.time, OUT_DIR/summary.txt
set -euo pipefail
BIN=$1
OUT=$2
DATA=${DATA:-/tmp/ph_brats}
if [ ! -f "$DATA/cases.csv" ]; then
  "$BIN" phantom --out "$DATA" --cases 6 --seed 11 --size brats
fi
mkdir -p "$OUT"
{
  echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- engine app || echo ' (with uncommitted changes)')"
  echo "cpu $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
  echo "date $(date -u +%FT%TZ)"
} > "$OUT/summary.txt"
for compute in wgpu cpu; do
  rm -rf "${OUT:?}/$compute"
  /usr/bin/time -f "%e s %M KB" -o "$OUT/$compute.time" \
    "$BIN" train --data "$DATA" --config assets/models/metakd-desktop.toml \
    --iterations 8 --compute "$compute" --out "$OUT/$compute" > "$OUT/$compute.log" 2>&1
  python3 tools/measure/median_seconds.py "$OUT/$compute/metrics.jsonl" 1 7 \
    | sed "s/^/$compute: /" >> "$OUT/summary.txt"
  echo "$compute: peak $(cat "$OUT/$compute.time")" >> "$OUT/summary.txt"
done
cat "$OUT/summary.txt"
