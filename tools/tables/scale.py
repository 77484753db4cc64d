"""Tables of docs/data.md from the raw output of `tools/measure/scale.sh`.

Reads docs/measurements/scale-2026-12-07/ (prepare200.txt/.time, loader200.txt, loader20.txt,
train200.time, train20.time) and writes next to them:

* table_scale.md: preparing, disk and memory per case, the loader's rates side by side, and
  the peak memory of training on 200 and on 20 prepared cases;
* table_extrapolated.md: what 1,251 cases (BraTS 2021's training set) would take, the
  measured per-case figures times 1,251.

usage: python3 tools/tables/scale.py        (run from the repository root)
"""
import json
import pathlib
import re

from _markdown import table

RAW = pathlib.Path("docs/measurements/scale-2026-12-07")
BRATS_2021_CASES = 1251


def max_rss_mb(name):
    """Peak resident memory of a command, MB, from its `/usr/bin/time -v` output."""
    text = (RAW / f"{name}.time").read_text()
    kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    return kb / 1000.0


def wall_seconds(name):
    """Wall time of a command, seconds, from its `/usr/bin/time -v` output."""
    text = (RAW / f"{name}.time").read_text()
    clock = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (\S+)", text).group(1)
    seconds = 0.0
    for part in clock.split(":"):
        seconds = seconds * 60 + float(part)
    return seconds


def prepare_summary(name):
    """(cases, MB on disk per case, % of in-memory size, MB in memory per case, s per case on
    one worker) from `metakd prepare`'s two summary lines."""
    text = (RAW / f"{name}.txt").read_text()
    cases = int(re.search(r"^(\d+) cases in ", text, re.M).group(1))
    disk = re.search(
        r"on disk ([\d.]+) MB \(([\d.]+) MB per case, ([\d.]+) % of the ([\d.]+) MB they take in memory as f32\); ([\d.]+) s per prepared case",
        text,
    )
    memory_total = float(disk.group(4))
    return {
        "cases": cases,
        "disk_per_case": float(disk.group(2)),
        "percent": float(disk.group(3)),
        "memory_per_case": memory_total / cases,
        "worker_s_per_case": float(disk.group(5)),
    }


def loader_rows(name):
    """The loader benchmark's JSON report (after the command line) and its rows by loader."""
    text = (RAW / f"{name}.txt").read_text()
    report = json.loads(text[text.index("{"):])
    return report, {row["loader"]: row for row in report["results"]}


def main():
    prep = prepare_summary("prepare200")
    wall = wall_seconds("prepare200")
    rss200, rss20 = max_rss_mb("train200"), max_rss_mb("train20")
    loaders = []
    for name in ["loader200", "loader20"]:
        report, rows = loader_rows(name)
        streamed, memory = rows["streamed"], rows["in-memory"]
        loaders += [
            [
                f"loader, {report['cases']} training cases, 128³ patches, 2 workers: streamed",
                f"{streamed['patches_per_s']:.1f} patches/s (peak RSS {streamed['peak_rss_mb']:.0f} MB)",
            ],
            [
                "the same cases and patches, in memory",
                f"{memory['patches_per_s']:.1f} patches/s (peak RSS {memory['peak_rss_mb']:.0f} MB)",
            ],
            ["streamed / in-memory rate", f"{streamed['ratio_to_in_memory']:.2f}"],
        ]
    scale = [
        ["cases prepared (BraTS-size phantoms, 240×240×155)", f"{prep['cases']}"],
        ["`metakd prepare`, 2 workers: wall time", f"{wall:.0f} s ({wall / prep['cases']:.2f} s per case)"],
        ["time per case on one worker", f"{prep['worker_s_per_case']:.2f} s"],
        ["prepared case on disk", f"{prep['disk_per_case']:.1f} MB"],
        ["the same case in memory (f32 image + region byte)", f"{prep['memory_per_case']:.1f} MB"],
        ["disk / memory", f"{prep['percent']:.1f} %"],
    ] + loaders + [
        ["training peak RSS, 200 prepared cases", f"{rss200:.0f} MB"],
        ["training peak RSS, 20 prepared cases", f"{rss20:.0f} MB"],
        ["200 cases / 20 cases", f"{rss200 / rss20:.2f}"],
    ]
    (RAW / "table_scale.md").write_text(table(["measured", "value"], scale, ["---", "---:"]))

    n = BRATS_2021_CASES
    extrapolated = [
        ["prepared set on disk", f"{prep['disk_per_case'] * n / 1000:.1f} GB"],
        ["all cases in memory as f32 (the loader before the prepared set)", f"{prep['memory_per_case'] * n / 1000:.1f} GB"],
        ["training's resident memory, streaming (does not grow with the cases)", f"{rss200:.0f} MB"],
        [
            "preparing, 2 workers at the measured rate",
            f"{wall / prep['cases'] * n / 60:.0f} min",
        ],
    ]
    (RAW / "table_extrapolated.md").write_text(
        table([f"{n} cases", "measured per case × {0}".format(n)], extrapolated, ["---", "---:"])
    )


if __name__ == "__main__":
    main()
