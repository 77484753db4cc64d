#!/usr/bin/env bash
# Issue #17's scale figures, in one run on one machine:
#   1. `metakd prepare` of a folder of BraTS-size phantoms (time per case, disk per case);
#   2. the same for its first 20 cases (cases.csv order, their splits kept);
#   3. `metakd bench loader --prepared`: streamed against in-memory patches per second on the
#      same training cases (of the 200, then of the 20), 128³ patches, 2 workers, with each
#      phase's peak memory;
#   4. peak memory of `metakd train` (desktop, MetaKD, the bundled model's settings,
#      assets/models/metakd-desktop.toml, on the CPU) for 12 iterations (4 of warm-up, a meta
#      round, validation at 6 and 12) on the 200-case and on the 20-case prepared sets.
# Usage: tools/measure/scale.sh METAKD PHANTOM_DIR WORK_DIR OUT_DIR
#   PHANTOM_DIR: e.g. made by `metakd phantom --out DIR --cases 200 --seed 1000`
#   WORK_DIR: where the prepared sets and runs go (several GB; not committed)
#   OUT_DIR: where the raw output goes (committed under docs/measurements/)
set -euo pipefail
METAKD=$(realpath "$1"); DATA=$(realpath "$2"); WORK=$3; OUT=$4
mkdir -p "$WORK" "$OUT"
WORK=$(realpath "$WORK")
tools/measure/machine.sh "$METAKD" > "$OUT/machine.txt"
df -h "$WORK" | tail -1 >> "$OUT/machine.txt"

run() { # name, command...: stdout to NAME.txt, stderr (with /usr/bin/time -v) to NAME.time
  local name=$1; shift
  echo "\$ $*" > "$OUT/$name.txt"
  /usr/bin/time -v "$@" >> "$OUT/$name.txt" 2> "$OUT/$name.time"
}

rm -rf "$WORK/prep200" "$WORK/prep20" "$WORK/raw20" "$WORK/run200" "$WORK/run20"
run prepare200 "$METAKD" prepare --data "$DATA" --out "$WORK/prep200" --workers 2

mkdir -p "$WORK/raw20"
head -21 "$DATA/cases.csv" > "$WORK/raw20/cases.csv"
tail -n +2 "$WORK/raw20/cases.csv" | cut -d, -f1 | while read -r c; do ln -s "$DATA/$c" "$WORK/raw20/$c"; done
run prepare20 "$METAKD" prepare --data "$WORK/raw20" --out "$WORK/prep20" --workers 2

for n in 200 20; do
  run loader$n "$METAKD" bench loader --prepared "$WORK/prep$n" --split train --sizes 128 \
    --workers 2 --batch-size 2 --warmup 4 --batches 60 --json
done

sed -e 's/^iterations = .*/iterations = 12/' -e 's/^warmup_iterations = .*/warmup_iterations = 4/' \
  -e 's/^validate_every = .*/validate_every = 6/' assets/models/metakd-desktop.toml > "$WORK/desktop-scale.toml"
run train200 "$METAKD" train --config "$WORK/desktop-scale.toml" --data "$WORK/prep200" --out "$WORK/run200"
run train20 "$METAKD" train --config "$WORK/desktop-scale.toml" --data "$WORK/prep20" --out "$WORK/run20"
cp "$WORK/run200/run.toml" "$OUT/train200.run.toml"
du -sb "$WORK/prep200" "$WORK/prep20" "$DATA" > "$OUT/disk.txt"
grep -h "Maximum resident\|Elapsed" "$OUT"/*.time
