"""PyTorch (cuDNN, FP32, TF32 off) conv3d on the layer shapes of `metakd bench conv3d`.

Prints one JSON object per line with the keys layer, op, ms, gflops: forward,
input-gradient and weight-gradient of a 3x3x3, stride-1, padding-1 convolution at batch 1,
timed with CUDA events (median of 20 after 5 warm-ups). GFLOP/s count
2 * voxels * C_in * C_out * 27 for every op, as the Rust benchmark does.

    python3 tools/gpu-bench/cudnn_conv3d.py [--quick]
"""

import json
import statistics
import sys

import torch

QUICK = [(4, 16, 40), (16, 16, 40), (32, 32, 20), (64, 64, 10), (128, 128, 10)]
FULL = [(4, 16, 80), (16, 16, 80), (32, 32, 40), (64, 64, 20), (128, 128, 10),
        (4, 16, 128), (16, 16, 128)]


def median_ms(fn, warmup=5, runs=20):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def main():
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    shapes = QUICK if "--quick" in sys.argv else FULL
    gen = torch.Generator(device="cuda").manual_seed(0)
    for ci, co, s in shapes:
        x = torch.rand((1, ci, s, s, s), device="cuda", generator=gen) * 2 - 1
        w = torch.rand((co, ci, 3, 3, 3), device="cuda", generator=gen) * 2 - 1
        dy = torch.rand((1, co, s, s, s), device="cuda", generator=gen) * 2 - 1
        flops = 2.0 * s ** 3 * ci * co * 27
        ops = {
            "forward": lambda: torch.nn.functional.conv3d(x, w, padding=1),
            "input_grad": lambda: torch.nn.grad.conv3d_input(x.shape, w, dy, padding=1),
            "weight_grad": lambda: torch.nn.grad.conv3d_weight(x, w.shape, dy, padding=1),
        }
        for op, fn in ops.items():
            ms = median_ms(fn)
            print(json.dumps({"layer": f"{ci}->{co}@{s}", "op": op, "ms": round(ms, 4),
                              "gflops": round(flops / ms / 1e6, 1)}), flush=True)
    print(json.dumps({"device": torch.cuda.get_device_name(), "torch": torch.__version__,
                      "cudnn": torch.backends.cudnn.version()}))


if __name__ == "__main__":
    main()
