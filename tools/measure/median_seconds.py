"""Median `seconds` of the step lines of a run's metrics.jsonl over iterations FIRST..LAST
(0-based, as metrics.jsonl numbers them).

usage: python3 tools/measure/median_seconds.py RUN/metrics.jsonl FIRST LAST
Prints: "median S s per iteration over iterations FIRST-LAST (N steps): s1 s2 ..."
"""
import json
import statistics
import sys

path, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seconds = []
with open(path) as lines:
    for line in lines:
        row = json.loads(line)
        if "seconds" in row and "iteration" in row and first <= row["iteration"] <= last:
            seconds.append(row["seconds"])
print(
    f"median {statistics.median(seconds):.2f} s per iteration over iterations "
    f"{first}-{last} ({len(seconds)} steps): " + " ".join(f"{s:.3f}" for s in seconds)
)
