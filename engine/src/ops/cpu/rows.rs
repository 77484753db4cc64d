//! The row kernel of the CPU path: stride-1 convolutions with a multiple of 8 output channels
//! (every stride-1 layer of the `desktop` network, their input gradients, and the first layer of
//! each modality's encoder, which has one input channel), on CPUs with AVX2 or AVX-512.
//!
//! [`super::direct`] keeps the output channels of a voxel in one vector, which on AVX-512 fills
//! half its lanes at 8 channels. Here the vectors run along a row of output voxels instead: for
//! each group of 8 output channels a tile of `MR` consecutive voxels × 8 channels stays in
//! registers (16 AVX-512 registers at `MR` = 32;
//! written with intrinsics, as the compiler would keep them in memory), and for every input
//! channel and tap the `MR` inputs of the row are loaded once and multiplied by that tap's 8
//! weights, broadcast one at a time:
//! `acc[c][m] += x[ci, z + kd, y + kh, x0 + m + kw] · w[c, ci, kd, kh, kw]`.
//! The input is a zero-padded channels-first copy, so every load is a contiguous run of a row;
//! a row's last, partial tile uses masked loads and stores on AVX-512.

use super::direct::Isa;
use super::{channels_last_padded, written, DisjointWrites, Geometry};
use rayon::prelude::*;

/// Output channels per register tile.
const GROUP: usize = 8;

/// Whether the row kernel takes `g` on this CPU: a multiple of 8 output channels, at stride 1
/// with AVX2 and FMA or AVX-512, at stride 2 with AVX-512 and output rows of at least 8 voxels
/// (elsewhere the other paths are faster than its one-voxel loop; `bench conv3d` measured the
/// 16→32 downsampling's rows of 12 at 16.3 ms on the products and 6.3 ms here, docs/conv3d.md;
/// on rows of 6 it was no faster in runs whose output was not kept).
pub(super) fn covers(g: &Geometry) -> bool {
    let isa = Isa::detect();
    g.co.is_multiple_of(GROUP)
        && match g.stride {
            1 => !matches!(isa, Isa::Baseline),
            #[cfg(target_arch = "x86_64")]
            2 => matches!(isa, Isa::Avx512) && g.output[2] >= 8,
            _ => false,
        }
}

/// `y = conv(x, w)` of `g` ([`covers`]) for NCDHW `x`, as NCDHW. With `flip` the kernel is
/// that of an input gradient's forward: `w [Ci_g, Co_g, k, k, k]` used flipped in space with
/// its channels swapped (`g.ci` is the gradient's input channels, `w`'s first axis).
pub(super) fn convolve(g: &Geometry, x: &[f32], w: &[f32], flip: bool) -> Vec<f32> {
    convolve_on(Isa::detect(), g, x, w, flip)
}

/// [`convolve`] with the code compiled for `isa` (which this CPU must have).
pub(super) fn convolve_on(isa: Isa, g: &Geometry, x: &[f32], w: &[f32], flip: bool) -> Vec<f32> {
    assert!(
        g.stride <= 2 && g.co.is_multiple_of(GROUP) && (g.stride == 1 || !flip),
        "the row kernel does not take {g:?}"
    );
    let pad = (g.padded[0] - g.input[0]) / 2;
    // Channels-first padded: every (n, ci) volume as a padded copy of one channel.
    let xp = channels_last_padded(x, g.n * g.ci, 1, g.input, pad);
    let taps = tap_weights(w, g.ci, g.co, g.k, flip);
    let [od, oh, ow] = g.output;
    let fill = |out: DisjointWrites| {
        (0..g.n * od).into_par_iter().for_each(|task| {
            let (n, z) = (task / od, task % od);
            // SAFETY: the ISA was detected on this CPU; the task writes only y[n, :, z, :, :].
            unsafe {
                match isa {
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx512 => avx512(g, &xp, &taps, n, z, out),
                    #[cfg(target_arch = "x86_64")]
                    Isa::Avx2 => avx2(g, &xp, &taps, n, z, out),
                    Isa::Baseline => baseline(g, &xp, &taps, n, z, out),
                }
            }
        });
    };
    // SAFETY: each plane's tiles cover every voxel of its rows in every channel group.
    unsafe { written(g.n * g.co * od * oh * ow, fill) }
}

