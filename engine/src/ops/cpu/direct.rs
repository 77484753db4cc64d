//! The direct-convolution micro-kernel of the CPU path, for layers with 8 or 16 output channels
//! (the `desktop` network's full-resolution levels, where most of its arithmetic is).
//!
//! A matrix-product library packs its operands before multiplying; with so few output channels
//! that packing copies the input once per kernel row and costs as much as the products (it was
//! about a third of a training step). Here a tile of `MR` output voxels × `CO` channels stays in
//! registers while every tap's input value is broadcast straight from the padded channels-last
//! input and multiplied into a row of the tap's weights:
//! `acc[m][c] += x[m·s·Ci + r] · W_{kd,kh}[r][c]`, `r = kw·Ci + ci`. Rows of output voxels are
//! walked in tiles of `MR` with single voxels for the rest, and each tile's values are stored
//! straight into the NCDHW result.
//!
//! The same code is compiled three times: for AVX-512 and for AVX2 + FMA (chosen at run time)
//! and for the build's baseline; the tile sizes keep the accumulators within the vector
//! registers of each.

use super::{DisjointWrites, Geometry};
use rayon::prelude::*;

/// Whether the kernel covers `co` output channels.
pub(super) fn covers(co: usize) -> bool {
    co == 8 || co == 16
}

/// The forward products of `g` (see [`super::convolve`]; `g.co` must be [`covers`]ed).
pub(super) fn convolve(g: &Geometry, xp: &[f32], taps: &[f32]) -> Vec<f32> {
    convolve_on(Isa::detect(), g, xp, taps)
}

/// [`convolve`] with the code compiled for `isa` (which this CPU must have).
fn convolve_on(isa: Isa, g: &Geometry, xp: &[f32], taps: &[f32]) -> Vec<f32> {
    let [od, oh, ow] = g.output;
    let mut y = vec![0.0f32; g.n * g.co * od * oh * ow];
    let out = DisjointWrites(y.as_mut_ptr());
    (0..g.n * od).into_par_iter().for_each(|task| {
        let (n, z) = (task / od, task % od);
        // SAFETY: the ISA was detected on this CPU; the task writes only y[n, :, z, :, :].
        unsafe { isa.plane(g, xp, taps, n, z, out) };
    });
    y
}

/// The instruction sets the kernel is compiled for.
#[derive(Clone, Copy, Debug)]
enum Isa {
    #[cfg(target_arch = "x86_64")]
    Avx512,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    Baseline,
}

