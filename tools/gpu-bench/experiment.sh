#!/usr/bin/env bash
# The four-way comparison (`desktop`, 1,000 iterations) on a lent GPU (device tool), in calls
# of at most 10 minutes. Tried once and stopped after the first call (docs/experiment.md, last
# point): the twelve processes shared the H100 at the throughput of one, so the whole run needs
# about 37 minutes of device time.
# How it works: every (method, seed) run trains in its own process at once (`--only-seed`); a
# run still going when the call's time is up is stopped with SIGINT (it checkpoints), and
# everything comes back in $OUT/exp.tar.*; copied into .gpu/ and carried again, the next call
# resumes the runs. When every run has its model, the same command without --only-seed
# collects the evaluations and writes the comparison.
#
#   device run, carry [.gl, .gpu]:  ITERS=1000 GMD_SUBSETS=5 bash tools/gpu-bench/experiment.sh
set -u
deadline=$(($(date +%s) + ${BUDGET_S:-540}))
. tools/gpu-bench/setup.sh
ITERS=${ITERS:-1000}
GMD_SUBSETS=${GMD_SUBSETS:-5}
cat .gpu/exp.tar.* 2>/dev/null | tar -xf - -C /tmp 2>/dev/null && echo "resumed: $(ls /tmp/exp/out/runs)"
DATA=/tmp/exp/data
[ -d "$DATA" ] || "$B" phantom --out "$DATA" --cases 24 --seed 11 --size small >/dev/null
ARGS=(--data "$DATA" --preset desktop --iterations "$ITERS" --seeds 3 --gmd-subsets "$GMD_SUBSETS"
  --compute wgpu --out /tmp/exp/out)
mkdir -p /tmp/exp/logs
start=$(date +%s)
# Stop the shards 90 s before the deadline (SIGINT: checkpoint), kill them 30 s later.
train_s=$((deadline - start - 90))
for m in baseline lckd gmd metakd; do
  for s in 1 2 3; do
    timeout -s INT -k 30 "$train_s" "$B" experiment "${ARGS[@]}" --methods "$m" --only-seed "$s" \
      >"/tmp/exp/logs/$m-$s.log" 2>&1 &
  done
done
wait
echo "shards done after $(($(date +%s) - start)) s"
left=$((deadline - $(date +%s)))
if [ "$left" -gt 30 ] && ls /tmp/exp/out/runs/*/model.metakd 2>/dev/null | wc -l | grep -qx 12; then
  time timeout -s INT -k 20 "$left" "$B" experiment "${ARGS[@]}" --methods baseline,lckd,gmd,metakd \
    >/tmp/exp/logs/all.log 2>&1
  tail -3 /tmp/exp/logs/all.log
fi
for f in /tmp/exp/out/runs/*; do
  echo "$(basename "$f"): $(grep -c '"seconds"' "$f/metrics.jsonl" 2>/dev/null) steps$([ -f "$f/model.metakd" ] && echo ', model')"
done
# Finished runs travel without their checkpoints.
cd /tmp && find exp/out exp/logs -type f ! \( -name checkpoint.bin -execdir test -f model.metakd \; \) -print |
  tar -cf - -T - | split -b 15M - "$OUT/exp.tar."
ls -la "$OUT"
