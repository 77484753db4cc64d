//! Building blocks of the network: convolution → instance norm → LeakyReLU (with one shared or
//! one per-modality scale and shift), and the 2×2×2 stride-2 transposed convolution used for
//! upsampling.
//!
//! The layers keep burn's `Conv3d` / `ConvTranspose3d` modules for their parameters (so saved
//! models do not change), but [`conv`] and [`upsample`] run them on our kernels (`engine::ops`:
//! WGSL on a wgpu device, channels-last products on the Flex CPU backend), and on burn's own
//! ops elsewhere.
//! Likewise [`norm_act`] runs `norm → LeakyReLU` on the fused WGSL kernels where the device
//! takes them (lavapipe) and as burn's `InstanceNorm` and `leaky_relu` elsewhere.

use crate::ops::{self, Conv3dOptions};
use burn::backend::ops::ConvOptions;
use burn::module::{Module, Param};
use burn::nn::conv::{Conv3d, Conv3dConfig, ConvTranspose3d, ConvTranspose3dConfig};
use burn::nn::{Initializer, InstanceNorm, InstanceNormConfig, PaddingConfig3d};
use burn::tensor::activation::leaky_relu;
use burn::tensor::{Device, Int, Tensor};

/// Negative slope of every LeakyReLU (the released code's 0.01).
pub(super) const LEAKY_SLOPE: f64 = 0.01;

/// Kaiming-normal, fan-out (the released code's initialisation of every convolution).
fn kaiming_fan_out() -> Initializer {
    Initializer::KaimingNormal {
        gain: 2.0f64.sqrt(),
        fan_out_only: true,
    }
}

/// `conv (k³, stride s, padding k/2, no bias) → InstanceNorm (affine) → LeakyReLU(0.01)`.
/// With per-modality normalisation (Dynamic Sharing) the norm's scale and shift are one row
/// per modality, chosen by each sample's modality; the convolution stays shared.
#[derive(Module, Debug)]
pub struct ConvBlock {
    conv: Conv3d,
    norm: InstanceNorm,
    /// Per-modality scale and shift (then `norm` has none); absent in concat networks.
    modality_affine: Option<ModalityAffine>,
}

/// Instance-norm scale and shift per modality: `[4, C]` each.
#[derive(Module, Debug)]
pub struct ModalityAffine {
    gamma: Param<Tensor<2>>,
    beta: Param<Tensor<2>>,
}

impl ModalityAffine {
    fn new(channels: usize, device: &Device) -> ModalityAffine {
        ModalityAffine {
            gamma: Initializer::Ones.init([MODALITIES, channels], device),
            beta: Initializer::Zeros.init([MODALITIES, channels], device),
        }
    }

    /// Each sample's scale and shift, `[N, C]`: the rows of its modality (`rows`, one per
    /// sample).
    fn per_sample(&self, rows: &Tensor<1, Int>) -> (Tensor<2>, Tensor<2>) {
        let pick = |p: &Param<Tensor<2>>| p.val().select(0, rows.clone());
        (pick(&self.gamma), pick(&self.beta))
    }
}

/// Number of modality slots of a per-modality block.
const MODALITIES: usize = 4;

impl ConvBlock {
    /// A block with one scale and shift (`per_modality = false`) or one per modality.
    pub fn new(
        channels: [usize; 2],
        kernel: usize,
        stride: usize,
        per_modality: bool,
        device: &Device,
    ) -> ConvBlock {
        let pad = kernel / 2;
        let conv = Conv3dConfig::new(channels, [kernel; 3])
            .with_stride([stride; 3])
            .with_padding(PaddingConfig3d::Explicit(pad, pad, pad))
            .with_bias(false)
            .with_initializer(kaiming_fan_out())
            .init(device);
        let norm = InstanceNormConfig::new(channels[1])
            .with_affine(!per_modality)
            .init(device);
        let modality_affine = per_modality.then(|| ModalityAffine::new(channels[1], device));
        ConvBlock {
            conv,
            norm,
            modality_affine,
        }
    }

