"""The `desktop` network and its work in PyTorch, for the side-by-side benchmark
(tools/measure/pytorch_side_by_side.sh). Run it in a throwaway virtual environment with torch,
numpy, scipy and nibabel; PyTorch is never a dependency of the product.

    python torch_desktop.py params
    python torch_desktop.py infer CASE_DIR OUT.nii.gz
    python torch_desktop.py train METHOD STEPS        (METHOD: baseline, metakd, lckd, gmd)

Each prints one JSON line with its timings. The network is engine::model's `desktop` preset
layer for layer (docs/model.md): a shared single-channel encoder (3×3×3 convolutions without
bias, instance norm with affine, LeakyReLU 0.01; channels 8-16-32-64, stride 2 from the second
level), mean imputation of missing modalities' bottleneck features, 2×2×2 stride-2 transposed
convolutions without bias, concatenated skips reduced by 1×1 blocks and added, one 3×3×3
block per decoder level, a 1×1 head with bias to WT, TC, ET. `params` prints its parameter
count, which must equal the Rust network's 185,603.

Inference does what `metakd segment` does: crop to the non-zero brain with 2 voxels of
margin, clip each modality to its brain's 0.5–99.5 percentiles and z-score it over the brain, 48³ windows with 50 % overlap (the last flush with the end), windows with no
brain voxel skipped, batches of 4, Gaussian weights (σ = window / 8), sigmoid, threshold 0.5,
labels kept inside the brain, connected components (18-neighbourhood) below
min(2000, 0.1 × largest) removed, ET below 500 voxels relabelled necrosis, BraTS labels written
in the source grid. Its weights are random: the work does not depend on them.

Training steps use random batches of 2 × 4 × 48³ with random masks and Adam (lr 2e-3); the
loss is soft Dice (per sample, +1 in the denominator) plus BCE with logits, as the Rust
trainer. MetaKD adds λ = 0.1 times the pairwise weighted L1 between bottleneck features and
one meta step (a forward and a backward to the modality weights on one all-modality patch,
network frozen, Adam on the weights) every 10 steps: the bundled 10 meta steps every 100
iterations, amortised the same. LCKD adds the teacher-to-student L1 with FLAIR as teacher
(its election, 32 forward patches every 500 iterations, is left out on both sides). GMD takes
the gradients of all 15 modality subsets separately (a forward and a backward each) and
averages them (the Rust decoupling weights the same gradients; the weighting's cost is small
next to the 15 passes).
"""
import itertools
import json
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

CHANNELS = (8, 16, 32, 64)
WINDOW = 48
BATCH_WINDOWS = 4
PATCH_BATCH = 2
MODALITIES = ("flair", "t1", "t1ce", "t2")
KD_WEIGHT = 0.1
META_EVERY = 10


