"""Tables of docs/conv3d.md from the raw output of `metakd bench conv3d` and
`tools/gpu-bench/h100.sh`.

Writes next to the raw files:

* docs/measurements/lavapipe-2026-12-03/table_quick.md: the quick benchmark with the lavapipe
  tuning against burn (bench_conv3d_quick.txt), with the GPU tuning's times from the
  `--tuning gpu --ours-only` run (bench_conv3d_quick_tuning_gpu_ours_only.txt);
* docs/measurements/lavapipe-2026-12-03/table_full.md: the issue's full list of layer shapes
  (bench_conv3d_full.json);
* docs/measurements/h100-2026-11-23/table_cudnn.md: ours and burn's on the H100 (conv3d.json)
  next to cuDNN's (cudnn.jsonl);
* docs/measurements/h100-2026-11-23/table_split_k.md: the kernel rows of the split-K trial
  (conv3d.json, split-k-all-small-launches.json, split-k-starved-launches.json).

The split-K trial's whole-volume and training times under its two rules have no raw output, so
they are not in a table. `tools/regen_docs_tables.py` runs this first and then copies the tables into the page.

usage: python3 tools/tables/conv3d.py        (run from the repository root)
"""
import json
import pathlib

from _markdown import table

LAVAPIPE = pathlib.Path("docs/measurements/lavapipe-2026-12-03")
H100 = pathlib.Path("docs/measurements/h100-2026-11-23")

# The launches the split-K table shows, in its order (of the 21 in each run).
SPLIT_K_ROWS = [
    ("128->128@10", "forward"),
    ("128->128@10", "input_grad"),
    ("64->64@20", "forward"),
    ("16->16@128", "forward"),
    ("4->16@80", "input_grad"),
]


def fixed(value, places):
    """`value` with `places` decimals (Python's rounding of the binary float: the raw
    cuDNN time 0.1225 shows as 0.122, 0.0965 as 0.097)."""
    return f"{value:.{places}f}"


def times(value, places):
    """A ratio such as `7.5×`."""
    return fixed(value, places) + "×"


def read_bench_text(path):
    """The rows of `metakd bench conv3d` text output: dicts of layer, op and the columns'
    text (ours_ms, ours_gflops, burn_ms, burn_gflops, speedup), `-` where a run left one out."""
    lines = path.read_text().splitlines()
    assert lines[0].split()[:2] == ["layer", "op"], f"{path}: not a bench table"
    keys = ["layer", "op", "ours_ms", "ours_gflops", "burn_ms", "burn_gflops", "speedup"]
    rows = [dict(zip(keys, line.split())) for line in lines[1:] if line.strip()]
    assert all(len(r) == len(keys) for r in rows), f"{path}: a row without {len(keys)} columns"
    return rows


def read_json_rows(path):
    """The rows of a `metakd bench conv3d --json` file (or of a JSON-lines file), keyed by
    (layer, op), in file order; lines without a layer (the device line) are left out."""
    text = path.read_text()
    rows = json.loads(text) if path.suffix == ".json" else [json.loads(l) for l in text.splitlines() if l.strip()]
    return {(r["layer"], r["op"]): r for r in rows if "layer" in r}


def forward_ms(rows, layer):
    """Our forward time of `layer` (the denominator of `ours ÷ our forward`)."""
    return float(rows[(layer, "forward")]["ours_ms"])


def quick():
    """The quick benchmark on lavapipe: lavapipe tuning against burn, and the GPU tuning."""
    ours = read_bench_text(LAVAPIPE / "bench_conv3d_quick.txt")
    gpu = {(r["layer"], r["op"]): r for r in read_bench_text(LAVAPIPE / "bench_conv3d_quick_tuning_gpu_ours_only.txt")}
    by_key = {(r["layer"], r["op"]): r for r in ours}
    assert by_key.keys() == gpu.keys(), "the two quick runs measured different layers"
    rows = []
    for r in ours:
        key = (r["layer"], r["op"])
        gpu_ms = gpu[key]["ours_ms"]
        rows.append([
            r["layer"], r["op"], r["ours_ms"], r["ours_gflops"], r["burn_ms"], r["burn_gflops"],
            r["speedup"].replace("x", "×"),
            fixed(float(r["ours_ms"]) / forward_ms(by_key, r["layer"]), 2),
            gpu_ms,
            times(float(gpu_ms) / float(r["ours_ms"]), 1),
        ])
    return table(
        ["layer", "op", "ours ms", "ours GFLOP/s", "burn ms", "burn GFLOP/s", "ours ÷ burn",
         "ours ÷ our forward", "GPU tuning ms", "lavapipe tuning's speed-up"],
        rows,
    )


def full():
    """The issue's full list of layer shapes on lavapipe."""
    runs = read_json_rows(LAVAPIPE / "bench_conv3d_full.json")
    rows = [
        [layer, op, fixed(r["ours_ms"], 1), fixed(r["ours_gflops"], 1), fixed(r["burn_ms"], 1),
         fixed(r["burn_gflops"], 1), times(r["speedup"], 1),
         fixed(r["ours_ms"] / forward_ms(runs, layer), 2)]
        for (layer, op), r in runs.items()
    ]
    return table(
        ["layer", "op", "ours ms", "ours GFLOP/s", "burn ms", "burn GFLOP/s", "ours ÷ burn",
         "ours ÷ our forward"],
        rows,
    )


def cudnn():
    """Ours and burn's on the H100 next to cuDNN's (ratios are speed ratios, except
    `ours ÷ our forward`, which divides times)."""
    runs = read_json_rows(H100 / "conv3d.json")
    theirs = read_json_rows(H100 / "cudnn.jsonl")
    assert runs.keys() == theirs.keys(), "cuDNN measured different layers"
    rows = []
    for (layer, op), r in runs.items():
        c = theirs[(layer, op)]
        rows.append([
            layer, op, fixed(r["ours_ms"], 3), fixed(r["ours_gflops"], 0), fixed(r["burn_ms"], 3),
            fixed(r["burn_gflops"], 0), times(r["speedup"], 2), fixed(c["ms"], 3),
            fixed(c["gflops"], 0), times(c["ms"] / r["ours_ms"], 2),
            fixed(r["ours_ms"] / forward_ms(runs, layer), 2),
        ])
    return table(
        ["layer", "op", "ours ms", "ours GFLOP/s", "burn ms", "burn GFLOP/s", "ours ÷ burn",
         "cuDNN ms", "cuDNN GFLOP/s", "ours ÷ cuDNN", "ours ÷ our forward"],
        rows,
    )


def split_k():
    """Our times on the H100 without split-K and under its two rules, for the kernel rows."""
    runs = [read_json_rows(H100 / name) for name in
            ("conv3d.json", "split-k-all-small-launches.json", "split-k-starved-launches.json")]
    rows = [[f"{layer} {op}"] + [fixed(run[(layer, op)]["ours_ms"], 3) for run in runs]
            for layer, op in SPLIT_K_ROWS]
    return table(
        ["layer, op", "no split (table above)",
         "split every launch under 64 Ki invocations, ≥ 8 channels per slice",
         "split launches under 16 Ki invocations with ≥ 64 channels, ≥ 32 per slice"],
        rows,
        aligns=["---", "---:", "---:", "---:"],
    )


TABLES = {
    LAVAPIPE / "table_quick.md": quick,
    LAVAPIPE / "table_full.md": full,
    H100 / "table_cudnn.md": cudnn,
    H100 / "table_split_k.md": split_k,
}


def main():
    for path, make in TABLES.items():
        path.write_text(make())
        print(f"{path}: written")


if __name__ == "__main__":
    main()