    /// The block on `x`; `rows` gives each sample's modality (needed by per-modality blocks).
    pub fn forward(&self, x: Tensor<5>, rows: Option<&Tensor<1, Int>>) -> Tensor<5> {
        debug_assert!(
            self.modality_affine.is_none() || rows.is_some(),
            "a per-modality block needs each sample's modality"
        );
        let per_sample = match (&self.modality_affine, rows) {
            (Some(affine), Some(rows)) => Some(affine.per_sample(rows)),
            _ => None,
        };
        norm_act(&self.norm, per_sample, conv(&self.conv, x), LEAKY_SLOPE)
    }
}

/// `norm`, then the scale and shift of each sample (`per_sample`, `[N, C]` each) when given,
/// then LeakyReLU with `slope` (1: none). Fused into two kernels on the devices that take it
/// (`ops::fuses_norm`: lavapipe and the Flex CPU backend), burn's ops elsewhere; the same values
/// either way.
pub(super) fn norm_act(
    norm: &InstanceNorm,
    per_sample: Option<(Tensor<2>, Tensor<2>)>,
    x: Tensor<5>,
    slope: f64,
) -> Tensor<5> {
    let [n, c, _, _, _] = x.dims();
    // The fused kernels index with u32, like the convolution kernels, and take f32 only.
    let device = x.device();
    if ops::fuses_norm(&device) && ops::indexable(x.shape().num_elements()) {
        let channel = |p: &Option<Param<Tensor<1>>>, fill: f32| match p {
            Some(p) => p.val().reshape([1, c]).expand([n, c]),
            None => Tensor::<2>::full([n, c], fill, &device),
        };
        let (gamma, beta) = (channel(&norm.gamma, 1.0), channel(&norm.beta, 0.0));
        // A per-sample affine after the norm's own: s·(γ·x̂ + β) + t.
        let (gamma, beta) = match per_sample.clone() {
            Some((s, t)) => (gamma * s.clone(), beta * s + t),
            None => (gamma, beta),
        };
        let f32_only = [x.dtype(), gamma.dtype(), beta.dtype()]
            .iter()
            .all(|d| *d == burn::tensor::DType::F32);
        if f32_only {
            return ops::instance_norm_leaky_relu(x, gamma, beta, norm.epsilon, slope);
        }
    }
    let y = norm.forward(x);
    let y = match per_sample {
        Some((s, t)) => y * s.reshape([n, c, 1, 1, 1]) + t.reshape([n, c, 1, 1, 1]),
        None => y,
    };
    if slope == 1.0 {
        y
    } else {
        leaky_relu(y, slope)
    }
}

/// A 2×2×2 stride-2 transposed convolution without bias or norm (doubles each spatial size).
/// Kaiming-normal over `out_channels · 8`, which is PyTorch's fan-out of a transposed
/// convolution (burn passes it as the fan-in).
pub fn up_conv(channels: [usize; 2], device: &Device) -> ConvTranspose3d {
    ConvTranspose3dConfig::new(channels, [2; 3])
        .with_stride([2; 3])
        .with_bias(false)
        .with_initializer(Initializer::KaimingNormal {
            gain: 2.0f64.sqrt(),
            fan_out_only: false,
        })
        .init(device)
}

/// The 1×1×1 output convolution (with bias).
pub fn head_conv(channels: [usize; 2], device: &Device) -> Conv3d {
    Conv3dConfig::new(channels, [1; 3])
        .with_initializer(kaiming_fan_out())
        .init(device)
}

/// `layer` applied to `x`: our WGSL kernels on a wgpu device or our CPU path on Flex for the
/// shapes they cover (cubic kernel 1–3, one stride 1 or 2 and one padding for all axes, no
/// dilation or groups; on wgpu tensors under 2³² values), burn's `conv3d` otherwise.
pub fn conv(layer: &Conv3d, x: Tensor<5>) -> Tensor<5> {
    conv_with_weight(layer, layer.weight.val(), x)
}

