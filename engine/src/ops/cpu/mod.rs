//! The CPU convolution path: the three primitives of [`Conv3dBackend`] for burn's Flex backend,
//! written as channels-last matrix products on the `gemm` crate (which picks AVX2 or AVX-512
//! micro-kernels at run time) instead of Flex's im2col.
//!
//! The input is copied once into a zero-padded channels-last buffer `[N, D+2p, H+2p, W+2p, C]`.
//! In that layout the three taps along W of one kernel row are `C` values apart, so for a fixed
//! output plane `od` and kernel row `(kd, kh)` the inputs of every output voxel form one strided
//! matrix `L[m, kw·C + c]` with row stride `s·C` — no im2col copy. The rows `m = oh·W_p + ow`
//! run over the padded width `W_p`; the columns `ow ≥ W_out` of each row are computed and
//! dropped (4 % extra work at 48³, stride 1). One output plane is then `k²` products
//! `Y[m, co] += L_{kd,kh} · W_{kd,kh}` into a channel-major buffer whose valid rows are copied
//! straight into the NCDHW result.
//!
//! * forward: as above, parallel over `(n, od)` planes; with a multiple of 8 output channels
//!   the row kernel of [`rows`] instead (vectors along a row of output voxels, on a
//!   channels-first padded copy; stride 1, or stride 2 on rows of 8 or more with AVX-512),
//!   else with 8 or 16 output channels the direct micro-kernel of [`direct`] (both skip the
//!   products' packing).
//! * 1×1×1 kernels at stride 1: all three operations are products on the NCDHW data itself.
//! * input gradient, stride 1: the forward of `dy` with the kernel flipped and its channels
//!   swapped, padding `k − 1 − p` (so the row kernel where it applies).
//! * input gradient, stride 2 (the encoder's downsampling and the decoder's 2×2×2 upsampling):
//!   per output plane one product `cols = dY · W`, then each tap's columns added into its input
//!   voxels (col2im); planes whose taps overlap run in separate phases.
//! * weight gradient: per plane and kernel row `dW_{kd,kh} += L_{kd,kh}ᵀ · dY`, summed over
//!   planes in per-thread accumulators; for 8 or 16 output channels where it measured faster,
//!   [`direct`]'s register blocks instead.
//!
//! Tested against the f64 reference in `engine/tests/conv3d.rs`, like the WGSL kernels.

mod direct;
mod rows;

