"""Table of docs/model.md's "Windows outside the brain and fast mode" from the raw output of
`tools/measure/inference_windows.sh`.

Reads docs/measurements/inference-windows-2026-12-07/ (segment-{all-windows,skip,fast}.txt,
eval-overlap-{0.5,0.25}/eval.json) and writes table_windows.md next to them: per setting, the
windows run and the seconds of one whole-volume segmentation with all four sequences, and
Dice WT/TC/ET for three modality subsets.

usage: python3 tools/tables/inference_windows.py        (run from the repository root)
"""
import json
import pathlib
import re

from _markdown import table

RAW = pathlib.Path("docs/measurements/inference-windows-2026-12-07")
SUBSETS = ["FLAIR+T1+T1ce+T2", "FLAIR+T1ce", "T2"]


def segment_run(mode):
    """(windows run, seconds) of `metakd segment` from its last two output lines."""
    text = (RAW / f"segment-{mode}.txt").read_text()
    windows = int(re.search(r"window (\d+)/\d+", text).group(1))
    seconds = float(re.search(r" in ([\d.]+) s", text).group(1))
    return windows, seconds


def dice(overlap):
    """Dice WT/TC/ET (%) per subset label from `metakd eval --out`'s eval.json."""
    report = json.loads((RAW / f"eval-overlap-{overlap}" / "eval.json").read_text())
    return {row["subset"]: [100.0 * d for d in row["dice"]] for row in report["rows"]}


def main():
    default, fast = dice("0.5"), dice("0.25")
    rows = []
    for mode, name, scores in [
        ("all-windows", "overlap 0.5, every window", None),
        ("skip", "overlap 0.5, windows outside the brain skipped (default)", default),
        ("fast", "fast mode: overlap 0.25, windows outside the brain skipped", fast),
    ]:
        windows, seconds = segment_run(mode)
        # Dice was evaluated with the default and with fast mode only.
        cells = [
            "–" if scores is None else " / ".join(f"{v:.1f}" for v in scores[s]) for s in SUBSETS
        ]
        rows.append([name, windows, f"{seconds:.1f}"] + cells)
    header = ["setting", "windows", "s (all four)"] + [f"Dice WT / TC / ET, {s}" for s in SUBSETS]
    (RAW / "table_windows.md").write_text(
        table(header, rows, ["---", "---:", "---:", "---:", "---:", "---:"])
    )


if __name__ == "__main__":
    main()
