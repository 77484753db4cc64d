#!/bin/bash
# Issue #18's comparison, one run at a time (the protocol in docs/experiment.md): seed 1 of
# every arm, then seed 2 of the four arms that train in under an hour, the ablation's seed 1,
# seed 3 of those four arms, the ablation's seeds 2 and 3, and last GMD's seeds 2 and 3 (about
# 4 hours each on the 2-core machine), so that three seeds of most arms are read early. A run
# with an eval.json is skipped; a run with a checkpoint resumes, so the script continues where
# a killed one stopped. Each run's log goes to LOGS/<arm>-seed<k>.log, and LOGS/queue.log
# records when each run started and ended.
# usage: tools/measure/experiment18_queue.sh METAKD PREPARED_DATA EXPERIMENT_DIR LOGS
set -u
metakd=$1
data=$2
out=$3
logs=$4
mkdir -p "$logs"
quick="baseline metakd lckd metakd-lookahead"
order="$(for a in $quick gmd; do echo "$a:1"; done)
$(for a in $quick; do echo "$a:2"; done)
metakd-kd1:1
$(for a in $quick; do echo "$a:3"; done)
metakd-kd1:2
metakd-kd1:3
gmd:2
gmd:3"
for run in $order; do
  arm=${run%:*}
  seed=${run#*:}
  [ -f "$out/runs/$arm-seed$seed/eval.json" ] && continue
  echo "$(date -u +%FT%TZ) start $arm seed $seed" >> "$logs/queue.log"
  "$metakd" experiment --data "$data" --methods "$arm" --iterations 3000 --seeds 3 \
    --only-seed "$seed" --limit 20 --out "$out" > "$logs/$arm-seed$seed.log" 2>&1
  echo "$(date -u +%FT%TZ) end $arm seed $seed rc=$?" >> "$logs/queue.log"
done
