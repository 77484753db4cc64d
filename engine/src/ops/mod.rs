//! 3D convolution operations backed by the WGSL kernels in `shaders/` and, on the CPU, by our
//! channels-last matrix products ([`cpu`]).
//!
//! Public API on burn's run-time dispatched tensors (`burn::tensor::Tensor<5>`):
//! [`conv3d`], [`conv3d_input_grad`], [`conv3d_weight_grad`], [`conv_transpose3d_up2`].
//! On a cubecl device (wgpu: lavapipe or a GPU) they run our kernels, on burn's Flex CPU backend
//! our CPU path; on the `NdArray` backend (the tests' reference) they fall back to burn's own
//! convolution ops behind the same API. Under `.autodiff()` devices,
//! gradients of [`conv3d`] and [`conv_transpose3d_up2`] are computed with our input- and
//! weight-gradient kernels.
//!
//! The operations are one burn backend extension, [`Conv3dBackend`]:
//! * `conv3d_forward`: `y = conv3d(x, w)` (kernel size from `w`, isotropic stride/padding).
//! * `conv3d_input_grad`: `dx` from `dy` and `w` (gather form, no scatter). With stride 2, 2x2x2
//!   kernel and no padding this *is* the transposed convolution used for upsampling, and it is
//!   differentiable itself, which is how [`conv_transpose3d_up2`] gets its gradients.
//! * `conv3d_weight_grad`: `dw` from `x` and `dy` (split-K, partial sums added on the device).
//!
//! Layout: NCDHW everywhere (burn's own), chosen because it needs no transposes around the
//! kernels; see `docs/conv3d.md` for the measurements.
//!
//! [`norm`] holds the second extension, instance norm + affine + LeakyReLU fused into two
//! kernels (with its backward pass), which the network uses where it was measured faster
//! ([`Tuning`]).

mod autodiff;
mod cpu;
mod cube;
mod extension;
mod fallback;
pub mod kernels;
pub mod norm;
pub mod reference;
mod tuning;

pub use extension::Conv3dBackend;
pub use norm::{fuses_norm, instance_norm_leaky_relu, NormActBackend};
pub use tuning::{adapter_name, set_tuning, tuning, Tuning};

use burn::backend::Dispatch;
use burn::tensor::{Device, Tensor};

/// Stride and padding of a 3D convolution (the same along d, h and w).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv3dOptions {
    pub stride: usize,
    pub padding: usize,
}

impl Conv3dOptions {
    pub fn new(stride: usize, padding: usize) -> Self {
        Self { stride, padding }
    }

    /// Output size along one axis for an input of `size` and a kernel of `kernel`.
    pub fn out_size(&self, size: usize, kernel: usize) -> usize {
        (size + 2 * self.padding - kernel) / self.stride + 1
    }
}

/// Whether the kernels can address a tensor of `elements` values: they index with `u32`, so
/// larger tensors must take burn's convolution instead.
pub fn indexable(elements: usize) -> bool {
    elements < u32::MAX as usize
}

/// Whether the network should take these operations on `device`: our WGSL kernels on a cubecl
/// device or our CPU path on Flex (on NdArray they would only wrap burn's own convolutions).
pub fn runs_own_kernels(device: &Device) -> bool {
    runs_wgsl(device) || runs_cpu_path(device)
}

/// Whether `device` runs our CPU path (burn's Flex backend), with or without autodiff.
pub fn runs_cpu_path(device: &Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        burn::backend::DispatchDevice::Flex(_)
    )
}

/// Whether `device` runs our WGSL kernels (a cubecl device: wgpu on a GPU or lavapipe), with or
/// without autodiff. Elsewhere the operations fall back to burn's own convolutions.
pub fn runs_wgsl(device: &Device) -> bool {
    matches!(
        device.clone().inner().as_dispatch(),
        burn::backend::DispatchDevice::Cube(_)
    )
}

