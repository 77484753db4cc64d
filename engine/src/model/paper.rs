//! The `paper` preset's network: the released MetaKD code's shared single-channel 3D
//! ResNet-50 encoder with ASPP, and its U-Net-like decoder (`methods.md` §2.2), about 43.7 M
//! parameters.
//!
//! * Encoder, per modality: stem (7³ convolution, stride 1 × 2 × 2) → 3³ max-pool (stride 2)
//!   → four bottleneck layers (3, 4, 6, 3 blocks of 64, 128, 256, 320 planes, ×4 channels out;
//!   the first block of layers 2–4 halves the size) → 1×1 reduction to 256 channels → ASPP
//!   (1×1; 3³ with dilation 2, 4, 8; a global-pool branch) projected to 256 channels: the
//!   per-modality bottleneck feature used for fusion and distillation. Skips: the stem and
//!   layers 1–3.
//! * Every convolution except the upsampling and the output head is weight-standardised; every
//!   norm is an affine instance norm and every activation LeakyReLU(0.01).
//! * The global-pool branch normalises a single voxel, so it outputs `LeakyReLU(β)` whatever
//!   the image: reproduced as the released code computes it (`methods.md` §2.2's note).
//! * Decoder: per level a 2×2×2 transposed convolution, plus the four modalities' concatenated
//!   skips reduced by a 1×1 block, then a residual basic block; the caller applies the 1×1
//!   head and [`super::upsample_hw2`] back to the input size.
//!
//! Input sizes must be multiples of 16 along D and 32 along H and W
//! ([`PAPER_SIZE_MULTIPLE`]); the released code trains on 80 × 160 × 160 crops.

use super::blocks::{conv_with_weight, norm_act, up_conv, upsample, LEAKY_SLOPE};
use super::fusion::{availability_mask, fuse_bottlenecks};
use crate::study::Availability;
use burn::module::Module;
use burn::nn::conv::{Conv3d, Conv3dConfig, ConvTranspose3d};
use burn::nn::{Initializer, InstanceNorm, InstanceNormConfig, PaddingConfig3d};
use burn::tensor::activation::leaky_relu;
use burn::tensor::module::max_pool2d;
use burn::tensor::ops::MaxPoolOptions;
use burn::tensor::{Device, Tensor};

/// Input sizes (D, H, W) must be multiples of these: the stem halves H and W, the pool and
/// layers 2–4 halve all three.
pub const PAPER_SIZE_MULTIPLE: [usize; 3] = [16, 32, 32];

/// Channels of the per-modality bottleneck feature (the ASPP output).
pub const PAPER_BOTTLENECK_CHANNELS: usize = 256;

/// Channels of the skips (stem, layers 1–3) and of the decoder levels, finest first.
const SKIP_CHANNELS: [usize; 4] = [64, 256, 512, 1024];
const DECODER_CHANNELS: [usize; 4] = [32, 64, 128, 256];

/// Channels of the decoder's last level (what the output head reads).
pub const PAPER_HEAD_CHANNELS: usize = DECODER_CHANNELS[0];

/// Bottleneck layers: (blocks, planes); each block outputs `4 · planes` channels.
const LAYERS: [(usize, usize); 4] = [(3, 64), (4, 128), (6, 256), (3, 320)];

/// Dilations of ASPP's three 3³ branches.
const ASPP_DILATIONS: [usize; 3] = [2, 4, 8];

/// Number of modality slots.
const MODALITIES: usize = 4;

/// Standardisation of each output filter (`methods.md` §2.2): `(W − mean) / sqrt(var + 1e-12)`
/// over the filter's input channels and taps, with the unbiased variance.
pub fn standardise(weight: Tensor<5>) -> Tensor<5> {
    let dims = weight.dims();
    let flat = weight.reshape([dims[0], dims[1] * dims[2] * dims[3] * dims[4]]);
    let (var, mean) = flat.clone().var_mean(1);
    let standardised = (flat - mean) / var.add_scalar(1e-12).sqrt();
    standardised.reshape(dims)
}

/// A weight-standardised convolution without bias.
#[derive(Module, Debug)]
struct WsConv {
    conv: Conv3d,
}

