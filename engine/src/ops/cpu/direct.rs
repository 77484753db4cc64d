//! The direct-convolution micro-kernel of the CPU path, for layers with 8 or 16 output channels
//! that the row kernel of [`super::rows`] does not take (stride 2 on rows under 8 voxels or
//! without AVX-512; any stride without AVX2), and the weight gradient of such layers.
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
//! The weight gradient is the same walk with the roles turned: a block of `RB` input rows `r` ×
//! `CO` channels of `dW_{kd,kh}` stays in registers while every output voxel's `dY` row is
//! loaded once and multiplied by the `RB` input values it met, `acc[r][c] += x[m·s·Ci + r] ·
//! dY[m][c]`, over the valid voxels only (the products' version also walked the strided rows'
//! dropped columns, half of them at stride 2).
//!
//! The same code is compiled three times: for AVX-512 and for AVX2 + FMA (chosen at run time)
//! and for the build's baseline; the tile sizes keep the accumulators within the vector
//! registers of each.

use super::{written, DisjointWrites, Geometry};
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
    let fill = |out: DisjointWrites| {
        (0..g.n * od).into_par_iter().for_each(|task| {
            let (n, z) = (task / od, task % od);
            // SAFETY: the ISA was detected on this CPU; the task writes only y[n, :, z, :, :].
            unsafe { isa.plane(g, xp, taps, n, z, out) };
        });
    };
    // SAFETY: each plane's tiles cover every voxel of every output channel.
    unsafe { written(g.n * g.co * od * oh * ow, fill) }
}

/// Whether [`weight_grad`] takes `g` on this CPU: 8 or 16 output channels with AVX2 and FMA
/// (its loop over the plane is a reduction the compiler would vectorise the wrong way, so it is
/// written with the intrinsics), and where `metakd bench conv3d --compute cpu` measured it
/// ahead of the products: at stride 2 (the products walk the dropped columns, half the rows)
/// and with 8 channels from at least 12 input rows (fewer leave too few independent sums).
pub(super) fn covers_weight_grad(g: &Geometry) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        let measured_ahead = g.stride > 1 || (g.co == 8 && g.k * g.ci >= 12);
        covers(g.co)
            && measured_ahead
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = g;
        false
    }
}

/// The weight gradient of `g` ([`covers_weight_grad`]) as
/// `sum[((kd·k + kh)·Co + co)·depth + r]`, the layout [`super::weight_products`] sums into;
/// per-thread accumulators over the planes.
#[cfg(target_arch = "x86_64")]
pub(super) fn weight_grad(g: &Geometry, xp: &[f32], dy: &[f32]) -> Vec<f32> {
    assert!(
        covers_weight_grad(g),
        "the direct weight gradient does not take {g:?}"
    );
    let [od, oh, ow] = g.output;
    let plane = oh * ow;
    let taps_len = g.k * g.k * g.k * g.ci * g.co;
    (0..g.n * od)
        .into_par_iter()
        .fold(
            || (vec![0.0f32; taps_len], vec![0.0f32; plane * g.co]),
            |(mut sum, mut dy_rows), task| {
                let (n, z) = (task / od, task % od);
                // dY of this plane channels-last: one row of Co values per output voxel.
                for c in 0..g.co {
                    let src = &dy[((n * g.co + c) * od + z) * plane..][..plane];
                    for (m, &v) in src.iter().enumerate() {
                        dy_rows[m * g.co + c] = v;
                    }
                }
                // SAFETY: covers_weight_grad checked AVX2 and FMA.
                unsafe {
                    match g.co {
                        8 => weight_plane::<1, 12>(g, xp, &dy_rows, n, z, &mut sum),
                        _ => weight_plane::<2, 6>(g, xp, &dy_rows, n, z, &mut sum),
                    }
                }
                (sum, dy_rows)
            },
        )
        .map(|(sum, _)| sum)
        .reduce(|| vec![0.0f32; taps_len], super::add_into)
}

#[cfg(not(target_arch = "x86_64"))]
pub(super) fn weight_grad(_: &Geometry, _: &[f32], _: &[f32]) -> Vec<f32> {
    unreachable!("covers_weight_grad is false off x86_64")
}

/// Every kernel row of plane `(n, z)` in blocks of `RB` input rows (then 3, then 1; `RB` is a
/// multiple of 3), `V` vectors of 8 channels per row.
///
/// # Safety
/// The CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn weight_plane<const V: usize, const RB: usize>(
    g: &Geometry,
    xp: &[f32],
    dy_rows: &[f32],
    n: usize,
    z: usize,
    sum: &mut [f32],
) {
    let depth = g.k * g.ci;
    for kd in 0..g.k {
        for kh in 0..g.k {
            let row = g.input_row(n, z * g.stride + kd, kh);
            let tap = &mut sum[(kd * g.k + kh) * V * 8 * depth..][..V * 8 * depth];
            let mut r0 = 0;
            while r0 + RB <= depth {
                weight_block::<V, RB>(g, xp, row, dy_rows, r0, tap);
                r0 += RB;
            }
            while r0 + 3 <= depth {
                weight_block::<V, 3>(g, xp, row, dy_rows, r0, tap);
                r0 += 3;
            }
            while r0 < depth {
                weight_block::<V, 1>(g, xp, row, dy_rows, r0, tap);
                r0 += 1;
            }
        }
    }
}