class Block(nn.Module):
    def __init__(self, cin, cout, kernel, stride):
        super().__init__()
        self.conv = nn.Conv3d(cin, cout, kernel, stride, kernel // 2, bias=False)
        self.norm = nn.InstanceNorm3d(cout, affine=True, eps=1e-5)

    def forward(self, x):
        return F.leaky_relu(self.norm(self.conv(x)), 0.01)


class DesktopNet(nn.Module):
    def __init__(self):
        super().__init__()
        previous, encoder = 1, []
        for level, c in enumerate(CHANNELS):
            encoder.append(Block(previous, c, 3, 1 if level == 0 else 2))
            previous = c
        self.encoder = nn.ModuleList(encoder)
        self.up, self.skip, self.decoder = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        levels = len(CHANNELS)
        for level in reversed(range(levels - 1)):
            coarser = 4 * CHANNELS[-1] if level == levels - 2 else CHANNELS[level + 1]
            self.up.append(nn.ConvTranspose3d(coarser, CHANNELS[level], 2, 2, bias=False))
            self.skip.append(Block(4 * CHANNELS[level], CHANNELS[level], 1, 1))
            self.decoder.append(Block(CHANNELS[level], CHANNELS[level], 3, 1))
        self.head = nn.Conv3d(CHANNELS[0], 3, 1)

    def forward(self, x, available, gate=None):
        """x [N, 4, D, H, W]; available [N, 4] of 0/1. Returns logits and [N, 4, C, d, h, w]."""
        n, m = x.shape[:2]
        y = x.reshape(n * m, 1, *x.shape[2:])
        levels = []
        for block in self.encoder:
            y = block(y)
            levels.append(y.reshape(n, m, *y.shape[1:]))
        bottleneck = levels[-1]
        mask = available.view(n, m, 1, 1, 1, 1)
        mean = (bottleneck * mask).sum(1, keepdim=True) / mask.sum(1, keepdim=True).clamp_min(1)
        fused = bottleneck * mask + mean * (1 - mask)
        if gate is not None:
            fused = fused * gate.view(1, m, 1, 1, 1, 1)
        y = fused.reshape(n, -1, *fused.shape[3:])
        for i, (up, skip, block) in enumerate(zip(self.up, self.skip, self.decoder)):
            s = levels[-2 - i]
            y = block(up(y) + skip(s.reshape(n, -1, *s.shape[3:])))
        return self.head(y), bottleneck


def segmentation_loss(logits, target):
    p = torch.sigmoid(logits)
    dims = (2, 3, 4)
    dice = 1 - (2 * (p * target).sum(dims) + 1) / (p.sum(dims) + target.sum(dims) + 1)
    bce = F.binary_cross_entropy_with_logits(logits, target, reduction="none").mean(dims)
    return dice.mean() + bce.sum(1).mean()


def pairwise_kd(features, available, weights):
    """Σ over ordered pairs (i, j), both available, of sg(w_i / w_j) · mean|sg(f_i) − f_j|."""
    total = 0.0
    for i, j in itertools.permutations(range(4), 2):
        both = available[:, i] * available[:, j]
        if both.sum() == 0:
            continue
        diff = (features[:, i].detach() - features[:, j]).abs().mean(dim=(1, 2, 3, 4))
        total = total + (weights[i] / weights[j]).detach() * (diff * both).sum() / both.numel()
    return total


def teacher_kd(features, available, teachers):
    total = 0.0
    for t in teachers:
        for s in range(4):
            both = available[:, t] * available[:, s]
            if s == t or both.sum() == 0:
                continue
            diff = (features[:, t].detach() - features[:, s]).abs().mean(dim=(1, 2, 3, 4))
            total = total + (diff * both).sum() / both.numel()
    return total


def random_batch(generator, n=PATCH_BATCH):
    x = torch.randn(n, 4, WINDOW, WINDOW, WINDOW, generator=generator)
    target = (torch.rand(n, 3, WINDOW, WINDOW, WINDOW, generator=generator) > 0.8).float()
    available = torch.zeros(n, 4)
    for row in available:
        k = int(torch.randint(1, 5, (1,), generator=generator))
        row[torch.randperm(4, generator=generator)[:k]] = 1
    x = x * available.view(n, 4, 1, 1, 1)
    return x, target, available


def train(method, steps):
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(1)
    net = DesktopNet()
    optimiser = torch.optim.Adam(net.parameters(), lr=2e-3)
    phi = torch.rand(4, generator=generator).requires_grad_(True)
    meta_optimiser = torch.optim.Adam([phi], lr=1e-2, weight_decay=5e-4)
    subsets = [
        torch.tensor([float(b) for b in bits])
        for bits in itertools.product((0, 1), repeat=4)
        if sum(bits) > 0
    ]
    warmup = 2
    seconds = []
    for step in range(warmup + steps):
        x, target, available = random_batch(generator)
        started = time.perf_counter()
        if method == "metakd" and step % META_EVERY == 0:
            for p in net.parameters():
                p.requires_grad_(False)
            mx, mtarget, _ = random_batch(generator, 1)
            logits, _ = net(mx, torch.ones(1, 4), gate=torch.softmax(phi, 0))
            meta_optimiser.zero_grad()
            segmentation_loss(logits, mtarget).backward()
            meta_optimiser.step()
            for p in net.parameters():
                p.requires_grad_(True)
        optimiser.zero_grad()
        if method == "gmd":
            params = list(net.parameters())
            grads = [torch.zeros_like(p) for p in params]
            for subset in subsets:
                mask = subset.expand(PATCH_BATCH, 4)
                logits, _ = net(x * mask.view(PATCH_BATCH, 4, 1, 1, 1), mask)
                loss = segmentation_loss(logits, target)
                for g, d in zip(grads, torch.autograd.grad(loss, params, allow_unused=True)):
                    if d is not None:
                        g += d / len(subsets)
            for p, g in zip(params, grads):
                p.grad = g
        else:
            logits, features = net(x, available)
            loss = segmentation_loss(logits, target)
            if method == "metakd":
                loss = loss + KD_WEIGHT * pairwise_kd(features, available, torch.softmax(phi, 0))
            elif method == "lckd":
                loss = loss + KD_WEIGHT * teacher_kd(features, available, [0])
            loss.backward()
        optimiser.step()
        if step >= warmup:
            seconds.append(time.perf_counter() - started)
    return {
        "method": method,
        "steps": steps,
        "seconds": seconds,
        "mean_seconds": sum(seconds) / len(seconds),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


def window_starts(size, window, overlap):
    if size <= window:
        return [0]
    step = max(1, int(round(window * (1 - overlap))))
    starts = list(range(0, size - window, step))
    return starts + [size - window]


def gaussian_weights(window):
    sigma = window / 8
    axis = np.exp(-0.5 * ((np.arange(window) - (window - 1) / 2) / sigma) ** 2)
    w = axis[:, None, None] * axis[None, :, None] * axis[None, None, :]
    return (w / w.max()).astype(np.float32)


def postprocess(wt, tc, et):
    from scipy import ndimage

    tumour = wt | tc | et
    structure = ndimage.generate_binary_structure(3, 2)
    labels, count = ndimage.label(tumour, structure=structure)
    if count > 0:
        sizes = np.bincount(labels.ravel())[1:]
        largest = int(np.argmax(sizes))
        threshold = min(2000, 0.1 * sizes[largest])
        small = np.flatnonzero(sizes < threshold) + 1
        small = small[small != largest + 1]
        drop = np.isin(labels, small)
        wt[drop] = tc[drop] = et[drop] = False
    if et.sum() < 500:
        tc |= et
        et[:] = False
    tc |= et
    wt |= tc
    return wt, tc, et


def infer(case_dir, out_path):
    import glob

    import nibabel as nib

    torch.manual_seed(0)
    net = DesktopNet().eval()
    started = time.perf_counter()
    images = []
    for m in MODALITIES:
        path = glob.glob(f"{case_dir}/*_{m}.nii.gz")[0]
        image = nib.load(path)
        images.append(np.asarray(image.dataobj, dtype=np.float32))
    reference = image
    read_seconds = time.perf_counter() - started
    started = time.perf_counter()
    stack = np.stack(images)
    brain = (stack != 0).any(0)
    nz = np.argwhere(brain)
    low = np.maximum(nz.min(0) - 2, 0)
    high = np.minimum(nz.max(0) + 3, brain.shape)
    crop = tuple(slice(a, b) for a, b in zip(low, high))
    case = stack[(slice(None),) + crop].copy()
    inside = brain[crop]
    for c in range(4):
        lo, hi = np.percentile(case[c][inside], [0.5, 99.5])
        clipped = np.clip(case[c], lo, hi)
        values = clipped[inside]
        case[c] = np.where(inside, (clipped - values.mean()) / (values.std() + 1e-8), 0)
    # The Rust grid is [D, H, W] = [z, y, x]; the window is a cube, so the axis order only
    # changes which windows are batched together.
    shape = case.shape[1:]
    padded = [max(s, WINDOW) for s in shape]
    volume = np.zeros((4, *padded), np.float32)
    volume[:, : shape[0], : shape[1], : shape[2]] = case
    inside_padded = np.zeros(padded, bool)
    inside_padded[: shape[0], : shape[1], : shape[2]] = inside
    origins = [
        (a, b, c)
        for a in window_starts(padded[0], WINDOW, 0.5)
        for b in window_starts(padded[1], WINDOW, 0.5)
        for c in window_starts(padded[2], WINDOW, 0.5)
        if inside_padded[a : a + WINDOW, b : b + WINDOW, c : c + WINDOW].any()
    ]
    weights = gaussian_weights(WINDOW)
    total = np.zeros((3, *padded), np.float32)
    weight_sum = np.zeros(padded, np.float32)
    available = torch.ones(BATCH_WINDOWS, 4)
    network_seconds = 0.0
    with torch.inference_mode():
        for i in range(0, len(origins), BATCH_WINDOWS):
            chunk = origins[i : i + BATCH_WINDOWS]
            batch = np.stack(
                [volume[:, a : a + WINDOW, b : b + WINDOW, c : c + WINDOW] for a, b, c in chunk]
            )
            t0 = time.perf_counter()
            logits, _ = net(torch.from_numpy(batch), available[: len(chunk)])
            probabilities = torch.sigmoid(logits).numpy()
            network_seconds += time.perf_counter() - t0
            for (a, b, c), p in zip(chunk, probabilities):
                total[:, a : a + WINDOW, b : b + WINDOW, c : c + WINDOW] += p * weights
                weight_sum[a : a + WINDOW, b : b + WINDOW, c : c + WINDOW] += weights
    total = total[:, : shape[0], : shape[1], : shape[2]]
    weight_sum = weight_sum[: shape[0], : shape[1], : shape[2]]
    probabilities = np.where(weight_sum > 0, total / np.maximum(weight_sum, 1e-12), 0)
    wt, tc, et = [(probabilities[r] > 0.5) & inside for r in range(3)]
    wt, tc, et = postprocess(wt, tc, et)
    labels = np.zeros(shape, np.uint8)
    labels[wt] = 2
    labels[tc] = 1
    labels[et] = 4
    full = np.zeros(brain.shape, np.uint8)
    full[crop] = labels
    segment_seconds = time.perf_counter() - started
    started = time.perf_counter()
    nib.save(nib.Nifti1Image(full, reference.affine, reference.header), out_path)
    write_seconds = time.perf_counter() - started
    return {
        "windows": len(origins),
        "read_seconds": read_seconds,
        "segment_seconds": segment_seconds,
        "network_seconds": network_seconds,
        "write_seconds": write_seconds,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
    }


if __name__ == "__main__":
    torch.set_num_threads(int(__import__("os").environ.get("THREADS", "2")))
    job = sys.argv[1]
    if job == "params":
        result = {"parameters": sum(p.numel() for p in DesktopNet().parameters())}
    elif job == "infer":
        result = infer(sys.argv[2], sys.argv[3])
    else:
        result = train(sys.argv[2], int(sys.argv[3]))
    print(json.dumps(result))