impl WsConv {
    fn new(
        channels: [usize; 2],
        kernel: [usize; 3],
        stride: [usize; 3],
        dilation: usize,
        device: &Device,
    ) -> WsConv {
        let pad = kernel.map(|k| k / 2 * dilation);
        let conv = Conv3dConfig::new(channels, kernel)
            .with_stride(stride)
            .with_dilation([dilation; 3])
            .with_padding(PaddingConfig3d::Explicit(pad[0], pad[1], pad[2]))
            .with_bias(false)
            .with_initializer(Initializer::KaimingNormal {
                gain: 2.0f64.sqrt(),
                fan_out_only: true,
            })
            .init(device);
        WsConv { conv }
    }

    /// A cubic kernel of size `k` with stride `stride` along every axis.
    fn cubic(channels: [usize; 2], k: usize, stride: usize, device: &Device) -> WsConv {
        WsConv::new(channels, [k; 3], [stride; 3], 1, device)
    }

    fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        conv_with_weight(&self.conv, standardise(self.conv.weight.val()), x)
    }
}

/// `WsConv → InstanceNorm`, optionally followed by LeakyReLU.
#[derive(Module, Debug)]
struct ConvNorm {
    conv: WsConv,
    norm: InstanceNorm,
}

impl ConvNorm {
    fn new(conv: WsConv) -> ConvNorm {
        let weight = conv.conv.weight.val();
        let [channels, ..] = weight.dims();
        let device = weight.device();
        let norm = InstanceNormConfig::new(channels)
            .with_affine(true)
            .init(&device);
        ConvNorm { conv, norm }
    }

    /// Convolution and norm, no activation.
    fn normed(&self, x: Tensor<5>) -> Tensor<5> {
        norm_act(&self.norm, None, self.conv.forward(x), 1.0)
    }

    /// Convolution, norm and LeakyReLU.
    fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        norm_act(&self.norm, None, self.conv.forward(x), LEAKY_SLOPE)
    }
}

/// ResNet bottleneck: 1×1 → 3³ (carrying the stride) → 1×1 (×4 channels), each normed, with an
/// identity or 1×1-projection shortcut.
#[derive(Module, Debug)]
struct Bottleneck {
    reduce: ConvNorm,
    spatial: ConvNorm,
    expand: ConvNorm,
    shortcut: Option<ConvNorm>,
}

impl Bottleneck {
    fn new(inputs: usize, planes: usize, stride: usize, device: &Device) -> Bottleneck {
        let outputs = 4 * planes;
        let shortcut = (stride != 1 || inputs != outputs)
            .then(|| ConvNorm::new(WsConv::cubic([inputs, outputs], 1, stride, device)));
        Bottleneck {
            reduce: ConvNorm::new(WsConv::cubic([inputs, planes], 1, 1, device)),
            spatial: ConvNorm::new(WsConv::cubic([planes, planes], 3, stride, device)),
            expand: ConvNorm::new(WsConv::cubic([planes, outputs], 1, 1, device)),
            shortcut,
        }
    }

    fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let residual = match &self.shortcut {
            Some(shortcut) => shortcut.normed(x.clone()),
            None => x.clone(),
        };
        let y = self.spatial.forward(self.reduce.forward(x));
        leaky_relu(self.expand.normed(y) + residual, LEAKY_SLOPE)
    }
}

/// Atrous spatial pyramid pooling on the reduced 256-channel map.
#[derive(Module, Debug)]
struct Aspp {
    /// The 1×1 branch, then the dilated 3³ branches.
    branches: Vec<ConvNorm>,
    /// Global average pool → 1×1 → norm → LeakyReLU, broadcast over space.
    pooled: ConvNorm,
    project: ConvNorm,
}

impl Aspp {
    fn new(channels: usize, device: &Device) -> Aspp {
        let mut branches = vec![ConvNorm::new(WsConv::cubic(
            [channels, channels],
            1,
            1,
            device,
        ))];
        for dilation in ASPP_DILATIONS {
            branches.push(ConvNorm::new(WsConv::new(
                [channels, channels],
                [3; 3],
                [1; 3],
                dilation,
                device,
            )));
        }
        let parts = branches.len() + 1;
        Aspp {
            branches,
            pooled: ConvNorm::new(WsConv::cubic([channels, channels], 1, 1, device)),
            project: ConvNorm::new(WsConv::cubic([parts * channels, channels], 1, 1, device)),
        }
    }

    fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let [n, c, d, h, w] = x.dims();
        let mut parts: Vec<Tensor<5>> =
            self.branches.iter().map(|b| b.forward(x.clone())).collect();
        let pooled = x
            .reshape([n, c, d * h * w])
            .mean_dim(2)
            .reshape([n, c, 1, 1, 1]);
        parts.push(self.pooled.forward(pooled).expand([n, c, d, h, w]));
        self.project.forward(Tensor::cat(parts, 1))
    }
}