fn check(x: &[usize], w: &[usize], options: Conv3dOptions) {
    let k = w[2];
    assert!(
        (1..=3).contains(&k) && w[3] == k && w[4] == k,
        "conv3d: cubic kernels of size 1..=3 only, got {w:?}"
    );
    assert!(
        options.stride == 1 || options.stride == 2,
        "conv3d: stride 1 or 2"
    );
    assert!(options.padding < k, "conv3d: padding must be < kernel size");
    assert_eq!(x[1], w[1], "conv3d: input channels of x and w differ");
    for &s in &x[2..] {
        assert!(
            s + 2 * options.padding >= k,
            "conv3d: input smaller than kernel"
        );
    }
}

/// 3D convolution `y = conv3d(x, w) + bias`. `x [N, C_in, D, H, W]`, `w [C_out, C_in, K, K, K]`,
/// `bias [C_out]`. Differentiable in `x`, `w` and `bias` on autodiff devices.
pub fn conv3d(
    x: Tensor<5>,
    weight: Tensor<5>,
    bias: Option<Tensor<1>>,
    options: Conv3dOptions,
) -> Tensor<5> {
    check(&x.dims(), &weight.dims(), options);
    let y = Tensor::<5>::from_dispatch(<Dispatch as Conv3dBackend>::conv3d_forward(
        x.into_dispatch(),
        weight.into_dispatch(),
        options.stride,
        options.padding,
    ));
    add_bias(y, bias)
}

/// Gradient of [`conv3d`] with respect to its input (of spatial size `input`).
pub fn conv3d_input_grad(
    dy: Tensor<5>,
    weight: Tensor<5>,
    input: [usize; 3],
    options: Conv3dOptions,
) -> Tensor<5> {
    Tensor::<5>::from_dispatch(<Dispatch as Conv3dBackend>::conv3d_input_grad(
        dy.into_dispatch(),
        weight.into_dispatch(),
        input,
        options.stride,
        options.padding,
    ))
}

/// Gradient of [`conv3d`] with respect to its weight (cubic kernel of size `kernel`).
pub fn conv3d_weight_grad(
    x: Tensor<5>,
    dy: Tensor<5>,
    kernel: usize,
    options: Conv3dOptions,
) -> Tensor<5> {
    Tensor::<5>::from_dispatch(<Dispatch as Conv3dBackend>::conv3d_weight_grad(
        x.into_dispatch(),
        dy.into_dispatch(),
        kernel,
        options.stride,
        options.padding,
    ))
}

/// The decoder's upsampling: transposed convolution with a 2x2x2 kernel and stride 2, which
/// doubles every spatial size. `x [N, C_in, D, H, W]`, `w [C_in, C_out, 2, 2, 2]` (burn's
/// `conv_transpose3d` weight layout), `bias [C_out]`. Differentiable in all three.
pub fn conv_transpose3d_up2(x: Tensor<5>, weight: Tensor<5>, bias: Option<Tensor<1>>) -> Tensor<5> {
    let [_, c, d, h, w] = x.dims();
    let wd = weight.dims();
    assert!(
        wd[0] == c && wd[2..] == [2, 2, 2],
        "conv_transpose3d_up2: weight must be [C_in, C_out, 2, 2, 2], got {wd:?}"
    );
    let y = conv3d_input_grad(x, weight, [2 * d, 2 * h, 2 * w], Conv3dOptions::new(2, 0));
    add_bias(y, bias)
}

fn add_bias(y: Tensor<5>, bias: Option<Tensor<1>>) -> Tensor<5> {
    match bias {
        Some(b) => {
            let c = b.dims()[0];
            y + b.reshape([1, c, 1, 1, 1])
        }
        None => y,
    }
}

#[cfg(test)]
mod tests {
    use super::indexable;

    #[test]
    fn indexable_stops_below_u32_max() {
        assert!(indexable(u32::MAX as usize - 1));
        assert!(!indexable(u32::MAX as usize));
    }
}