/// `taps[group][((ci·k + kd)·k + kh)·k + kw][c]`: each channel group's 8 weights of every
/// input channel and tap together.
fn tap_weights(w: &[f32], ci: usize, co: usize, k: usize, flip: bool) -> Vec<f32> {
    let k3 = k * k * k;
    let mut taps = Vec::with_capacity(co * ci * k3);
    for group in (0..co).step_by(GROUP) {
        for i in 0..ci {
            for t in 0..k3 {
                taps.extend((group..group + GROUP).map(|c| {
                    if flip {
                        w[(i * co + c) * k3 + k3 - 1 - t]
                    } else {
                        w[(c * ci + i) * k3 + t]
                    }
                }));
            }
        }
    }
    taps
}

/// The part of one task's output a tile writes: plane `(n, z)`, row `r`, the channel group
/// starting at channel `c0` with its weights `taps` (`[ci·k³][8]`).
#[derive(Clone, Copy)]
struct Row<'a> {
    n: usize,
    z: usize,
    r: usize,
    c0: usize,
    taps: &'a [[f32; GROUP]],
}

impl Row<'_> {
    /// Where the inputs of output voxel `x` start in padded input row
    /// `(i, z·s + kd, r·s + kh)`.
    #[inline(always)]
    fn input(&self, g: &Geometry, i: usize, kd: usize, kh: usize, x: usize) -> usize {
        let [dp, hp, wp] = g.padded;
        let s = g.stride;
        (((self.n * g.ci + i) * dp + self.z * s + kd) * hp + self.r * s + kh) * wp + x * s
    }

    /// The 8 weights of each tap `kw` of input channel `i`, kernel row `(kd, kh)`.
    #[inline(always)]
    fn weights(&self, g: &Geometry, i: usize, kd: usize, kh: usize) -> &[[f32; GROUP]] {
        &self.taps[((i * g.k + kd) * g.k + kh) * g.k..][..g.k]
    }

    /// Output index of voxel `x` in channel `c0 + c`.
    #[inline(always)]
    fn output(&self, g: &Geometry, c: usize, x: usize) -> usize {
        let [od, oh, ow] = g.output;
        (((self.n * g.co + self.c0 + c) * od + self.z) * oh + self.r) * ow + x
    }
}

/// Every row of plane `(n, z)` in every channel group, through `row(row)`.
#[inline(always)]
fn each_row(g: &Geometry, taps: &[f32], n: usize, z: usize, mut row: impl FnMut(Row)) {
    let (taps, _) = taps.as_chunks::<GROUP>();
    let per_group = g.ci * g.k * g.k * g.k;
    for (group, taps) in taps.chunks(per_group).enumerate() {
        for r in 0..g.output[1] {
            let c0 = group * GROUP;
            row(Row { n, z, r, c0, taps });
        }
    }
}

/// Plane `(n, z)` in tiles of 32 voxels (two AVX-512 vectors per channel), then 16, then one
/// masked tile for the rest of a row; stride 1 or 2.
///
/// # Safety
/// The CPU has AVX-512F; no other task writes `y[n, :, z, :, :]`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn avx512(g: &Geometry, xp: &[f32], taps: &[f32], n: usize, z: usize, y: DisjointWrites) {
    match g.stride {
        1 => avx512_rows::<1>(g, xp, taps, n, z, y),
        _ => avx512_rows::<2>(g, xp, taps, n, z, y),
    }
}

/// [`avx512`] at stride `S`.
///
/// # Safety
/// As [`avx512`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn avx512_rows<const S: usize>(
    g: &Geometry,
    xp: &[f32],
    taps: &[f32],
    n: usize,
    z: usize,
    y: DisjointWrites,
) {
    let ow = g.output[2];
    each_row(g, taps, n, z, |row| {
        let mut x = 0;
        while x + 32 <= ow {
            vector_tile_avx512::<2, S>(g, xp, row, x, 16, y);
            x += 32;
        }
        while x < ow {
            let lanes = (ow - x).min(16);
            vector_tile_avx512::<1, S>(g, xp, row, x, lanes, y);
            x += lanes;
        }
    });
}

/// Plane `(n, z)` in tiles of 8 voxels (one AVX2 vector per channel), then single voxels; at
/// stride 2 single voxels only (the tests run it; [`covers`] sends such layers elsewhere).
///
/// # Safety
/// The CPU has AVX2 and FMA; no other task writes `y[n, :, z, :, :]`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2(g: &Geometry, xp: &[f32], taps: &[f32], n: usize, z: usize, y: DisjointWrites) {
    let ow = g.output[2];
    each_row(g, taps, n, z, |row| {
        let mut x = 0;
        while g.stride == 1 && x + 8 <= ow {
            vector_tile_avx2(g, xp, row, x, y);
            x += 8;
        }
        single_voxels::<true>(g, xp, row, x, y);
    });
}

