#!/bin/bash
# Runs the model-file/checkpoint fuzz test binary repeatedly for 10 minutes (fresh random
# seeds each run), FUZZ_CASES=20000 cases per property per run.
end=$(( $(date +%s) + 600 ))
runs=0; failed=0
echo "start $(date -u +%FT%TZ)"
while [ $(date +%s) -lt $end ]; do
  FUZZ_CASES=20000 /tmp/model_fuzz_bin > /tmp/fuzz_run.txt 2>&1
  rc=$?
  runs=$((runs+1)); [ $rc -ne 0 ] && failed=$((failed+1))
  grep -E "^test |test result|minimal" /tmp/fuzz_run.txt
  echo "caught burn decoder panics (turned into errors): $(grep -c 'panicked at .*burn' /tmp/fuzz_run.txt)"
  echo "run $runs exit $rc at $(date -u +%H:%M:%S)"
done
echo "end $(date -u +%FT%TZ): $runs runs, $failed failed; each run: 4 properties x 20000 cases + 1 fixed test"
