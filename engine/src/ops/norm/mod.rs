//! Instance norm + affine + LeakyReLU fused into WGSL kernels (`shaders/instance_norm.wgsl`)
//! and into plane loops on the CPU ([`cpu`]), with its backward pass: the network's
//! `norm → LeakyReLU` on the devices that take it ([`fuses_norm`]: lavapipe, where burn's ten
//! or so separate element-wise and reduction kernels cost several times the convolution before
//! them, `docs/conv3d.md`; and burn's Flex CPU backend, for the same reason).
//!
//! `y = LeakyReLU(γ · (x − μ) / √(σ² + ε) + β)` over each (n, c) plane of `x [N, C, D, H, W]`
//! (biased variance, as burn's and PyTorch's instance norm), with `γ`, `β` given per sample and
//! channel (`[N, C]`: a channel's parameters repeated for every sample, or each sample's own, as
//! Dynamic Sharing's per-modality norms need). A slope of 1 gives the norm alone.
//!
//! One backend extension, [`NormActBackend`], on cubecl devices and Flex (with and without
//! autodiff):
//! statistics, forward, and the backward pass as one operation (the two plane sums and the
//! input gradient, so the CPU computes both while a plane is in cache); the autodiff step
//! registers `dx`, `dγ = Σ g·z` and `dβ = Σ g` (`g = dy · act'(a)`, `z = (x − μ)/σ`).

mod autodiff;
mod cpu;
mod cube;

use super::tuning::device_lavapipe_tuned;
use super::{runs_cpu_path, runs_wgsl};
use burn::backend::{backend_extension, tensor::FloatTensor, Backend, Dispatch};
use burn::tensor::{Device, Tensor};

/// The backend extension of the fused norm (see the module docs). `stats` and `sums` are
/// `[N, C, 2]`: (mean, 1/σ) and (Σ g·z, Σ g) of each plane.
#[backend_extension(Autodiff, Cube, Flex)]
pub trait NormActBackend: Backend {
    /// The forward pass, differentiable in `x`, `gamma` and `beta` under autodiff.
    fn instance_norm_leaky_relu(
        x: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        epsilon: f64,
        slope: f64,
    ) -> FloatTensor<Self>;

    /// Mean and 1/σ of each plane.
    fn instance_norm_stats(x: FloatTensor<Self>, epsilon: f64) -> FloatTensor<Self>;

    /// The forward pass with the statistics given.
    fn instance_norm_apply(
        x: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        slope: f64,
    ) -> FloatTensor<Self>;

    /// The backward pass for the output gradient `dy`: `(sums, dx)`, the plane sums Σ g·z and
    /// Σ g (`[N, C, 2]`) and `dx = γ/(σ M) · (M g − Σ g − z Σ g·z)`, M the plane's voxels.
    fn instance_norm_backward(
        x: FloatTensor<Self>,
        stats: FloatTensor<Self>,
        gamma: FloatTensor<Self>,
        beta: FloatTensor<Self>,
        dy: FloatTensor<Self>,
        slope: f64,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
}

/// Whether the network fuses `norm → LeakyReLU` on `device`: cubecl devices that take the
/// lavapipe tuning ([`super::Tuning`]) and the Flex CPU backend. Elsewhere it runs burn's own
/// ops.
pub fn fuses_norm(device: &Device) -> bool {
    runs_cpu_path(device) || (runs_wgsl(device) && device_lavapipe_tuned(device))
}

/// `LeakyReLU(γ · (x − μ) / √(σ² + ε) + β)` per (n, c) plane of `x [N, C, D, H, W]`, `gamma` and
/// `beta` `[N, C]`, on a cubecl device (see [`fuses_norm`]) and for `x` under 2³² values
/// ([`super::indexable`]; the kernels index with `u32`). Differentiable in all three.
pub fn instance_norm_leaky_relu(
    x: Tensor<5>,
    gamma: Tensor<2>,
    beta: Tensor<2>,
    epsilon: f64,
    slope: f64,
) -> Tensor<5> {
    let [n, c, ..] = x.dims();
    assert!(
        super::indexable(x.shape().num_elements()),
        "instance_norm_leaky_relu: tensors of 2^32 values or more need burn's instance norm"
    );
    assert!(
        gamma.dims() == [n, c] && beta.dims() == [n, c],
        "instance_norm_leaky_relu: gamma and beta must be [N, C] = [{n}, {c}]"
    );
    Tensor::<5>::from_dispatch(<Dispatch as NormActBackend>::instance_norm_leaky_relu(
        x.into_dispatch(),
        gamma.into_dispatch(),
        beta.into_dispatch(),
        epsilon,
        slope,
    ))
}
