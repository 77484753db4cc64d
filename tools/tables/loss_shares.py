"""The training losses of issue #18's seed-1 runs per 500 iterations, behind the ablation's
reason in docs/experiment.md: how large the distillation term is against the segmentation
losses, and how far each arm's Dice + BCE lies from the baseline's.

Reads docs/measurements/experiment18-3000/runs/<arm>-seed1/metrics.jsonl.gz (every iteration's
losses, written by `metakd train`) and writes loss_shares.md next to them: per arm and block
of 500 iterations, the means of the total loss, Dice + BCE, L_KD, λ·L_KD as a share of the
total (λ from the run's run.toml), and Dice + BCE minus the baseline's.

usage: python3 tools/tables/loss_shares.py        (run from the repository root)
"""
import gzip
import json
import pathlib
import statistics
import tomllib

from _markdown import table

RAW = pathlib.Path("docs/measurements/experiment18-3000")
ARMS = ["baseline", "metakd", "lckd"]
BLOCK = 500


def blocks(arm):
    """Per block start: mean total loss, Dice + BCE and L_KD over its iterations."""
    run = RAW / "runs" / f"{arm}-seed1"
    sums = {}
    with gzip.open(run / "metrics.jsonl.gz", "rt") as lines:
        for line in lines:
            step = json.loads(line)
            if step.get("loss") is None or step.get("iteration") is None:
                continue
            sums.setdefault(step["iteration"] // BLOCK * BLOCK, []).append(
                (step["loss"], step["dice_loss"] + step["bce_loss"], step.get("kd_loss") or 0.0))
    return {start: [statistics.mean(v[i] for v in values) for i in range(3)]
            for start, values in sorted(sums.items())}


def kd_weight(arm):
    config = tomllib.loads((RAW / "runs" / f"{arm}-seed1" / "run.toml").read_text())
    method = config["method"]
    return config[method]["kd_weight"] if method in ("metakd", "lckd") else 0.0


def main():
    base = blocks("baseline")
    rows = []
    for arm in ARMS:
        weight = kd_weight(arm)
        for start, (total, segmentation, kd) in blocks(arm).items():
            rows.append([arm, f"{start:,}–{start + BLOCK - 1:,}", f"{total:.3f}",
                         f"{segmentation:.3f}", f"{kd:.3f}", f"{100 * weight * kd / total:.2f} %",
                         f"{segmentation - base[start][1]:+.3f}"])
    header = ["arm", "iterations", "loss", "Dice + BCE", "L_KD", "λ·L_KD / loss",
              "Dice + BCE − baseline's"]
    (RAW / "loss_shares.md").write_text(table(header, rows))
    print(RAW / "loss_shares.md")


if __name__ == "__main__":
    main()