/// Plane `(n, z)` one voxel at a time (no vector instructions assumed; [`covers`] leaves such
/// CPUs to the other paths, the tests run it).
///
/// # Safety
/// No other task writes `y[n, :, z, :, :]`.
unsafe fn baseline(g: &Geometry, xp: &[f32], taps: &[f32], n: usize, z: usize, y: DisjointWrites) {
    each_row(g, taps, n, z, |row| {
        single_voxels::<false>(g, xp, row, 0, y)
    });
}

/// Voxels `x0..x0 + 16·(V − 1) + lanes` of `row` in its 8 channels at stride `S` (1 or 2), `V`
/// AVX-512 vectors per channel (the last with `lanes` of its 16 voxels, by masked loads and
/// stores), stored straight to `y`. At stride 2 a vector's inputs are the even elements of two
/// loads, gathered by one permutation.
///
/// # Safety
/// As [`avx512`]; the voxels lie inside the row.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn vector_tile_avx512<const V: usize, const S: usize>(
    g: &Geometry,
    xp: &[f32],
    row: Row,
    x0: usize,
    lanes: usize,
    y: DisjointWrites,
) {
    use std::arch::x86_64::*;
    let k = g.k;
    let low_bits = |count: usize| -> __mmask16 {
        if count >= 16 {
            0xffff
        } else {
            (1u16 << count) - 1
        }
    };
    // Vector v's voxels, and the input elements they read from its first one (per tap).
    let voxels = |v: usize| if v + 1 == V { lanes } else { 16 };
    let needed = |v: usize| S * (voxels(v) - 1) + 1;
    let even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    let mut acc = [[_mm512_setzero_ps(); V]; GROUP];
    for i in 0..g.ci {
        for kd in 0..k {
            for kh in 0..k {
                let start = row.input(g, i, kd, kh, x0);
                let inputs = &xp[start..start + S * 16 * (V - 1) + needed(V - 1) + k - 1];
                for (kw, wv) in row.weights(g, i, kd, kh).iter().enumerate() {
                    let xs: [__m512; V] = std::array::from_fn(|v| {
                        let at = inputs[kw + S * 16 * v..].as_ptr();
                        let first = _mm512_maskz_loadu_ps(low_bits(needed(v)), at);
                        if S == 1 {
                            first
                        } else {
                            let rest = needed(v).saturating_sub(16);
                            let second = _mm512_maskz_loadu_ps(low_bits(rest), at.add(16));
                            _mm512_permutex2var_ps(first, even, second)
                        }
                    });
                    for (a, &wc) in acc.iter_mut().zip(wv) {
                        let w = _mm512_set1_ps(wc);
                        for v in 0..V {
                            a[v] = _mm512_fmadd_ps(xs[v], w, a[v]);
                        }
                    }
                }
            }
        }
    }
    for (c, a) in acc.iter().enumerate() {
        for (v, vector) in a.iter().enumerate() {
            let at = y.at(row.output(g, c, x0 + 16 * v));
            _mm512_mask_storeu_ps(at, low_bits(voxels(v)), *vector);
        }
    }
}

/// Voxels `x0..x0 + 8` of `row` in its 8 channels, one AVX2 vector per channel, stored
/// straight to `y`.
///
/// # Safety
/// As [`avx2`]; the voxels lie inside the row.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn vector_tile_avx2(g: &Geometry, xp: &[f32], row: Row, x0: usize, y: DisjointWrites) {
    use std::arch::x86_64::*;
    let k = g.k;
    let mut acc = [_mm256_setzero_ps(); GROUP];
    for i in 0..g.ci {
        for kd in 0..k {
            for kh in 0..k {
                let start = row.input(g, i, kd, kh, x0);
                let inputs = &xp[start..start + 8 + k - 1];
                for (kw, wv) in row.weights(g, i, kd, kh).iter().enumerate() {
                    let xs = _mm256_loadu_ps(inputs[kw..].as_ptr());
                    for (a, &wc) in acc.iter_mut().zip(wv) {
                        *a = _mm256_fmadd_ps(xs, _mm256_set1_ps(wc), *a);
                    }
                }
            }
        }
    }
    for (c, a) in acc.iter().enumerate() {
        _mm256_storeu_ps(y.at(row.output(g, c, x0)), *a);
    }
}

