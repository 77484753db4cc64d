"""Tables of docs/benchmarks.md and docs/model.md from the raw output that
`tools/measure/cpu_figures.sh` writes (the CPU backend and lavapipe on the 2-core machine).

For each docs/measurements/cpu-*/ folder holding that output (a machine.txt), writes next to
the raw files each of table_load.md, table_loader.md, table_phantom.md, table_viewer.md,
table_speed.md, table_meta_steps.md and table_paper.md whose raw files are there. The
15-subset evaluation without post-processing, eval_no_postprocess.md, is `metakd eval`'s own
table, used as it is. `tools/regen_docs_tables.py` runs this first and then copies the tables
into the pages.

usage: python3 tools/tables/cpu_figures.py        (run from the repository root)
"""
import json
import pathlib
import re
import statistics
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "measure"))
from median_seconds import step_seconds  # noqa: E402

from _markdown import table  # noqa: E402


def peak(folder, name):
    """(wall seconds, peak RSS in MB) from a `/usr/bin/time -f "%e s %M KB"` file."""
    wall, kb = re.search(r"([\d.]+) s (\d+) KB", (folder / f"{name}.time").read_text()).groups()
    return float(wall), int(kb) / 1000


def memory(mb):
    return f"{mb / 1000:.2f} GB" if mb >= 1000 else f"{mb:.0f} MB"


def median_step_seconds(path, first, last):
    """Median `seconds` of a metrics.jsonl's steps first..last, all of them present."""
    seconds = step_seconds(path, first, last)
    assert len(seconds) == last - first + 1, f"{path}: {len(seconds)} steps in {first}-{last}"
    return statistics.median(seconds)


def segment_seconds(folder, name):
    """The time `metakd segment` prints (from the loaded study to the label map)."""
    text = (folder / f"segment_{name}.log").read_text()
    return float(re.search(r"in ([\d.]+) s", text).group(1))


def load(folder):
    report = json.loads((folder / "load.json").read_text())
    return table(
        ["reader", "best", "median"],
        [
            ["metakd (parallel, f32)", f"{report['ours_best_ms']:.1f} ms", f"{report['ours_median_ms']:.1f} ms"],
            ["nibabel `get_fdata` (f64)", f"{report['nibabel_best_ms']:.1f} ms", f"{report['nibabel_median_ms']:.1f} ms"],
            ["speed-up (best)", f"{report['speedup_vs_nibabel']:.2f}×", ""],
            ["peak memory of one load", f"{report['ours_peak_mb']:.1f} MB for {report['decoded_f32_mb']:.1f} MB of f32 = {report['peak_over_decoded']:.2f}×", ""],
        ],
    )


def loader(folder):
    report = json.loads((folder / "loader.json").read_text())
    rows = [
        ["×".join(map(str, r["patch"])), f"{r['patches_per_s']:.1f}", f"{r['ms_per_batch']:.1f}"]
        for r in report["results"]
    ]
    rows.append([f"preparing the {report['cases']} cases", f"{report['prepare_s']:.1f} s", ""])
    return table(["patch", "patches/s", "ms/batch"], rows)


def phantom(folder):
    wall, mb = peak(folder, "phantom")
    return table(
        ["cases", "wall", "per case", "peak RSS"],
        [[4, f"{wall:.1f} s", f"{wall / 4:.2f} s", memory(mb)]],
    )


VIEWER_LINES = [
    ("open the study (read 5 files, windows, label counts)", r"open study\s+([\d.]+) ms", "{} ms"),
    ("first frame, from process start", r"first frame\s+([\d.]+) ms", "{} ms"),
    ("scrolling, UI pass p50 / p95", r"UI pass\s+p50\s+([\d.]+) ms\s+p95\s+([\d.]+) ms", "{} / {} ms"),
    ("scrolling, UI pass + software render + read-back p50 / p95", r"UI \+ render\s+p50\s+([\d.]+) ms\s+p95\s+([\d.]+) ms", "{} / {} ms"),
    ("resident memory with the study open", r"resident memory\s+([\d.]+) MB", "{} MB"),
]


def viewer(folder):
    runs = [(folder / f"viewer_{k}.txt").read_text() for k in (1, 2)]
    rows = []
    for what, pattern, shown in VIEWER_LINES:
        cells = [shown.format(*re.search(pattern, text).groups()) for text in runs]
        rows.append([what] + cells)
    return table(["measure", "run 1", "run 2"], rows)


def speed(folder):
    rows = []
    for model, what in [("desktop", "whole BraTS-size study, `desktop`, 48³ windows, 50 % overlap, `--batch 4`"),
                        ("tiny", "the same with a `tiny` model (32³ windows)")]:
        cells = [what]
        for compute in ("wgpu", "cpu"):
            _, mb = peak(folder, f"segment_{model}_{compute}")
            cells.append(f"{segment_seconds(folder, f'{model}_{compute}'):.1f} s, {memory(mb)}")
        rows.append(cells)
    for preset, what in [("desktop", "training `desktop` (MetaKD warm-up, batch 2 × 48³), per iteration"),
                         ("tiny", "training `tiny` (batch 2 × 32³), per iteration")]:
        cells = [what]
        for compute in ("wgpu", "cpu"):
            _, mb = peak(folder, f"train_{preset}_{compute}")
            s = median_step_seconds(folder / f"train_{preset}_{compute}.metrics.jsonl", 1, 7)
            cells.append(f"{s:.2f} s, {memory(mb)}")
        rows.append(cells)
    return table(["what", "lavapipe (`--compute wgpu`)", "CPU (`--compute cpu`, burn's Flex)"], rows)


def meta_steps(folder):
    variants = [("meta-off", "none (no meta round after iteration 0)"),
                ("gate-proxy-every-step", "one gate-proxy step before every iteration"),
                ("lookahead-every-step", "one look-ahead step before every iteration")]
    base = median_step_seconds(folder / "meta_meta-off.metrics.jsonl", 1, 4)
    rows = []
    for name, what in variants:
        s = median_step_seconds(folder / f"meta_{name}.metrics.jsonl", 1, 4)
        rows.append([what, f"{s:.2f}", f"{s - base:.2f}"])
    return table(["meta step", "s per iteration", "s over none"], rows)


def paper(folder):
    rows = []
    for compute, device in (("cpu", "CPU (burn's Flex)"), ("wgpu", "lavapipe")):
        _, mb = peak(folder, f"paper_{compute}")
        s = median_step_seconds(folder / f"paper_{compute}.metrics.jsonl", 1, 3)
        rows.append([device, f"{s:.1f} s", memory(mb)])
    return table(["device", "s per iteration", "peak RSS"], rows)


# Each table, and the raw file that says its part of the script ran (`ONLY_OUR_CODE=1` runs
# only the first four).
TABLES = {"load": (load, "load.json"), "loader": (loader, "loader.json"),
          "phantom": (phantom, "phantom.time"), "viewer": (viewer, "viewer_1.txt"),
          "speed": (speed, "segment_desktop_cpu.log"),
          "meta_steps": (meta_steps, "meta_meta-off.metrics.jsonl"),
          "paper": (paper, "paper_cpu.metrics.jsonl")}

for folder in sorted(pathlib.Path("docs/measurements").glob("cpu-*")):
    if (folder / "machine.txt").exists():
        made = [name for name, (_, needs) in TABLES.items() if (folder / needs).exists()]
        for name in made:
            (folder / f"table_{name}.md").write_text(TABLES[name][0](folder))
        print(f"{folder}: {len(made)} tables")
