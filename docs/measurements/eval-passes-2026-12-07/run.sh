#!/bin/bash
# A/B: evaluation of the bundled model on 1 test case x 15 subsets, old (one subset per pass) vs new (five per pass)
set -e
cd /tmp/evalab
for round in 1 2; do
  for tag in a4dc38b b66e081; do
    /usr/bin/time -f "%e s wall, %M KB peak" /work/bin/metakd-$tag eval --data /work/exp18/prep --split test --limit 1 --out /tmp/evalab/$tag-$round > /tmp/evalab/$tag-$round.txt 2>&1
    echo "$tag round $round: $(tail -1 /tmp/evalab/$tag-$round.txt)"
  done
done
