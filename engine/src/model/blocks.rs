//! Building blocks of the network: convolution → instance norm → LeakyReLU, and the 2×2×2
//! stride-2 transposed convolution used for upsampling.

use burn::module::Module;
use burn::nn::conv::{Conv3d, Conv3dConfig, ConvTranspose3d, ConvTranspose3dConfig};
use burn::nn::{Initializer, InstanceNorm, InstanceNormConfig, PaddingConfig3d};
use burn::tensor::activation::leaky_relu;
use burn::tensor::{Device, Tensor};

/// Negative slope of every LeakyReLU (the released code's 0.01).
const LEAKY_SLOPE: f64 = 0.01;

/// Kaiming-normal, fan-out (the released code's initialisation of every convolution).
fn kaiming_fan_out() -> Initializer {
    Initializer::KaimingNormal {
        gain: 2.0f64.sqrt(),
        fan_out_only: true,
    }
}

/// `conv (k³, stride s, padding k/2, no bias) → InstanceNorm (affine) → LeakyReLU(0.01)`.
#[derive(Module, Debug)]
pub struct ConvBlock {
    conv: Conv3d,
    norm: InstanceNorm,
}

impl ConvBlock {
    pub fn new(channels: [usize; 2], kernel: usize, stride: usize, device: &Device) -> ConvBlock {
        let pad = kernel / 2;
        let conv = Conv3dConfig::new(channels, [kernel; 3])
            .with_stride([stride; 3])
            .with_padding(PaddingConfig3d::Explicit(pad, pad, pad))
            .with_bias(false)
            .with_initializer(kaiming_fan_out())
            .init(device);
        let norm = InstanceNormConfig::new(channels[1]).init(device);
        ConvBlock { conv, norm }
    }

    pub fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        leaky_relu(self.norm.forward(self.conv.forward(x)), LEAKY_SLOPE)
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
