"""Tables of issue #18's comparison in docs/experiment.md, from the runs' own evaluations.

Reads docs/measurements/experiment18-3000/runs/<arm>-seed<k>/eval.json (every test case under
every subset, written by `metakd experiment`) and writes next to them:

* table_overall.md: per arm, Dice (%) averaged over the 15 subsets on all evaluated test
  cases and on the cases that hold a tumour, and with all four sequences on both; each as
  mean ± sample std over the arm's seeds (± 0.0 with one seed);
* table_healthy.md: per arm, the whole tumour marked on the healthy test cases with all four
  sequences and averaged over the 15 subsets (ml per case), and how many of those cases were
  left clean;
* table_baseline_curve.md: the baseline runs' validation-patch Dice (all four sequences, 8
  patches of the val split, every 250 iterations) from their metrics.jsonl.gz, one column per
  seed: the learning curve behind the budget.

The healthy cases score Dice 1 where nothing is found and 0 for any false positive (the BraTS
convention), so the two averages show how much false positives on healthy scans weigh.

usage: python3 tools/tables/experiment18.py        (run from the repository root)
"""
import gzip
import json
import pathlib
import statistics

from _markdown import table

RAW = pathlib.Path("docs/measurements/experiment18-3000")
ARMS = ["baseline", "lckd", "gmd", "metakd", "metakd-lookahead", "metakd-kd1"]
REGIONS = ["WT", "TC", "ET"]
ALL_FOUR = "FLAIR+T1+T1ce+T2"


def per_seed(values, form):
    """One formatted value per seed, separated by slashes."""
    return " / ".join(form.format(v) for v in values)


def mean_std(values):
    """`mean ± std` in %, the sample std over seeds (0 with one)."""
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * statistics.mean(values):.1f} ± {100 * std:.1f}"


def run_scores(path):
    """Per region: the 15-subset average over all cases, over tumour cases, and all four."""
    run = json.loads(path.read_text())
    rows = run["rows"]
    tumour = [i for i, _ in enumerate(run["cases"])
              if any(m["reference_ml"] > 0 for m in rows[0]["per_case"][i])]

    def average(row, cases, r):
        return statistics.mean(row["per_case"][i][r]["dice"] for i in cases)

    every = range(len(run["cases"]))
    healthy = [i for i in every if i not in tumour]
    full = next(row for row in rows if row["subset"] == ALL_FOUR)

    def marked(row):
        """Whole tumour marked on the healthy cases (ml per case), and how many stay clean."""
        volumes = [row["per_case"][i][0]["predicted_ml"] for i in healthy]
        return statistics.mean(volumes), sum(v == 0 for v in volumes)

    return {
        "all": [statistics.mean(average(row, every, r) for row in rows) for r in range(3)],
        "tumour": [statistics.mean(average(row, tumour, r) for row in rows) for r in range(3)],
        "four": [average(full, every, r) for r in range(3)],
        "four_tumour": [average(full, tumour, r) for r in range(3)],
        "healthy_four": marked(full),
        "healthy_subsets": [statistics.mean(marked(row)[0] for row in rows),
                            statistics.mean(marked(row)[1] for row in rows)],
        "cases": (len(run["cases"]), len(tumour)),
    }


def baseline_curve():
    """The validation lines of every baseline run as one Markdown table."""
    curves = {}
    for path in sorted((RAW / "runs").glob("baseline-seed*/metrics.jsonl.gz")):
        seed = path.parent.name.removeprefix("baseline-")
        with gzip.open(path, "rt") as lines:
            for line in lines:
                entry = json.loads(line)
                if "val_dice" in entry:
                    curves.setdefault(entry["iteration"], {})[seed] = entry["val_dice"]
    seeds = sorted({seed for row in curves.values() for seed in row})
    body = [
        [f"{iteration:,}"]
        + [" / ".join(f"{100 * v:.1f}" for v in row[s]) if s in row else "" for s in seeds]
        for iteration, row in sorted(curves.items())
    ]
    header = ["iteration"] + [f"{s}: WT / TC / ET" for s in seeds]
    return table(header, body, ["---:"] * len(header))


def main():
    (RAW / "table_baseline_curve.md").write_text(baseline_curve())
    overall, healthy = [], []
    cases = None
    for arm in ARMS:
        runs = sorted((RAW / "runs").glob(f"{arm}-seed*/eval.json"))
        if not runs:
            continue
        scores = [run_scores(path) for path in runs]
        cases = scores[0]["cases"]
        cells = [arm, str(len(runs))]
        for key in ["all", "tumour", "four", "four_tumour"]:
            cells += [mean_std([s[key][r] for s in scores]) for r in range(3)]
        overall.append(cells)
        healthy.append([
            arm,
            per_seed([s["healthy_four"][0] for s in scores], "{:.1f}"),
            per_seed([s["healthy_four"][1] for s in scores], "{}"),
            per_seed([s["healthy_subsets"][0] for s in scores], "{:.1f}"),
            per_seed([s["healthy_subsets"][1] for s in scores], "{:.1f}"),
        ])
    n, t = cases
    header = ["arm", "seeds"]
    for what in [f"15 subsets, {n} cases", f"15 subsets, {t} with tumour",
                 f"all four, {n} cases", f"all four, {t} with tumour"]:
        header += [f"{what} {r}" for r in REGIONS]
    text = table(header, overall, ["---", "---:"] + ["---:"] * 12)
    (RAW / "table_overall.md").write_text(text)
    header = ["arm (one value per seed)", f"all four: WT ml per healthy case ({n - t} cases)",
              "all four: healthy cases left clean", "15 subsets: WT ml per healthy case",
              "15 subsets: healthy cases left clean (mean)"]
    (RAW / "table_healthy.md").write_text(table(header, healthy, ["---"] + ["---:"] * 4))


if __name__ == "__main__":
    main()