/// [`conv`] with `weight` in place of the layer's own (same shape), e.g. its standardised form.
pub fn conv_with_weight(layer: &Conv3d, weight: Tensor<5>, x: Tensor<5>) -> Tensor<5> {
    let [k, kh, kw] = layer.kernel_size;
    let [s, sh, sw] = layer.stride;
    let [n, _, d, h, w] = x.dims();
    let padding = match layer.padding {
        PaddingConfig3d::Valid => [0; 3],
        PaddingConfig3d::Explicit(pd, ph, pw) => [pd, ph, pw],
        // The network builds every layer with explicit padding; `Same` is the symmetric
        // padding that keeps the size at stride 1.
        PaddingConfig3d::Same => {
            std::array::from_fn(|a| layer.dilation[a] * (layer.kernel_size[a] - 1) / 2)
        }
    };
    let [p, ph, pw] = padding;
    let covered = k == kh
        && k == kw
        && (1..=3).contains(&k)
        && s == sh
        && s == sw
        && (s == 1 || s == 2)
        && p == ph
        && p == pw
        && p < k
        && layer.dilation == [1; 3]
        && layer.groups == 1;
    let out = |size: usize| (size + 2 * p).saturating_sub(k) / s.max(1) + 1;
    let out_channels = weight.dims()[0];
    let fits = || {
        ops::indexable(x.shape().num_elements())
            && ops::indexable(n * out_channels * out(d) * out(h) * out(w))
    };
    let bias = layer.bias.as_ref().map(|b| b.val());
    let device = x.device();
    let ours = ops::runs_own_kernels(&device) && (!ops::runs_wgsl(&device) || fits());
    if covered && ours {
        ops::conv3d(x, weight, bias, Conv3dOptions::new(s, p))
    } else {
        let options = ConvOptions::new(layer.stride, padding, layer.dilation, layer.groups);
        burn::tensor::module::conv3d(x, weight, bias, options)
    }
}

/// The 2×2×2 stride-2 upsampling `layer` applied to `x`: our WGSL kernel on a wgpu device
/// (tensors under 2³² values) or our CPU path on Flex, burn's `conv_transpose3d` otherwise.
pub fn upsample(layer: &ConvTranspose3d, x: Tensor<5>) -> Tensor<5> {
    let covered = layer.kernel_size == [2; 3]
        && layer.stride == [2; 3]
        && layer.padding == [0; 3]
        && layer.padding_out == [0; 3]
        && layer.dilation == [1; 3]
        && layer.groups == 1;
    let out_channels = layer.weight.val().dims()[1];
    let fits = ops::indexable(x.shape().num_elements())
        && ops::indexable(x.shape().num_elements() / x.dims()[1].max(1) * out_channels * 8);
    let device = x.device();
    let ours = ops::runs_own_kernels(&device) && (!ops::runs_wgsl(&device) || fits);
    if covered && ours {
        ops::conv_transpose3d_up2(x, layer.weight.val(), layer.bias.as_ref().map(|b| b.val()))
    } else {
        layer.forward(x)
    }
}

/// Trilinear upsampling by (1, 2, 2) with PyTorch's `align_corners = False` (the released
/// code's last step): along H and W each output voxel mixes its nearest input voxel (¾) and the
/// next one towards it (¼), clamped at the edges; D is unchanged.
pub fn upsample_hw2(x: Tensor<5>) -> Tensor<5> {
    let y = upsample_axis2(x, 3);
    upsample_axis2(y, 4)
}

/// Doubles axis `axis` (3 or 4) of `x` by linear interpolation, `align_corners = False`.
fn upsample_axis2(x: Tensor<5>, axis: usize) -> Tensor<5> {
    let dims = x.dims();
    let len = dims[axis];
    let (before, after) = if len == 1 {
        (x.clone(), x.clone())
    } else {
        (
            Tensor::cat(
                vec![
                    x.clone().narrow(axis, 0, 1),
                    x.clone().narrow(axis, 0, len - 1),
                ],
                axis,
            ),
            Tensor::cat(
                vec![
                    x.clone().narrow(axis, 1, len - 1),
                    x.clone().narrow(axis, len - 1, 1),
                ],
                axis,
            ),
        )
    };
    let even = x.clone() * 0.75 + before * 0.25;
    let odd = x * 0.75 + after * 0.25;
    let mut out = dims;
    out[axis] = 2 * len;
    Tensor::stack::<6>(vec![even, odd], axis + 1).reshape(out)
}
