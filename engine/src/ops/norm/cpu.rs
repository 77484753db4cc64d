//! [`NormActBackend`] for burn's Flex CPU backend: the WGSL kernels' formulas
//! (`shaders/instance_norm.wgsl`) as loops over the `(n, c)` planes, one plane per rayon task,
//! each step one pass over the plane (sums in 16 independent f32 lanes per block of 1024 values,
//! blocks added in f64; the statistics from a shifted origin, as the shader takes them). The
//! backward pass computes a plane's two sums and then its input gradient in the same task, so
//! the second pass reads the plane from cache. Outputs are written once, without a zero-fill
//! first ([`filled_planes`](crate::ops::cpu::filled_planes)). burn's own instance norm takes about ten passes and as many
//! allocations for the same result.

use super::NormActBackend;
use burn::backend::tensor::FloatTensor;
use burn::backend::{Flex, TensorMetadata};
use rayon::prelude::*;
use std::borrow::Cow;

use crate::ops::cpu::{filled_planes, tensor, values};

impl NormActBackend for Flex {
    fn instance_norm_leaky_relu(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        slope: f64,
    ) -> FloatTensor<Self> {
        let stats = Self::instance_norm_stats(x.clone(), epsilon);
        Self::instance_norm_apply(x, stats, gamma, beta, slope)
    }

    fn instance_norm_stats(x: FloatTensor<Self>, epsilon: f64) -> FloatTensor<Self> {
        let x_shape = x.shape();
        let (planes, plane) = plane_shape(&x);
        let x = values(&x);
        let mut out = vec![0.0f32; planes * 2];
        out.par_chunks_mut(2).enumerate().for_each(|(p, o)| {
            let v = &x[p * plane..(p + 1) * plane];
            let shift = v[0];
            let (s1, s2) = plane_sums(v, v, |a, _| {
                let d = a - shift;
                (d, d * d)
            });
            let m = s1 / plane as f64;
            let variance = (s2 / plane as f64 - m * m).max(0.0);
            o[0] = (shift as f64 + m) as f32;
            o[1] = (1.0 / (variance + epsilon).sqrt()) as f32;
        });
        per_plane(out, &x_shape)
    }

    fn instance_norm_apply(
        x: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        slope: f64,
    ) -> FloatTensor<Self> {
        let shape = x.shape();
        let (planes, plane) = plane_shape(&x);
        let affine = Affine::new(&stats, &gamma, &beta);
        let x = values(&x);
        let slope = slope as f32;
        // SAFETY: each plane's loop writes every value of its chunk (a zip with the plane of x).
        let (out, _) = unsafe {
            filled_planes(planes, plane, |p, o| {
                let (scale, offset) = affine.of(p);
                for (o, &v) in o.iter_mut().zip(&x[p * plane..(p + 1) * plane]) {
                    let a = v * scale + offset;
                    o.write(if a >= 0.0 { a } else { slope * a });
                }
            })
        };
        tensor(out, shape)
    }

    fn instance_norm_backward(
        x: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        slope: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let shape = x.shape();
        let (planes, plane) = plane_shape(&x);
        let affine = Affine::new(&stats, &gamma, &beta);
        let (x, dy) = (values(&x), values(&dy));
        let slope = slope as f32;
        let count = plane as f32;
        // SAFETY: each plane's loop writes every value of its chunk (a zip with the plane-long
        // slices of x and dy).
        let (dx, sums) = unsafe {
            filled_planes(planes, plane, |p, o| {
                let (scale, offset) = affine.of(p);
                let (mean, rstd) = affine.stats(p);
                let range = p * plane..(p + 1) * plane;
                let (xs, ds) = (&x[range.clone()], &dy[range]);
                // g = dy · LeakyReLU'(a).
                let g = |v: f32, d: f32| {
                    let a = v * scale + offset;
                    d * if a > 0.0 { 1.0 } else { slope }
                };
                let (sgz, sg) = plane_sums(xs, ds, |v, d| {
                    let g = g(v, d);
                    (g * (v - mean) * rstd, g)
                });
                let (total_gz, total_g) = (sgz as f32, sg as f32);
                let c = scale / count;
                for ((o, &v), &d) in o.iter_mut().zip(xs).zip(ds) {
                    let z = (v - mean) * rstd;
                    o.write(c * (count * g(v, d) - total_g - z * total_gz));
                }
                [total_gz, total_g]
            })
        };
        let sums = sums.into_iter().flatten().collect();
        (per_plane(sums, &shape), tensor(dx, shape))
    }
}

/// Every plane's statistics and affine parameters.
struct Affine<'a> {
    stats: Cow<'a, [f32]>,
    gamma: Cow<'a, [f32]>,
    beta: Cow<'a, [f32]>,
}

impl<'a> Affine<'a> {
    fn new(
        stats: &'a FloatTensor<Flex>,
        gamma: &'a FloatTensor<Flex>,
        beta: &'a FloatTensor<Flex>,
    ) -> Self {
        Affine {
            stats: values(stats),
            gamma: values(gamma),
            beta: values(beta),
        }
    }

    /// Mean and 1/σ of plane `p`.
    fn stats(&self, p: usize) -> (f32, f32) {
        (self.stats[2 * p], self.stats[2 * p + 1])
    }

    /// `(γ/σ, β − μ·γ/σ)` of plane `p`: the norm and affine as one multiply-add.
    fn of(&self, p: usize) -> (f32, f32) {
        let (mean, rstd) = self.stats(p);
        let scale = self.gamma[p] * rstd;
        (scale, self.beta[p] - mean * scale)
    }
}

/// Values per block of [`plane_sums`] and lanes within it: a block's lanes are summed in f32
/// (independent chains the compiler vectorises), the blocks in f64.
const BLOCK: usize = 1024;
const LANES: usize = 16;

/// `(Σ f(a_i, b_i).0, Σ f(a_i, b_i).1)` over two equally long planes.
#[inline(always)]
fn plane_sums(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> (f32, f32)) -> (f64, f64) {
    let (mut total0, mut total1) = (0.0f64, 0.0f64);
    for (ab, bb) in a.chunks(BLOCK).zip(b.chunks(BLOCK)) {
        let (mut s0, mut s1) = ([0.0f32; LANES], [0.0f32; LANES]);
        let (mut ac, mut bc) = (ab.chunks_exact(LANES), bb.chunks_exact(LANES));
        for (al, bl) in (&mut ac).zip(&mut bc) {
            for l in 0..LANES {
                let (p, q) = f(al[l], bl[l]);
                s0[l] += p;
                s1[l] += q;
            }
        }
        for (&x, &y) in ac.remainder().iter().zip(bc.remainder()) {
            let (p, q) = f(x, y);
            s0[0] += p;
            s1[0] += q;
        }
        total0 += s0.iter().map(|&v| v as f64).sum::<f64>();
        total1 += s1.iter().map(|&v| v as f64).sum::<f64>();
    }
    (total0, total1)
}

/// Number of `(n, c)` planes of `x [N, C, ...]` and voxels per plane.
fn plane_shape(x: &FloatTensor<Flex>) -> (usize, usize) {
    let shape = x.shape();
    let plane = (2..shape.num_dims()).map(|a| shape[a]).product();
    (shape[0] * shape[1], plane)
}

/// Per-plane pairs of `x` (of `x_shape`) as the `[N, C, 2]` tensor the trait returns.
fn per_plane(values: Vec<f32>, x_shape: &burn::tensor::Shape) -> FloatTensor<Flex> {
    tensor(values, [x_shape[0], x_shape[1], 2])
}
