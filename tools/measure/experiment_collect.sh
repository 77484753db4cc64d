#!/bin/bash
# Copies what issue #18's comparison keeps of a `metakd experiment` folder into a measurements
# folder: each evaluated run's run.toml, eval.json and metrics.jsonl (gzipped; not its
# checkpoint or model), the experiment's tables, statistics, strategy logs, iteration costs and
# chart, and machine.txt. Runs set aside (`*.stale-*`) and runs not yet evaluated are left out.
# With `runs-only`, the experiment's tables are not copied: while runs are still going, they are
# what the last call wrote, for its arm alone.
# usage: tools/measure/experiment_collect.sh EXPERIMENT_DIR OUT_DIR BINARY [runs-only]
set -euo pipefail
exp=$1
out=$2
binary=$3
runs_only=${4:-}
mkdir -p "$out/runs"
for run in "$exp"/runs/*/; do
  name=$(basename "$run")
  case $name in *.stale-*) continue ;; esac
  [ -f "$run/eval.json" ] || continue
  mkdir -p "$out/runs/$name"
  cp "$run/run.toml" "$run/eval.json" "$out/runs/$name/"
  gzip -9 -n -c "$run/metrics.jsonl" > "$out/runs/$name/metrics.jsonl.gz"
done
[ "$runs_only" = runs-only ] || for f in comparison.md comparison.csv comparison.json stats.md stats.csv stats.json \
  metakd_weights.csv lckd_teachers.csv iteration_costs.md dice_by_modalities.png; do
  if [ -f "$exp/$f" ]; then cp "$exp/$f" "$out/"; fi
done
"$(dirname "$0")/machine.sh" "$binary" > "$out/machine.txt"