/// Input rows `r0..r0 + RB` × `8·V` channels of one kernel row's gradient (`tap`, `[co][r]`),
/// summed over the plane's valid output voxels in `RB·V` AVX registers.
///
/// # Safety
/// The CPU has AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn weight_block<const V: usize, const RB: usize>(
    g: &Geometry,
    xp: &[f32],
    row: usize,
    dy_rows: &[f32],
    r0: usize,
    tap: &mut [f32],
) {
    use std::arch::x86_64::*;
    let [_, oh, ow] = g.output;
    let co = V * 8;
    let depth = g.k * g.ci;
    let step = g.stride * g.ci;
    let row_step = g.stride * g.padded[2] * g.ci;
    // Every read below stays inside these bounds.
    assert!(row + (oh - 1) * row_step + (ow - 1) * step + r0 + RB <= xp.len());
    assert!(oh * ow * co <= dy_rows.len() && co * depth <= tap.len() && r0 + RB <= depth);
    let mut acc = [[_mm256_setzero_ps(); V]; RB];
    for y in 0..oh {
        let xrow = xp.as_ptr().add(row + y * row_step + r0);
        let drow = dy_rows.as_ptr().add(y * ow * co);
        for m in 0..ow {
            let d: [__m256; V] = std::array::from_fn(|v| _mm256_loadu_ps(drow.add(m * co + v * 8)));
            let x = xrow.add(m * step);
            for (r, a) in acc.iter_mut().enumerate() {
                let xv = _mm256_broadcast_ss(&*x.add(r));
                for v in 0..V {
                    a[v] = _mm256_fmadd_ps(xv, d[v], a[v]);
                }
            }
        }
    }
    for (r, a) in acc.iter().enumerate() {
        for (v, vector) in a.iter().enumerate() {
            let mut lanes = [0.0f32; 8];
            _mm256_storeu_ps(lanes.as_mut_ptr(), *vector);
            for (l, value) in lanes.iter().enumerate() {
                tap[(v * 8 + l) * depth + r0 + r] += value;
            }
        }
    }
}

/// The instruction sets the kernel is compiled for.
#[derive(Clone, Copy, Debug)]
pub(super) enum Isa {
    #[cfg(target_arch = "x86_64")]
    Avx512,
    #[cfg(target_arch = "x86_64")]
    Avx2,
    Baseline,
}

impl Isa {
    pub(super) fn detect() -> Isa {
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

    /// Every ISA this CPU can run (the baseline always), for tests of each build.
    #[cfg(test)]
    pub(super) fn available() -> Vec<Isa> {
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
        isas
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
        let (rows_of_w, _) = taps[t * depth * CO..(t + 1) * depth * CO].as_chunks::<CO>();
        for (r, wv) in rows_of_w.iter().enumerate() {
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
    use super::super::{channels_last_padded, kernel_rows, Geometry};
    use super::{convolve_on, covers_weight_grad, weight_grad, Isa};
    use crate::ops::reference;

    /// Every forward variant this CPU can run (the baseline always) and the weight gradient
    /// (where it runs) against the f64 reference.
    #[test]
    fn every_variant_matches_the_reference() {
        let isas = Isa::available();
        for (ci, co, stride) in [(3, 8, 1), (5, 16, 2), (16, 8, 1), (4, 8, 2)] {
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
            let [od, oh, ow] = r.output();
            let dy: Vec<f32> = (0..2 * co * od * oh * ow)
                .map(|i| ((i * 613 % 127) as f32 / 63.0) - 1.0)
                .collect();
            let want_dw = reference::weight_grad(&r, &x, &dy);
            let xp = channels_last_padded(&x, 2, ci, input, 1);
            let taps = kernel_rows(&w, ci, co, 3, false);
            if covers_weight_grad(&g) {
                let sum = weight_grad(&g, &xp, &dy);
                for (i, want) in want_dw.iter().enumerate() {
                    // dw[co, ci, kd, kh, kw] is sum[((kd·3 + kh)·co + o)·3ci + kw·ci + i].
                    let (o, rest) = (i / (ci * 27), i % (ci * 27));
                    let (c_in, t) = (rest / 27, rest % 27);
                    let (kd, kh, kw) = (t / 9, t / 3 % 3, t % 3);
                    let got = sum[((kd * 3 + kh) * co + o) * 3 * ci + kw * ci + c_in];
                    assert!(
                        (got as f64 - want).abs() < 1e-4 * (2 * od * oh * ow) as f64,
                        "ci {ci} co {co} stride {stride}: dw[{i}] {got} vs {want}"
                    );
                }
            }
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
