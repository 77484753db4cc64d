#!/bin/bash
# Issue #18's comparison, one run at a time (the protocol in docs/experiment.md): seed 1 of
# every arm first, then seeds 2 and 3. A run with an eval.json is skipped; a run with a
# checkpoint resumes, so the script continues where a killed one stopped. Each run's log goes
# to LOGS/<arm>-seed<k>.log, and LOGS/queue.log records when each run started and ended.
# usage: tools/measure/experiment18_queue.sh METAKD PREPARED_DATA EXPERIMENT_DIR LOGS
set -u
metakd=$1
data=$2
out=$3
logs=$4
mkdir -p "$logs"
for seed in 1 2 3; do
  for arm in baseline metakd lckd metakd-lookahead gmd; do
    [ -f "$out/runs/$arm-seed$seed/eval.json" ] && continue
    echo "$(date -u +%FT%TZ) start $arm seed $seed" >> "$logs/queue.log"
    "$metakd" experiment --data "$data" --methods "$arm" --iterations 3000 --seeds 3 \
      --only-seed "$seed" --limit 20 --out "$out" > "$logs/$arm-seed$seed.log" 2>&1
    echo "$(date -u +%FT%TZ) end $arm seed $seed rc=$?" >> "$logs/queue.log"
  done
done
