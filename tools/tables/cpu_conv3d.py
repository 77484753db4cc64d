"""Table of docs/conv3d.md's "CPU path" section from the raw output of
`metakd bench conv3d --compute cpu --json` (bench_conv3d_cpu.json): per convolution of the
`desktop` network's inference batch and per operation, our CPU path's time, GFLOP/s and share
of the machine's measured matrix-product peak, burn's Flex time and our speed-up. Writes
table_cpu.md next to the raw file; the peak is in the same file (every row carries it).

usage: python3 tools/tables/cpu_conv3d.py [RAW_DIR]   (run from the repository root)
"""
import json
import pathlib
import sys

from _markdown import table

RAW = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "docs/measurements/cpu-conv3d-2026-12-07")


def main():
    rows = json.loads((RAW / "bench_conv3d_cpu.json").read_text())
    out = []
    for r in rows:
        out.append(
            [
                f"`{r['layer']}`",
                r["op"].replace("_", " "),
                f"{r['ours_ms']:.1f}",
                f"{r['ours_gflops']:.0f}",
                f"{100 * r['ours_share_of_peak']:.0f} %",
                f"{r['burn_ms']:.1f}",
                f"{r['speedup']:.1f}×",
            ]
        )
    header = ["layer", "operation", "ours ms", "GFLOP/s", "of peak", "burn (Flex) ms", "speed-up"]
    aligns = ["---", "---", "---:", "---:", "---:", "---:", "---:"]
    (RAW / "table_cpu.md").write_text(table(header, out, aligns))
    peak = rows[0]["peak_gflops"]
    print(f"{RAW / 'table_cpu.md'}: {len(out)} rows, peak {peak:.1f} GFLOP/s")


main()
