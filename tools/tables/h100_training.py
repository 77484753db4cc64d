"""Tables of docs/model.md from the training logs kept of the H100 session of 2026-11-23
(`tools/gpu-bench/h100.sh` and `tools/gpu-bench/method_costs.sh`).

Writes next to the raw files, in docs/measurements/h100-2026-11-23/:

* table_training.md: seconds per `desktop` training iteration at two crop sizes
  (train-desktop-80-b4.jsonl, train-desktop-48-b2.jsonl);
* table_method_costs.md: seconds per iteration of the methods whose `metrics.jsonl` came back
  from the device (method-costs/*.jsonl; the device tool returns at most eight files, so the
  other four runs of that session have no raw output and are not shown).

Each figure is the median `seconds` of iterations 2..N of one run (the first iteration also
prepares the cases and compiles the shaders), as the scripts printed it.

usage: python3 tools/tables/h100_training.py        (run from the repository root)
"""
import pathlib
import statistics
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "measure"))
from median_seconds import step_seconds  # noqa: E402

from _markdown import table  # noqa: E402

H100 = pathlib.Path("docs/measurements/h100-2026-11-23")


def median_after_first(path):
    """(median seconds of iterations 2..N, N) of a metrics.jsonl."""
    seconds = step_seconds(path, 0, 10**9)
    return statistics.median(seconds[1:]), len(seconds)


def training():
    rows = []
    for name, crops, size in [("train-desktop-80-b4", 4, 80), ("train-desktop-48-b2", 2, 48)]:
        s, n = median_after_first(H100 / f"{name}.jsonl")
        rows.append([f"batch {crops} × {size}³", f"2–{n}", f"{s:.3f} s", f"{crops / s:.1f}"])
    return table(["crops", "iterations", "s per iteration", "crops per second"], rows,
                 ["---", "---", "---:", "---:"])


def method_costs():
    runs = [("baseline", "baseline", "concat"), ("gmd-concat-15", "gmd, all 15 subsets", "concat"),
            ("gmd-concat-5", "gmd, 5 subsets per step", "concat"),
            ("baseline-ds", "baseline", "dynamic sharing")]
    base, _ = median_after_first(H100 / "method-costs/baseline.jsonl")
    rows = []
    for name, method, backbone in runs:
        s, n = median_after_first(H100 / f"method-costs/{name}.jsonl")
        rows.append([method, backbone, f"2–{n}", f"{s:.3f}", f"{s / base:.1f}"])
    return table(["method", "backbone", "iterations", "s per iteration", "× baseline"], rows,
                 ["---", "---", "---", "---:", "---:"])


(H100 / "table_training.md").write_text(training())
(H100 / "table_method_costs.md").write_text(method_costs())
print(f"{H100}: 2 tables")
