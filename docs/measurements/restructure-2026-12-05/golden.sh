#!/bin/bash
# usage: golden.sh BIN OUTDIR
set -e
BIN=$1; OUT=$2; mkdir -p $OUT
S=${REPO:-$(git rev-parse --show-toplevel)}/assets/sample/Phantom_00001
$BIN info $S > $OUT/info_case.txt 2>&1
$BIN info $S --json > $OUT/info_case.json 2>&1 || true
for f in $S/*.nii.gz; do b=$(basename $f .nii.gz); $BIN info $f > $OUT/info_$b.txt; $BIN info $f --json --labels --at 10,20,30 --at 120,120,77 > $OUT/info_$b.json; done
$BIN info /nonexistent.nii.gz > $OUT/info_missing.txt 2>&1 || echo "rc=$?" >> $OUT/info_missing.txt
/usr/bin/time -v $BIN segment --case $S --out $OUT/seg.nii.gz > $OUT/seg.log 2>&1
$BIN segment --case $S --drop t1ce,flair --out $OUT/seg_drop.nii.gz >> $OUT/seg.log 2>&1
sha256sum $OUT/*.nii.gz $OUT/info_* > $OUT/SHA256