impl Isa {
    fn detect() -> Isa {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return Isa::Avx512;
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Isa::Avx2;
            }
        }
        Isa::Baseline
    }

    /// One output plane `(n, z)`.
    ///
    /// # Safety
    /// The CPU has the ISA's features; no other task writes `y[n, :, z, :, :]` meanwhile.
    unsafe fn plane(
        self,
        g: &Geometry,
        xp: &[f32],
        taps: &[f32],
        n: usize,
        z: usize,
        y: DisjointWrites,
    ) {
        match (self, g.co) {
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx512, 8) => avx512::<8, 12>(g, xp, taps, n, z, y),
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx512, _) => avx512::<16, 12>(g, xp, taps, n, z, y),
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx2, 8) => avx2::<8, 12>(g, xp, taps, n, z, y),
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx2, _) => avx2::<16, 6>(g, xp, taps, n, z, y),
            (Isa::Baseline, 8) => plane::<8, 4, false>(g, xp, taps, n, z, y),
            (Isa::Baseline, _) => plane::<16, 2, false>(g, xp, taps, n, z, y),
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn avx512<const CO: usize, const MR: usize>(
    g: &Geometry,
    xp: &[f32],
    taps: &[f32],
    n: usize,
    z: usize,
    y: DisjointWrites,
) {
    plane::<CO, MR, true>(g, xp, taps, n, z, y)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn avx2<const CO: usize, const MR: usize>(
    g: &Geometry,
    xp: &[f32],
    taps: &[f32],
    n: usize,
    z: usize,
    y: DisjointWrites,
) {
    plane::<CO, MR, true>(g, xp, taps, n, z, y)
}

/// Every output row of plane `(n, z)` in tiles of `MR` voxels, then single voxels.
///
/// # Safety
/// As [`Isa::plane`].
#[inline(always)]
unsafe fn plane<const CO: usize, const MR: usize, const FMA: bool>(
    g: &Geometry,
    xp: &[f32],
    taps: &[f32],
    n: usize,
    z: usize,
    y: DisjointWrites,
) {
    let [od, oh, ow] = g.output;
    let k = g.k;
    let depth = k * g.ci;
    let step = g.stride * g.ci;
    let row_step = g.stride * g.padded[2] * g.ci;
    // Start of kernel row (kd, kh) for output voxel (z, 0, 0).
    let mut rows = [0usize; 9];
    for kd in 0..k {
        for kh in 0..k {
            rows[kd * k + kh] = g.input_row(n, z * g.stride + kd, kh);
        }
    }
    let rows = &rows[..k * k];
    debug_assert_eq!(taps.len(), k * k * depth * CO);
    for r in 0..oh {
        let mut x = 0;
        while x + MR <= ow {
            let acc = tile::<CO, MR, FMA>(xp, rows, r * row_step + x * step, step, taps, depth);
            store(&acc, y, ((n * CO * od + z) * oh + r) * ow + x, od * oh * ow);
            x += MR;
        }
        while x < ow {
            let acc = tile::<CO, 1, FMA>(xp, rows, r * row_step + x * step, step, taps, depth);
            store(&acc, y, ((n * CO * od + z) * oh + r) * ow + x, od * oh * ow);
            x += 1;
        }
    }
}

/// `MR` output voxels × `CO` channels: the sum over every kernel row's `depth` inputs.
#[inline(always)]
fn tile<const CO: usize, const MR: usize, const FMA: bool>(
    xp: &[f32],
    rows: &[usize],
    start: usize,
    step: usize,
    taps: &[f32],
    depth: usize,
) -> [[f32; CO]; MR] {
    let mut acc = [[0.0f32; CO]; MR];
    for (t, &row) in rows.iter().enumerate() {
        let x = &xp[row + start..row + start + (MR - 1) * step + depth];
        let w = &taps[t * depth * CO..(t + 1) * depth * CO];
        for r in 0..depth {
            let wv: &[f32; CO] = w[r * CO..(r + 1) * CO].try_into().expect("CO weights");
            for (m, a) in acc.iter_mut().enumerate() {
                let xv = x[m * step + r];
                for c in 0..CO {
                    a[c] = if FMA {
                        xv.mul_add(wv[c], a[c])
                    } else {
                        a[c] + xv * wv[c]
                    };
                }
            }
        }
    }
    acc
}

/// Writes a tile to `y[n, c, z, r, x..x + MR]` for every channel `c` (`first` is channel 0's
/// index, `channel` the distance between channels).
///
/// # Safety
/// Those indices lie inside `y` and belong to the calling task.
#[inline(always)]
unsafe fn store<const CO: usize, const MR: usize>(
    acc: &[[f32; CO]; MR],
    y: DisjointWrites,
    first: usize,
    channel: usize,
) {
    let rows: [[f32; MR]; CO] = std::array::from_fn(|c| std::array::from_fn(|m| acc[m][c]));
    for (c, row) in rows.iter().enumerate() {
        y.write(first + c * channel, row);
    }
}

#[cfg(test)]
mod tests {
    use super::super::{channels_last_padded, forward_taps, Geometry};
    use super::{convolve_on, Isa};
    use crate::ops::reference;

    /// Every variant this CPU can run (the baseline always) against the f64 reference.
    #[test]
    fn every_instruction_set_matches_the_reference() {
        let mut isas = vec![Isa::Baseline];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                isas.push(Isa::Avx2);
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                isas.push(Isa::Avx512);
            }
        }
        for (ci, co, stride) in [(3, 8, 1), (5, 16, 2), (16, 8, 1)] {
            let input = [3, 4, 27];
            let g = Geometry::new(2, ci, co, input, 3, stride, 1);
            let r = reference::Geometry {
                n: 2,
                ci,
                co,
                input,
                k: 3,
                stride,
                padding: 1,
            };
            let x: Vec<f32> = (0..2 * ci * 3 * 4 * 27)
                .map(|i| ((i * 7919 % 211) as f32 / 105.0) - 1.0)
                .collect();
            let w: Vec<f32> = (0..co * ci * 27)
                .map(|i| ((i * 104_729 % 97) as f32 / 48.0) - 1.0)
                .collect();
            let want = reference::forward(&r, &x, &w);
            let xp = channels_last_padded(&x, 2, ci, input, 1);
            let taps = forward_taps(&w, ci, co, 3);
            for &isa in &isas {
                let got = convolve_on(isa, &g, &xp, &taps);
                assert_eq!(got.len(), want.len());
                for (i, (a, b)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (*a as f64 - b).abs() < 1e-4 * (ci * 27) as f64,
                        "{isa:?} ci {ci} co {co} stride {stride}: y[{i}] {a} vs {b}"
                    );
                }
            }
        }
    }
}