/// One modality's encoder: every skip (stem, layers 1–3) and the ASPP bottleneck feature.
#[derive(Module, Debug)]
pub struct PaperEncoder {
    stem: ConvNorm,
    layers: Vec<Vec<Bottleneck>>,
    reduce: ConvNorm,
    aspp: Aspp,
}

/// What [`PaperEncoder::forward`] returns.
pub struct Encoded {
    /// Stem, layer 1, layer 2, layer 3 (finest first).
    pub skips: Vec<Tensor<5>>,
    /// The ASPP output, `[B, 256, D/16, H/32, W/32]`.
    pub bottleneck: Tensor<5>,
}

impl PaperEncoder {
    pub fn new(device: &Device) -> PaperEncoder {
        let stem = ConvNorm::new(WsConv::new(
            [1, SKIP_CHANNELS[0]],
            [7; 3],
            [1, 2, 2],
            1,
            device,
        ));
        let mut inputs = SKIP_CHANNELS[0];
        let mut layers = Vec::new();
        for (index, (blocks, planes)) in LAYERS.into_iter().enumerate() {
            let stride = if index == 0 { 1 } else { 2 };
            let layer = (0..blocks)
                .map(|b| {
                    let block =
                        Bottleneck::new(inputs, planes, if b == 0 { stride } else { 1 }, device);
                    inputs = 4 * planes;
                    block
                })
                .collect();
            layers.push(layer);
        }
        PaperEncoder {
            stem,
            layers,
            reduce: ConvNorm::new(WsConv::cubic(
                [inputs, PAPER_BOTTLENECK_CHANNELS],
                1,
                1,
                device,
            )),
            aspp: Aspp::new(PAPER_BOTTLENECK_CHANNELS, device),
        }
    }

    /// The skips and bottleneck feature of a `[B, 1, D, H, W]` input.
    pub fn forward(&self, x: Tensor<5>) -> Encoded {
        let stem = self.stem.forward(x);
        let mut skips = vec![stem.clone()];
        let mut y = max_pool3d_k3s2(stem);
        for (index, layer) in self.layers.iter().enumerate() {
            for block in layer {
                y = block.forward(y);
            }
            if index + 1 < self.layers.len() {
                skips.push(y.clone());
            }
        }
        Encoded {
            skips,
            bottleneck: self.aspp.forward(self.reduce.forward(y)),
        }
    }
}

/// Residual basic block: `3³ → norm → LeakyReLU → 3³ → norm → + input → LeakyReLU`.
#[derive(Module, Debug)]
struct BasicBlock {
    first: ConvNorm,
    second: ConvNorm,
}

impl BasicBlock {
    fn new(channels: usize, device: &Device) -> BasicBlock {
        BasicBlock {
            first: ConvNorm::new(WsConv::cubic([channels, channels], 3, 1, device)),
            second: ConvNorm::new(WsConv::cubic([channels, channels], 3, 1, device)),
        }
    }

    fn forward(&self, x: Tensor<5>) -> Tensor<5> {
        let y = self.second.normed(self.first.forward(x.clone()));
        leaky_relu(y + x, LEAKY_SLOPE)
    }
}

/// One decoder level: upsample the coarser map, add the reduced skip, refine.
#[derive(Module, Debug)]
pub struct PaperDecoderLevel {
    up: ConvTranspose3d,
    skip: ConvNorm,
    block: BasicBlock,
}

/// The decoder over the fused bottleneck and the concatenated skips.
#[derive(Module, Debug)]
pub struct PaperDecoder {
    /// Coarsest level first.
    levels: Vec<PaperDecoderLevel>,
}

impl PaperDecoder {
    pub fn new(device: &Device) -> PaperDecoder {
        let levels = (0..DECODER_CHANNELS.len())
            .rev()
            .map(|level| {
                let coarser = if level + 1 == DECODER_CHANNELS.len() {
                    MODALITIES * PAPER_BOTTLENECK_CHANNELS
                } else {
                    DECODER_CHANNELS[level + 1]
                };
                let c = DECODER_CHANNELS[level];
                PaperDecoderLevel {
                    up: up_conv([coarser, c], device),
                    skip: ConvNorm::new(WsConv::cubic(
                        [MODALITIES * SKIP_CHANNELS[level], c],
                        1,
                        1,
                        device,
                    )),
                    block: BasicBlock::new(c, device),
                }
            })
            .collect();
        PaperDecoder { levels }
    }

