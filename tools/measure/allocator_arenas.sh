#!/bin/bash
# engine::allocator's one-heap setting (M_ARENA_MAX = 1) against the binary before it, on the
# CPU backend: 3 alternating runs each of a 21-iteration `desktop` baseline training (the
# side-by-side benchmark's settings) and a whole-study segmentation of the bundled sample, with
# wall time, peak memory and minor page faults; summary.txt has the medians of the step times.
#
# usage: tools/measure/allocator_arenas.sh METAKD OLD_METAKD OUT [DATA]
#   OLD_METAKD: a build of the commit before the setting; DATA: BraTS-size phantoms
#   (made with `metakd phantom` when missing, as pytorch_side_by_side.sh does).
set -euo pipefail
metakd=$(realpath "$1") old=$(realpath "$2") out=$3 data=${4:-/tmp/side-by-side-phantoms}
mkdir -p "$out"
here=$(dirname "$0")
"$here/machine.sh" "$metakd $old" >"$out/machine.txt"
if [ ! -f "$data/cases.csv" ]; then
  "$metakd" phantom --out "$data" --cases 6 --seed 11 --size brats 2>/dev/null
fi
export RAYON_NUM_THREADS=${THREADS:-2}
tmp=$(mktemp -d)
sed -e 's/^method = .*/method = "baseline"/' \
  -e 's/^warmup_iterations = .*/warmup_iterations = 0/' \
  -e 's/^checkpoint_every = .*/checkpoint_every = 1000/' \
  -e 's/^validate_every = .*/validate_every = 1000/' \
  assets/models/metakd-desktop.toml >"$out/train.toml"
for run in 1 2 3; do
  for variant in one-heap arenas; do
    bin=$metakd
    [ $variant = arenas ] && bin=$old
    rm -rf "$tmp/run"
    /usr/bin/time -f "%e s %M KB %R minor faults" -o "$out/train-$variant-$run.time" \
      "$bin" train --config "$out/train.toml" --data "$data" --out "$tmp/run" --iterations 21 \
      --compute cpu >"$out/train-$variant-$run.log" 2>&1
    mv "$tmp/run/metrics.jsonl" "$out/train-$variant-$run.metrics.jsonl"
    /usr/bin/time -f "%e s %M KB %R minor faults" -o "$out/segment-$variant-$run.time" \
      "$bin" segment --case assets/sample/Phantom_00001 --out "$tmp/seg.nii.gz" --compute cpu \
      >"$out/segment-$variant-$run.txt" 2>&1
  done
done
rm -rf "$tmp"
python3 - "$out" >"$out/summary.txt" <<'PY'
import glob, json, statistics, sys
out = sys.argv[1]
for variant in ("one-heap", "arenas"):
    for run in (1, 2, 3):
        rows = [json.loads(l) for l in open(f"{out}/train-{variant}-{run}.metrics.jsonl")]
        steps = [r["seconds"] for r in rows if 1 <= r.get("iteration", -1) <= 20 and "seconds" in r]
        train = open(f"{out}/train-{variant}-{run}.time").read().split("\n")[-2]
        seg = open(f"{out}/segment-{variant}-{run}.time").read().split("\n")[-2]
        print(f"{variant} run {run}: training step median {statistics.median(steps):.3f} s "
              f"(whole run {train}); segmentation {seg}")
PY
cat "$out/summary.txt"