/// Voxels `x0..` to the end of `row`, one at a time, in its 8 channels.
///
/// # Safety
/// No other task writes those voxels.
#[inline(always)]
unsafe fn single_voxels<const FMA: bool>(
    g: &Geometry,
    xp: &[f32],
    row: Row,
    x0: usize,
    y: DisjointWrites,
) {
    let k = g.k;
    for x in x0..g.output[2] {
        let mut acc = [0.0f32; GROUP];
        for i in 0..g.ci {
            for kd in 0..k {
                for kh in 0..k {
                    let start = row.input(g, i, kd, kh, x);
                    let weights = row.weights(g, i, kd, kh);
                    for (&xv, wv) in xp[start..start + k].iter().zip(weights) {
                        for (a, &wc) in acc.iter_mut().zip(wv) {
                            *a = if FMA {
                                xv.mul_add(wc, *a)
                            } else {
                                *a + xv * wc
                            };
                        }
                    }
                }
            }
        }
        for (c, &value) in acc.iter().enumerate() {
            y.write(row.output(g, c, x), &[value]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::direct::Isa;
    use super::super::Geometry;
    use super::convolve_on;
    use crate::ops::reference;

    /// Every ISA this CPU can run, forward at stride 1 and 2 and flipped (the stride-1 input
    /// gradient), with one and several input channels, one to four channel groups, rows of whole
    /// tiles plus remainders and rows shorter than a tile, against the f64 reference.
    #[test]
    fn row_kernel_matches_the_reference() {
        for (ci, co, k, stride, padding, input) in [
            (1, 8, 3, 1, 1, [3, 4, 45]),
            (8, 8, 3, 1, 1, [4, 3, 40]),
            (3, 16, 3, 1, 0, [5, 4, 37]),
            (8, 8, 1, 1, 0, [2, 3, 33]),
            (5, 24, 2, 1, 1, [3, 3, 31]),
            (16, 16, 3, 1, 1, [3, 5, 12]),
            (4, 32, 3, 1, 1, [2, 3, 7]),
            (8, 16, 3, 2, 1, [5, 4, 96]),
            (3, 8, 3, 2, 1, [4, 5, 67]),
            (16, 32, 3, 2, 0, [5, 6, 30]),
            (8, 8, 2, 2, 0, [4, 4, 34]),
            (5, 16, 3, 2, 2, [3, 4, 9]),
        ] {
            let g = Geometry::new(2, ci, co, input, k, stride, padding);
            let r = reference::Geometry {
                n: 2,
                ci,
                co,
                input,
                k,
                stride,
                padding,
            };
            let x: Vec<f32> = (0..2 * ci * input.iter().product::<usize>())
                .map(|i| ((i * 7919 % 211) as f32 / 105.0) - 1.0)
                .collect();
            let w: Vec<f32> = (0..co * ci * k * k * k)
                .map(|i| ((i * 104_729 % 97) as f32 / 48.0) - 1.0)
                .collect();
            let want = reference::forward(&r, &x, &w);
            // The flipped kernel: w as [Ci_g, Co_g, k, k, k] of an input gradient, which is the
            // forward of the kernel flipped in space with its channels swapped.
            let k3 = k * k * k;
            let mut swapped = vec![0.0f32; w.len()];
            for o in 0..co {
                for i in 0..ci {
                    for t in 0..k3 {
                        swapped[(i * co + o) * k3 + k3 - 1 - t] = w[(o * ci + i) * k3 + t];
                    }
                }
            }
            for isa in Isa::available() {
                // The flipped kernel serves only stride-1 input gradients.
                let kernels = if stride == 1 {
                    vec![(false, &w), (true, &swapped)]
                } else {
                    vec![(false, &w)]
                };
                for (flip, weights) in kernels {
                    let got = convolve_on(isa, &g, &x, weights, flip);
                    assert_eq!(got.len(), want.len());
                    for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                        assert!(
                            (*a as f64 - b).abs() < 1e-4 * (ci * k3) as f64,
                            "{isa:?} ci {ci} co {co} k {k} s {stride} p {padding} flip {flip}: y[{i}] {a} vs {b}"
                        );
                    }
                }
            }
        }
    }
}