    /// `fused` `[N, 4·256, …]` and the concatenated skips (finest first, `[N, 4·C, …]`) →
    /// `[N, 32, D, H/2, W/2]`.
    pub fn forward(&self, fused: Tensor<5>, skips: &[Tensor<5>]) -> Tensor<5> {
        let mut y = fused;
        for (i, level) in self.levels.iter().enumerate() {
            let skip = level.skip.forward(skips[skips.len() - 1 - i].clone());
            y = level.block.forward(upsample(&level.up, y) + skip);
        }
        y
    }
}

/// The encoder(s) and decoder of the `paper` preset (the output head is the caller's).
#[derive(Module, Debug)]
pub struct PaperNet {
    /// One shared encoder, or one per modality.
    encoders: Vec<PaperEncoder>,
    decoder: PaperDecoder,
}

impl PaperNet {
    pub fn new(shared_encoder: bool, device: &Device) -> PaperNet {
        let copies = if shared_encoder { 1 } else { MODALITIES };
        PaperNet {
            encoders: (0..copies).map(|_| PaperEncoder::new(device)).collect(),
            decoder: PaperDecoder::new(device),
        }
    }

    /// `x` `[N, 4, D, H, W]` → the decoder's output `[N, 32, D, H/2, W/2]` and every
    /// modality's bottleneck feature `[N, 4, 256, D/16, H/32, W/32]` before imputation. Missing
    /// bottleneck features are replaced by the mean of the available ones and optionally gated
    /// (as in the U-Net presets); skips are concatenated as they are.
    pub fn forward(
        &self,
        x: Tensor<5>,
        availability: &[Availability],
        gate: Option<Tensor<1>>,
    ) -> (Tensor<5>, Tensor<6>) {
        let [n, m, d, h, w] = x.dims();
        let device = x.device();
        let encoded: Vec<Encoded> = if self.encoders.len() == 1 {
            vec![self.encoders[0].forward(x.reshape([n * m, 1, d, h, w]))]
        } else {
            self.encoders
                .iter()
                .enumerate()
                .map(|(i, e)| e.forward(x.clone().narrow(1, i, 1)))
                .collect()
        };
        // Every map as [N, 4·C, …] (modality-major), whichever way it was computed.
        let per_sample = |maps: Vec<Tensor<5>>| -> Tensor<5> {
            if maps.len() == 1 {
                let [b, c, d, h, w] = maps[0].dims();
                maps[0]
                    .clone()
                    .reshape([b / MODALITIES, MODALITIES * c, d, h, w])
            } else {
                Tensor::cat(maps, 1)
            }
        };
        let skips: Vec<Tensor<5>> = (0..SKIP_CHANNELS.len())
            .map(|level| per_sample(encoded.iter().map(|e| e.skips[level].clone()).collect()))
            .collect();
        let bottleneck = per_sample(encoded.into_iter().map(|e| e.bottleneck).collect());
        let [_, mc, bd, bh, bw] = bottleneck.dims();
        let c = mc / MODALITIES;
        let bottlenecks = bottleneck.reshape([n, MODALITIES, c, bd, bh, bw]);
        let mask = availability_mask(availability, &device);
        let fused = fuse_bottlenecks(bottlenecks.clone(), mask, gate).reshape([n, mc, bd, bh, bw]);
        (self.decoder.forward(fused, &skips), bottlenecks)
    }
}

/// 3×3×3 max-pooling with stride 2 and padding 1 (padding never wins: it is −∞), done as a 2D
/// pool over (H, W) and then one over D; the maximum over a box is the maximum over its
/// slices' maxima, so this is exact.
pub fn max_pool3d_k3s2(x: Tensor<5>) -> Tensor<5> {
    let [n, c, d, h, w] = x.dims();
    let plane = MaxPoolOptions::new([3, 3])
        .with_stride([2, 2])
        .with_padding([1, 1]);
    let y = max_pool2d(x.reshape([n, c * d, h, w]), plane);
    let [_, _, ho, wo] = y.dims();
    let depth = MaxPoolOptions::new([3, 1])
        .with_stride([2, 1])
        .with_padding([1, 0]);
    let y = max_pool2d(y.reshape([n, c, d, ho * wo]), depth);
    let [_, _, dout, _] = y.dims();
    y.reshape([n, c, dout, ho, wo])
}
