"""Table of docs/benchmarks.md's "Against PyTorch on the same machine" from the raw output of
`tools/measure/pytorch_side_by_side.sh`.

Reads the folder's ours-segment-*.txt/.time, torch-segment-*.json/.time,
ours-train-*.metrics.jsonl/.time and torch-train-*.json/.time, and writes table.md next to
them: per piece of work, this project's seconds and peak memory, PyTorch's, and the ratio
(ours / PyTorch; below 1 is faster). Inference figures are medians of the three runs;
training figures are the mean seconds per step over the timed steps.

usage: python3 tools/tables/pytorch_side_by_side.py [RAW_DIR]   (run from the repository root)
"""
import json
import pathlib
import re
import statistics
import sys

from _markdown import table

RAW = pathlib.Path(
    sys.argv[1] if len(sys.argv) > 1 else "docs/measurements/pytorch-side-by-side-2026-12-07b"
)
METHODS = ["baseline", "metakd", "lckd", "gmd"]


def wall_and_peak(path):
    """(seconds, MB) from a `/usr/bin/time -f "%e s %M KB"` file."""
    seconds, kb = re.search(r"([\d.]+) s (\d+) KB", path.read_text()).groups()
    return float(seconds), int(kb) / 1024


def median(values):
    return statistics.median(values)


def ours_segment(compute):
    runs = sorted(RAW.glob(f"ours-segment-{compute}-*.txt"))
    inside = [float(re.search(r" in ([\d.]+) s", r.read_text()).group(1)) for r in runs]
    times = [wall_and_peak(r.with_suffix(".time")) for r in runs]
    return median(inside), median(t[0] for t in times), max(t[1] for t in times)


def torch_segment():
    runs = sorted(RAW.glob("torch-segment-*.json"))
    results = [json.loads(r.read_text()) for r in runs]
    inside = [r["segment_seconds"] + r["write_seconds"] for r in results]
    times = [wall_and_peak(r.with_suffix(".time")) for r in runs]
    windows = {r["windows"] for r in results}
    return median(inside), median(t[0] for t in times), max(t[1] for t in times), windows


def ours_train(method):
    rows = [json.loads(line) for line in (RAW / f"ours-train-{method}.metrics.jsonl").open()]
    seconds = [r["seconds"] for r in rows if "seconds" in r and r["iteration"] >= 1]
    return statistics.mean(seconds), len(seconds), wall_and_peak(RAW / f"ours-train-{method}.time")[1]


def torch_train(method):
    result = json.loads((RAW / f"torch-train-{method}.json").read_text())
    return result["mean_seconds"], len(result["seconds"]), wall_and_peak(
        RAW / f"torch-train-{method}.time"
    )[1]


def compared(work, ours, theirs, unit):
    """One table row: both values in `unit` ("s", "s2" for two decimals, "MB") and the ratio."""
    shown = {"s": "{:.1f} s", "s2": "{:.2f} s", "MB": "{:.0f} MB"}[unit]
    return [work, shown.format(ours), shown.format(theirs), f"{ours / theirs:.2f}"]


def main():
    params = json.loads((RAW / "torch-params.json").read_text())["parameters"]
    torch_inside, torch_wall, torch_peak, windows = torch_segment()
    rows = []
    for compute, name in [("cpu", "CPU backend"), ("wgpu", "wgpu (lavapipe)")]:
        inside, wall, peak = ours_segment(compute)
        rows += [
            compared(f"whole study, segmentation to labels written ({name})",
                     inside, torch_inside, "s"),
            compared(f"whole study, the whole command: start, files read, model loaded ({name})",
                     wall, torch_wall, "s"),
            compared(f"whole study, peak memory ({name})", peak, torch_peak, "MB"),
        ]
    for method in METHODS:
        ours, ours_steps, ours_peak = ours_train(method)
        theirs, their_steps, their_peak = torch_train(method)
        rows += [
            compared(f"training step, {method} (CPU backend; {ours_steps} / {their_steps} steps)",
                     ours, theirs, "s2"),
            compared(f"training, peak memory, {method}", ours_peak, their_peak, "MB"),
        ]
    (RAW / "table.md").write_text(
        table(["work", "this project", "PyTorch", "ratio"], rows, ["---", "---:", "---:", "---:"])
    )
    print(f"{params:,} parameters on both sides; windows per study: {sorted(windows)}")


if __name__ == "__main__":
    main()
