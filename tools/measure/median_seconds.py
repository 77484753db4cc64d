"""Median `seconds` of the step lines of a run's metrics.jsonl over iterations FIRST..LAST
(0-based, as metrics.jsonl numbers them).

usage: python3 tools/measure/median_seconds.py RUN/metrics.jsonl FIRST LAST
Prints: "median S s per iteration over iterations FIRST-LAST (N steps): s1 s2 ..."
"""
import json
import statistics
import sys


def step_seconds(path, first, last):
    """The `seconds` of the step lines of a metrics.jsonl over iterations first..last."""
    with open(path) as lines:
        rows = [json.loads(line) for line in lines]
    return [
        row["seconds"]
        for row in rows
        if "seconds" in row and "iteration" in row and first <= row["iteration"] <= last
    ]


if __name__ == "__main__":
    path, first, last = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    seconds = step_seconds(path, first, last)
    print(
        f"median {statistics.median(seconds):.2f} s per iteration over iterations "
        f"{first}-{last} ({len(seconds)} steps): " + " ".join(f"{s:.3f}" for s in seconds)
    )