use burn::backend::ops::FloatTensorOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Flex, TensorMetadata};
use burn::tensor::{DType, Shape, TensorData};
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Whether this path takes a tensor of `dtype` (the network runs in f32; other types go to
/// burn's own convolutions).
pub fn takes(dtype: DType) -> bool {
    dtype == DType::F32
}

/// `y = conv3d(x, w)`: `x [N, Ci, D, H, W]`, `w [Co, Ci, k, k, k]`.
pub fn forward(
    x: FloatTensor<Flex>,
    weight: FloatTensor<Flex>,
    stride: usize,
    padding: usize,
) -> FloatTensor<Flex> {
    let [n, ci, d, h, w] = dims(&x);
    let [co, _, k, _, _] = dims(&weight);
    let g = Geometry::new(n, ci, co, [d, h, w], k, stride, padding);
    let y = if g.pointwise() {
        // Y_n = X_n · Wᵀ straight on NCDHW: (voxels × Ci) · (Ci × Co).
        pointwise(&values(&x), &values(&weight), n, ci, co, d * h * w, [1, ci])
    } else if rows::covers(&g) {
        rows::convolve(&g, &values(&x), &values(&weight), false)
    } else {
        let xp = channels_last_padded(&values(&x), n, ci, g.input, padding);
        let taps = kernel_rows(&values(&weight), ci, co, k, false);
        convolve(&g, &xp, &taps)
    };
    tensor(y, [n, co, g.output[0], g.output[1], g.output[2]])
}

/// `dx` of [`forward`] for the output gradient `dy`, for an input of spatial size `input`.
pub fn input_grad(
    dy: FloatTensor<Flex>,
    weight: FloatTensor<Flex>,
    input: [usize; 3],
    stride: usize,
    padding: usize,
) -> FloatTensor<Flex> {
    let [n, co, od, oh, ow] = dims(&dy);
    let [_, ci, k, _, _] = dims(&weight);
    let dx = if k == 1 && stride == 1 {
        let [d, h, w] = input;
        pointwise(
            &values(&dy),
            &values(&weight),
            n,
            co,
            ci,
            d * h * w,
            [ci, 1],
        )
    } else if stride == 1 {
        // A stride-1 transposed convolution is the forward of the flipped, transposed kernel.
        let pad = k - 1 - padding;
        let g = Geometry::new(n, co, ci, [od, oh, ow], k, 1, pad);
        debug_assert_eq!(g.output, input);
        if rows::covers(&g) {
            rows::convolve(&g, &values(&dy), &values(&weight), true)
        } else {
            let dyp = channels_last_padded(&values(&dy), n, co, g.input, pad);
            let taps = kernel_rows(&values(&weight), ci, co, k, true);
            convolve(&g, &dyp, &taps)
        }
    } else {
        let g = Geometry::new(n, ci, co, input, k, stride, padding);
        debug_assert_eq!(g.output, [od, oh, ow]);
        scatter_columns(&g, &values(&dy), &values(&weight))
    };
    let [d, h, w] = input;
    tensor(dx, [n, ci, d, h, w])
}

/// `dw` of [`forward`] for the input `x` and output gradient `dy` (cubic kernel of `kernel`).
pub fn weight_grad(
    x: FloatTensor<Flex>,
    dy: FloatTensor<Flex>,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> FloatTensor<Flex> {
    let [n, ci, d, h, w] = dims(&x);
    let co = dims(&dy)[1];
    let k = kernel;
    let g = Geometry::new(n, ci, co, [d, h, w], k, stride, padding);
    let dw = if g.pointwise() {
        pointwise_weight_grad(&values(&x), &values(&dy), n, ci, co, d * h * w)
    } else {
        let xp = channels_last_padded(&values(&x), n, ci, g.input, padding);
        weight_products(&g, &xp, &values(&dy))
    };
    tensor(dw, [co, ci, k, k, k])
}

/// Shapes of one convolution as the products see them.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    n: usize,
    ci: usize,
    co: usize,
    input: [usize; 3],
    /// Input size with the padding on both sides.
    padded: [usize; 3],
    output: [usize; 3],
    k: usize,
    stride: usize,
}

impl Geometry {
    fn new(
        n: usize,
        ci: usize,
        co: usize,
        input: [usize; 3],
        k: usize,
        stride: usize,
        pad: usize,
    ) -> Self {
        let padded = input.map(|s| s + 2 * pad);
        let output = padded.map(|s| (s - k) / stride + 1);
        Geometry {
            n,
            ci,
            co,
            input,
            padded,
            output,
            k,
            stride,
        }
    }

    /// Rows of one output plane's product: every padded-width row but the last, which stops at
    /// the output width (so no product reads past the padded input).
    fn plane_rows(&self) -> usize {
        (self.output[1] - 1) * self.padded[2] + self.output[2]
    }

    /// Offset of padded input voxel `(n, z, y, 0)` in the channels-last buffer.
    fn input_row(&self, n: usize, z: usize, y: usize) -> usize {
        ((n * self.padded[0] + z) * self.padded[1] + y) * self.padded[2] * self.ci
    }

    /// A 1×1×1 kernel at stride 1: a matrix product on the NCDHW data itself.
    fn pointwise(&self) -> bool {
        self.k == 1 && self.stride == 1
    }
}

/// Forward products of every output plane: `taps[(kd·k + kh)]` is the `(k·Ci) × Co` matrix
/// (row-major) of kernel row `(kd, kh)`. Returns NCDHW.
fn convolve(g: &Geometry, xp: &[f32], taps: &[f32]) -> Vec<f32> {
    if direct::covers(g.co) {
        return direct::convolve(g, xp, taps);
    }
    let [od, oh, ow] = g.output;
    let (rows, depth) = (g.plane_rows(), g.k * g.ci);
    let wp = g.padded[2];
    let fill = |out: DisjointWrites| {
        (0..g.n * od).into_par_iter().for_each_init(
            || vec![0.0f32; rows * g.co],
            |plane, task| {
                let (n, z) = (task / od, task % od);
                for kd in 0..g.k {
                    for kh in 0..g.k {
                        let lhs = &xp[g.input_row(n, z * g.stride + kd, kh)..];
                        let rhs = &taps[(kd * g.k + kh) * depth * g.co..];
                        let first = kd == 0 && kh == 0;
                        // SAFETY: `lhs` holds rows·s·Ci + (k−1)·Ci + Ci values past its start
                        // (plane_rows stops at the last valid voxel of the padded plane), `rhs`
                        // depth·Co, `plane` rows·Co; strides match those extents.
                        unsafe {
                            product(
                                [rows, g.co, depth],
                                (plane.as_mut_ptr(), 1, rows),
                                !first,
                                (lhs.as_ptr(), g.stride * g.ci, 1),
                                (rhs.as_ptr(), g.co, 1),
                            );
                        }
                    }
                }
                for c in 0..g.co {
                    let src = &plane[c * rows..];
                    let start = ((n * g.co + c) * od + z) * oh * ow;
                    for r in 0..oh {
                        let row = &src[r * wp..r * wp + ow];
                        // SAFETY: task (n, z) alone writes y[n, :, z, :, :].
                        unsafe { out.write(start + r * ow, row) };
                    }
                }
            },
        );
    };
    // SAFETY: the tasks together write every output voxel of every channel, each its own plane.
    unsafe { written(g.n * g.co * od * oh * ow, fill) }
}

/// Voxels per task of the pointwise products (a few hundred KB of each operand).
const POINTWISE_CHUNK: usize = 8192;

/// The 1×1×1 convolution on NCDHW data: `out[b, o, v] = Σ_i a[b, i, v] · m[o·rs_o + i·rs_i]`
/// with `[rs_i, rs_o] = m_strides` (so one matrix serves as `W` or `Wᵀ`), parallel over
/// batch and voxel chunks.
fn pointwise(
    a: &[f32],
    m: &[f32],
    n: usize,
    c_in: usize,
    c_out: usize,
    voxels: usize,
    m_strides: [usize; 2],
) -> Vec<f32> {
    let chunks = voxels.div_ceil(POINTWISE_CHUNK);
    let fill = |dst: DisjointWrites| {
        (0..n * chunks).into_par_iter().for_each(|task| {
            let (b, v0) = (task / chunks, (task % chunks) * POINTWISE_CHUNK);
            let rows = POINTWISE_CHUNK.min(voxels - v0);
            let src = &a[b * c_in * voxels + v0..];
            // SAFETY: the task writes out[b, :, v0..v0 + rows], which no other task writes;
            // src holds c_in channels of `voxels` values from v0 on, m c_in · c_out values.
            unsafe {
                product(
                    [rows, c_out, c_in],
                    (dst.at(b * c_out * voxels + v0), 1, voxels),
                    false,
                    (src.as_ptr(), 1, voxels),
                    (m.as_ptr(), m_strides[0], m_strides[1]),
                );
            }
        });
    };
    // SAFETY: the chunks cover every voxel of every batch, and the products (not accumulating)
    // write all c_out channels of their voxels.
    unsafe { written(n * c_out * voxels, fill) }
}

/// Weight gradient of the 1×1×1 convolution: `dW[o, i] = Σ_{b, v} dy[b, o, v] · x[b, i, v]`
/// in per-thread accumulators.
fn pointwise_weight_grad(
    x: &[f32],
    dy: &[f32],
    n: usize,
    ci: usize,
    co: usize,
    voxels: usize,
) -> Vec<f32> {
    let chunks = voxels.div_ceil(POINTWISE_CHUNK);
    (0..n * chunks)
        .into_par_iter()
        .fold(
            || vec![0.0f32; co * ci],
            |mut acc, task| {
                let (b, v0) = (task / chunks, (task % chunks) * POINTWISE_CHUNK);
                let depth = POINTWISE_CHUNK.min(voxels - v0);
                let lhs = &dy[b * co * voxels + v0..];
                let rhs = &x[b * ci * voxels + v0..];
                // SAFETY: acc is co × ci row-major; lhs (o, v) and rhs (v, i) stay inside batch
                // b's channels over this chunk's voxels.
                unsafe {
                    product(
                        [co, ci, depth],
                        (acc.as_mut_ptr(), ci, 1),
                        true,
                        (lhs.as_ptr(), voxels, 1),
                        (rhs.as_ptr(), 1, voxels),
                    );
                }
                acc
            },
        )
        .reduce(|| vec![0.0f32; co * ci], add_into)
}

fn add_into(mut a: Vec<f32>, b: Vec<f32>) -> Vec<f32> {
    a.iter_mut().zip(&b).for_each(|(x, y)| *x += y);
    a
}

/// Strided input gradient: per output plane one product `cols = dY · W` (`[voxels, k³·Ci]`,
/// the kernel reordered so each tap's `Ci` values are adjacent), then each tap's row added into
/// its voxel of the padded channels-last gradient. Planes whose taps reach the same input planes
/// run in different phases; within a phase tasks write disjoint planes. Returns NCDHW of
/// `g.input`.
fn scatter_columns(g: &Geometry, dy: &[f32], w: &[f32]) -> Vec<f32> {
    let [od, oh, ow] = g.output;
    let [dp, hp, wp] = g.padded;
    let plane = oh * ow;
    let k3 = g.k * g.k * g.k;
    let width = k3 * g.ci;
    // w[co, ci, tap] → per_tap[co, tap, ci].
    let mut per_tap = vec![0.0f32; w.len()];
    for co in 0..g.co {
        for ci in 0..g.ci {
            for tap in 0..k3 {
                per_tap[(co * k3 + tap) * g.ci + ci] = w[(co * g.ci + ci) * k3 + tap];
            }
        }
    }
    let mut padded = vec![0.0f32; g.n * dp * hp * wp * g.ci];
    let dst = DisjointWrites(padded.as_mut_ptr());
    // Output planes z and z + phases add into input planes at least k apart.
    let phases = g.k.div_ceil(g.stride);
    for phase in 0..phases {
        let planes: Vec<(usize, usize)> = (0..g.n)
            .flat_map(|n| (phase..od).step_by(phases).map(move |z| (n, z)))
            .collect();
        planes.into_par_iter().for_each_init(
            || vec![0.0f32; plane * width],
            |cols, (n, z)| {
                let dy_plane = &dy[(n * g.co * od + z) * plane..];
                // SAFETY: cols is plane × width row-major; dY's plane (m, co) is read with
                // column stride od·plane inside dy; per_tap is Co × width row-major.
                unsafe {
                    product(
                        [plane, width, g.co],
                        (cols.as_mut_ptr(), width, 1),
                        false,
                        (dy_plane.as_ptr(), 1, od * plane),
                        (per_tap.as_ptr(), width, 1),
                    );
                }
                for y in 0..oh {
                    for x in 0..ow {
                        let col = &cols[(y * ow + x) * width..][..width];
                        for kd in 0..g.k {
                            for kh in 0..g.k {
                                let row = g.input_row(n, z * g.stride + kd, y * g.stride + kh);
                                let start = row + x * g.stride * g.ci;
                                let taps = &col[(kd * g.k + kh) * g.k * g.ci..][..g.k * g.ci];
                                // SAFETY: k·Ci values from voxel (z·s + kd, y·s + kh, x·s) on,
                                // inside input plane z·s + kd of batch n, which only this
                                // phase's task (n, z) writes.
                                let out = unsafe {
                                    std::slice::from_raw_parts_mut(dst.at(start), g.k * g.ci)
                                };
                                for (o, t) in out.iter_mut().zip(taps) {
                                    *o += t;
                                }
                            }
                        }
                    }
                }
            },
        );
    }
    cropped_channels_first(&padded, g)
}

/// Weight gradient: `dW_{kd,kh} += L_{kd,kh}ᵀ · dY` over every output plane, in per-thread
/// accumulators. Returns `[Co, Ci, k, k, k]`.
fn weight_products(g: &Geometry, xp: &[f32], dy: &[f32]) -> Vec<f32> {
    let sum = if direct::covers_weight_grad(g) {
        direct::weight_grad(g, xp, dy)
    } else {
        products_weight_sum(g, xp, dy)
    };
    taps_to_weights(g, &sum)
}

/// The products' weight gradient in `sum[((kd·k + kh)·Co + co)·depth + kw·Ci + ci]`.
fn products_weight_sum(g: &Geometry, xp: &[f32], dy: &[f32]) -> Vec<f32> {
    let [od, oh, ow] = g.output;
    let (rows, depth) = (g.plane_rows(), g.k * g.ci);
    let wp = g.padded[2];
    let taps_len = g.k * g.k * depth * g.co;
    (0..g.n * od)
        .into_par_iter()
        .fold(
            || (vec![0.0f32; taps_len], vec![0.0f32; rows * g.co]),
            |(mut acc, mut dy_plane), task| {
                let (n, z) = (task / od, task % od);
                // dY of this plane, channel-major over the padded-width rows (zeros past W_out).
                for c in 0..g.co {
                    let src = &dy[((n * g.co + c) * od + z) * oh * ow..];
                    let dst = &mut dy_plane[c * rows..(c + 1) * rows];
                    for r in 0..oh {
                        dst[r * wp..r * wp + ow].copy_from_slice(&src[r * ow..(r + 1) * ow]);
                    }
                }
                for kd in 0..g.k {
                    for kh in 0..g.k {
                        let lhs = &xp[g.input_row(n, z * g.stride + kd, kh)..];
                        let dst = &mut acc[(kd * g.k + kh) * depth * g.co..];
                        // SAFETY: as in `convolve`, with the product transposed: dst is
                        // depth × Co column-major, Lᵀ is read with row stride 1 and column
                        // stride s·Ci, dY is rows × Co column-major.
                        unsafe {
                            product(
                                [depth, g.co, rows],
                                (dst.as_mut_ptr(), 1, depth),
                                true,
                                (lhs.as_ptr(), 1, g.stride * g.ci),
                                (dy_plane.as_ptr(), 1, rows),
                            );
                        }
                    }
                }
                (acc, dy_plane)
            },
        )
        .map(|(acc, _)| acc)
        .reduce(|| vec![0.0f32; taps_len], add_into)
}

/// `sum[((kd·k + kh)·Co + co)·depth + kw·Ci + ci]` → `dw[co, ci, kd, kh, kw]`.
fn taps_to_weights(g: &Geometry, sum: &[f32]) -> Vec<f32> {
    let (k, depth) = (g.k, g.k * g.ci);
    let mut dw = vec![0.0f32; g.co * g.ci * k * k * k];
    for kd in 0..k {
        for kh in 0..k {
            for co in 0..g.co {
                for kw in 0..k {
                    for ci in 0..g.ci {
                        dw[(((co * g.ci + ci) * k + kd) * k + kh) * k + kw] =
                            sum[((kd * k + kh) * g.co + co) * depth + kw * g.ci + ci];
                    }
                }
            }
        }
    }
    dw
}

/// The products' per-kernel-row matrices of `w [co, ci, k, k, k]`:
/// `taps[(kd·k + kh)][kw·Ci + ci][co] = w[co, ci, kd, kh, kw]` for the forward, and with
/// `flip` those of the input gradient's forward (the kernel flipped in space, input and output
/// channels swapped): `taps[(kd·k + kh)][kw·Co + co][ci] = w[co, ci, k−1−kd, k−1−kh, k−1−kw]`.
fn kernel_rows(w: &[f32], ci: usize, co: usize, k: usize, flip: bool) -> Vec<f32> {
    let mut taps = vec![0.0f32; w.len()];
    let tap = |t: usize| if flip { k - 1 - t } else { t };
    for o in 0..co {
        for i in 0..ci {
            for kd in 0..k {
                for kh in 0..k {
                    for kw in 0..k {
                        let row = (kd * k + kh) * k + kw;
                        let at = if flip {
                            (row * co + o) * ci + i
                        } else {
                            (row * ci + i) * co + o
                        };
                        taps[at] = w[(((o * ci + i) * k + tap(kd)) * k + tap(kh)) * k + tap(kw)];
                    }
                }
            }
        }
    }
    taps
}

/// NCDHW `x` as zero-padded channels-last `[N, D+2p, H+2p, W+2p, C]`, parallel over planes.
pub(super) fn channels_last_padded(
    x: &[f32],
    n: usize,
    c: usize,
    input: [usize; 3],
    pad: usize,
) -> Vec<f32> {
    let [d, h, w] = input;
    let [dp, hp, wp] = input.map(|s| s + 2 * pad);
    let plane = hp * wp * c;
    let zero = MaybeUninit::new(0.0f32);
    // SAFETY: every plane writes its padding and, for each channel, every interior voxel.
    let (out, _) = unsafe {
        filled_planes(n * dp, plane, |task, dst| {
            let (b, zp) = (task / dp, task % dp);
            if zp < pad || zp >= d + pad {
                dst.fill(zero);
                return;
            }
            // The padding of this plane: whole rows above and below, both ends of the others.
            for (yp, row) in dst.chunks_mut(wp * c).enumerate() {
                if yp < pad || yp >= h + pad {
                    row.fill(zero);
                } else {
                    row[..pad * c].fill(zero);
                    row[(w + pad) * c..].fill(zero);
                }
            }
            let z = zp - pad;
            for ch in 0..c {
                let src = &x[((b * c + ch) * d + z) * h * w..][..h * w];
                for y in 0..h {
                    let row = &src[y * w..(y + 1) * w];
                    let base = ((y + pad) * wp + pad) * c + ch;
                    for (i, &v) in row.iter().enumerate() {
                        dst[base + i * c].write(v);
                    }
                }
            }
        })
    };
    out
}

/// The padded channels-last input gradient of `g` back to NCDHW without the padding.
fn cropped_channels_first(padded: &[f32], g: &Geometry) -> Vec<f32> {
    let [d, h, w] = g.input;
    let [dp, hp, wp] = g.padded;
    let pad = (dp - d) / 2;
    // SAFETY: each (batch, channel) task writes every voxel of its volume.
    let (out, _) = unsafe {
        filled_planes(g.n * g.ci, d * h * w, |task, dst| {
            let (b, ch) = (task / g.ci, task % g.ci);
            for z in 0..d {
                for y in 0..h {
                    let base = (((b * dp + z + pad) * hp + y + pad) * wp + pad) * g.ci + ch;
                    for x in 0..w {
                        dst[(z * h + y) * w + x].write(padded[base + x * g.ci]);
                    }
                }
            }
        })
    };
    out
}

/// One thread's `dst (m × n) = lhs (m × k) · rhs (k × n)`, or `dst +=` the product with
/// `accumulate`, on the `gemm` crate; each matrix is its first value's pointer and its row and
/// column strides in values (`(ptr, row_stride, column_stride)`).
///
/// # Safety
/// Every element the strides address lies inside its buffer, and no other thread writes
/// `dst`'s elements meanwhile.
unsafe fn product(
    [m, n, k]: [usize; 3],
    dst: (*mut f32, usize, usize),
    accumulate: bool,
    lhs: (*const f32, usize, usize),
    rhs: (*const f32, usize, usize),
) {
    gemm::gemm(
        m,
        n,
        k,
        dst.0,
        dst.2 as isize,
        dst.1 as isize,
        accumulate,
        lhs.0,
        lhs.2 as isize,
        lhs.1 as isize,
        rhs.0,
        rhs.2 as isize,
        rhs.1 as isize,
        1.0,
        1.0,
        false,
        false,
        false,
        gemm::Parallelism::None,
    );
}

/// `planes · plane` values written in parallel, plane `p` by `fill(p, its chunk)`, with what
/// each call returns. No zero-fill first: these buffers are tens of megabytes per layer and
/// every value is written once.
///
/// # Safety
/// `fill` must write every element of the chunk it is given.
pub(crate) unsafe fn filled_planes<R: Send>(
    planes: usize,
    plane: usize,
    fill: impl Fn(usize, &mut [MaybeUninit<f32>]) -> R + Sync,
) -> (Vec<f32>, Vec<R>) {
    let len = planes * plane;
    let mut out = Vec::with_capacity(len);
    let results = out.spare_capacity_mut()[..len]
        .par_chunks_mut(plane)
        .enumerate()
        .map(|(p, chunk)| fill(p, chunk))
        .collect();
    // SAFETY: the caller's `fill` wrote every element of every chunk.
    unsafe { out.set_len(len) };
    (out, results)
}

/// A fresh buffer of `len` values filled by `fill` through the pointer it is given, without a
/// zero-fill first (these buffers are tens of megabytes per layer).
///
/// # Safety
/// `fill` writes every one of the `len` values, each task its own part.
unsafe fn written(len: usize, fill: impl FnOnce(DisjointWrites)) -> Vec<f32> {
    let mut buffer = Vec::with_capacity(len);
    fill(DisjointWrites(buffer.as_mut_ptr()));
    // SAFETY: the caller's `fill` wrote all `len` values.
    unsafe { buffer.set_len(len) };
    buffer
}

/// A raw pointer into an output buffer of which parallel tasks write disjoint parts.
#[derive(Clone, Copy)]
struct DisjointWrites(*mut f32);

// SAFETY: every user writes index ranges no other task writes, and the buffer outlives the
// parallel loop (it is borrowed mutably for the loop's whole duration).
unsafe impl Send for DisjointWrites {}
unsafe impl Sync for DisjointWrites {}

impl DisjointWrites {
    /// Copies `values` to `start..start + values.len()`.
    ///
    /// # Safety
    /// The range lies inside the buffer and no other task writes it concurrently.
    unsafe fn write(&self, start: usize, values: &[f32]) {
        std::ptr::copy_nonoverlapping(values.as_ptr(), self.0.add(start), values.len());
    }

    /// The pointer to element `offset`, for a task's own writes.
    ///
    /// # Safety
    /// `offset` lies inside the buffer.
    unsafe fn at(&self, offset: usize) -> *mut f32 {
        self.0.add(offset)
    }
}

fn dims(t: &FloatTensor<Flex>) -> [usize; 5] {
    let s = t.shape();
    [s[0], s[1], s[2], s[3], s[4]]
}

/// `t`'s values in row-major order (a copy only when its layout is strided). Only for f32
/// tensors: the convolutions check [`takes`] before coming here, and the network fuses the norm
/// only for f32 tensors (`model::blocks::norm_act`).
pub(super) fn values(t: &FloatTensor<Flex>) -> std::borrow::Cow<'_, [f32]> {
    match t.as_slice::<f32>() {
        Some(v) => std::borrow::Cow::Borrowed(v),
        None => std::borrow::Cow::Owned(
            t.to_contiguous()
                .as_slice::<f32>()
                .expect("an f32 tensor (callers check the type)")
                .to_vec(),
        ),
    }
}

/// A Flex tensor of `values` in row-major order.
pub(super) fn tensor(values: Vec<f32>, shape: impl Into<Shape>) -> FloatTensor<Flex> {
    Flex::float_from_data(TensorData::new(values, shape), &Default::default())
}
