//! The network module and its forward pass.
//!
//! Input `[N, 4, D, H, W]` (FLAIR, T1, T1ce, T2; a missing modality's channel is zero), spatial
//! sizes multiples of [`ModelConfig::size_multiple`]. Each modality runs through the encoder on
//! its own (one shared encoder by default: the four channels are folded into the batch, so
//! instance norm never mixes modalities). Per level the four modalities' maps are concatenated
//! (modality-major) and reduced by a 1×1 block into the decoder's skip; skips are *not* imputed
//! (a missing modality contributes the encoder's response to zeros, as in the released code).
//! The bottleneck feature of a missing modality is replaced by the mean of the available ones,
//! optionally multiplied by a per-modality gate (MetaKD's meta step), and the four are
//! concatenated. The decoder upsamples with 2×2×2 transposed convolutions and adds the skips.
//! Output: logits of WT, TC, ET (sigmoid outside the network).

use super::blocks::{conv, head_conv, up_conv, upsample, upsample_hw2, ConvBlock};
use super::fusion::{all_modalities, availability_mask, fuse_bottlenecks, MODALITIES};
use super::paper::{PaperNet, PAPER_HEAD_CHANNELS};
use super::{Fusion, ModelConfig, ModelConfigError, Preset};
use crate::study::{Availability, Modality};
use burn::module::Module;
use burn::nn::conv::{Conv3d, ConvTranspose3d};
use burn::tensor::{Device, Int, Tensor, TensorData};

/// One encoder level: an entry block (strided below the first level) and extra blocks.
#[derive(Module, Debug)]
struct EncoderLevel {
    blocks: Vec<ConvBlock>,
}

/// A single-channel encoder (shared by all modalities, or one per modality).
#[derive(Module, Debug)]
struct Encoder {
    levels: Vec<EncoderLevel>,
}

/// One decoder level: upsample the coarser map, add the reduced skip, refine.
#[derive(Module, Debug)]
struct DecoderLevel {
    up: ConvTranspose3d,
    skip: ConvBlock,
    blocks: Vec<ConvBlock>,
}

/// The segmentation network (see the module docs).
#[derive(Module, Debug)]
pub struct MetaKdNet {
    encoders: Vec<Encoder>,
    /// Coarsest level first.
    decoder: Vec<DecoderLevel>,
    head: Conv3d,
    /// Dynamic Sharing (per-modality branches, logit mean) instead of concatenation.
    dynamic_sharing: bool,
    /// The `paper` preset's ResNet-50 + ASPP encoder and decoder (then `encoders` and
    /// `decoder` are empty, and `head` reads its 32-channel output).
    paper: Option<PaperNet>,
}

/// The encoder's response to a zero window at every level, `[1, 4, C, d, h, w]`: what a
/// modality left out contributes ([`MetaKdNet::absent_levels`]).
#[derive(Debug, Clone)]
pub struct AbsentLevels(Vec<Tensor<6>>);

/// What a forward pass returns.
#[derive(Debug, Clone)]
pub struct NetOutput {
    /// `[N, 3, D, H, W]` logits of WT, TC, ET.
    pub logits: Tensor<5>,
    /// `[N, 4, C, d, h, w]` bottleneck feature of every modality before imputation (what
    /// distillation compares).
    pub bottlenecks: Tensor<6>,
}

impl Encoder {
    fn new(config: &ModelConfig, device: &Device) -> Encoder {
        let per_modality = config.fusion == Fusion::DynamicSharing;
        let mut levels = Vec::new();
        let mut previous = 1;
        for (level, &c) in config.channels.iter().enumerate() {
            let stride = if level == 0 { 1 } else { 2 };
            let mut blocks = vec![ConvBlock::new(
                [previous, c],
                3,
                stride,
                per_modality,
                device,
            )];
            for _ in 0..config.extra_convs {
                blocks.push(ConvBlock::new([c, c], 3, 1, per_modality, device));
            }
            levels.push(EncoderLevel { blocks });
            previous = c;
        }
        Encoder { levels }
    }

    /// The output of every level for a `[B, 1, D, H, W]` input (`rows`: each sample's
    /// modality, for per-modality blocks).
    fn forward(&self, x: Tensor<5>, rows: Option<&Tensor<1, Int>>) -> Vec<Tensor<5>> {
        let mut outputs = Vec::with_capacity(self.levels.len());
        let mut x = x;
        for level in &self.levels {
            for block in &level.blocks {
                x = block.forward(x, rows);
            }
            outputs.push(x.clone());
        }
        outputs
    }
}

impl MetaKdNet {
    /// A freshly initialised network (random weights from `device`'s generator).
    pub fn new(config: &ModelConfig, device: &Device) -> Result<MetaKdNet, ModelConfigError> {
        config.check()?;
        if config.preset == Preset::Paper {
            return Ok(MetaKdNet {
                encoders: Vec::new(),
                decoder: Vec::new(),
                head: head_conv([PAPER_HEAD_CHANNELS, 3], device),
                dynamic_sharing: false,
                paper: Some(PaperNet::new(config.shared_encoder, device)),
            });
        }
        let copies = if config.shared_encoder { 1 } else { MODALITIES };
        let encoders = (0..copies).map(|_| Encoder::new(config, device)).collect();
        let dynamic_sharing = config.fusion == Fusion::DynamicSharing;
        // Concatenation feeds the decoder all four modalities' maps; Dynamic Sharing one.
        let fused = if dynamic_sharing { 1 } else { MODALITIES };
        let c = &config.channels;
        let levels = c.len();
        let mut decoder = Vec::new();
        for level in (0..levels - 1).rev() {
            let coarser = if level == levels - 2 {
                fused * c[levels - 1]
            } else {
                c[level + 1]
            };
            let blocks = (0..=config.extra_convs)
                .map(|_| ConvBlock::new([c[level], c[level]], 3, 1, dynamic_sharing, device))
                .collect();
            decoder.push(DecoderLevel {
                up: up_conv([coarser, c[level]], device),
                skip: ConvBlock::new([fused * c[level], c[level]], 1, 1, dynamic_sharing, device),
                blocks,
            });
        }
        let head = head_conv([c[0], 3], device);
        Ok(MetaKdNet {
            encoders,
            decoder,
            head,
            dynamic_sharing,
            paper: None,
        })
    }

    /// Every encoder level as `[N, 4, C, d, h, w]`.
    fn encode(&self, x: Tensor<5>) -> Vec<Tensor<6>> {
        let [n, m, d, h, w] = x.dims();
        if self.encoders.len() == 1 {
            let folded = x.reshape([n * m, 1, d, h, w]);
            self.encoders[0]
                .forward(folded, None)
                .into_iter()
                .map(|t| {
                    let [_, c, d, h, w] = t.dims();
                    t.reshape([n, m, c, d, h, w])
                })
                .collect()
        } else {
            let per_modality: Vec<Vec<Tensor<5>>> = self
                .encoders
                .iter()
                .enumerate()
                .map(|(i, e)| e.forward(x.clone().narrow(1, i, 1), None))
                .collect();
            (0..per_modality[0].len())
                .map(|level| {
                    let maps = per_modality.iter().map(|p| p[level].clone()).collect();
                    Tensor::stack(maps, 1)
                })
                .collect()
        }
    }

    /// The forward pass (see the module docs). `availability` has one entry per sample;
    /// `gate`, when given, multiplies modality `m`'s fused bottleneck feature by `gate[m]`.
    pub fn forward(
        &self,
        x: Tensor<5>,
        availability: &[Availability],
        gate: Option<Tensor<1>>,
    ) -> NetOutput {
        if let Some(paper) = &self.paper {
            let (y, bottlenecks) = paper.forward(x, availability, gate);
            return NetOutput {
                logits: upsample_hw2(conv(&self.head, y)),
                bottlenecks,
            };
        }
        if self.dynamic_sharing {
            return self.forward_dynamic_sharing(x, availability, gate);
        }
        let mask = availability_mask(availability, &x.device());
        let levels = self.encode(x);
        self.decode(&levels, mask, gate)
    }

    /// What a modality left out contributes to the concatenation backbone in windows of
    /// `window` voxels: the encoder's response to a zero window, per level. It depends on the
    /// weights and the window size only, so a caller computes it once for many windows;
    /// `None` for the backbones [`MetaKdNet::forward_subsets`] runs subset by subset.
    pub fn absent_levels(&self, window: [usize; 3], device: &Device) -> Option<AbsentLevels> {
        if self.paper.is_some() || self.dynamic_sharing {
            return None;
        }
        let [d, h, w] = window;
        let zeros = Tensor::zeros([1, MODALITIES, d, h, w], device);
        Some(AbsentLevels(self.encode(zeros)))
    }

    /// Logits `[N, 3, D, H, W]` of the same windows under each of `subsets` (one entry per
    /// subset, in order): `x` holds every modality any subset uses. With concatenation
    /// (`absent` from [`MetaKdNet::absent_levels`] at `x`'s window size) the encoder runs once
    /// for all subsets: a modality a subset leaves out gets the encoder's response to a zero
    /// window, exactly what [`MetaKdNet::forward`] computes from a zeroed channel, so each
    /// result equals a forward pass with that subset's channels zeroed. Without `absent` it
    /// runs one forward pass per subset.
    pub fn forward_subsets(
        &self,
        x: Tensor<5>,
        subsets: &[Availability],
        absent: Option<&AbsentLevels>,
    ) -> Vec<Tensor<5>> {
        let device = x.device();
        let n = x.dims()[0];
        let Some(AbsentLevels(absent)) = absent else {
            return subsets
                .iter()
                .map(|subset| {
                    let channels = availability_mask(&[*subset], &device).reshape([1, 4, 1, 1, 1]);
                    self.forward(x.clone() * channels, &vec![*subset; n], None)
                        .logits
                })
                .collect();
        };
        let present = self.encode(x);
        subsets
            .iter()
            .map(|subset| {
                let levels: Vec<Tensor<6>> = present
                    .iter()
                    .zip(absent)
                    .map(|(p, a)| {
                        let [_, _, c, d, h, w] = p.dims();
                        let slots = Modality::ALL
                            .into_iter()
                            .map(|m| {
                                let i = m.index();
                                if subset.contains(m) {
                                    p.clone().narrow(1, i, 1)
                                } else {
                                    a.clone().narrow(1, i, 1).expand([n, 1, c, d, h, w])
                                }
                            })
                            .collect();
                        Tensor::cat(slots, 1)
                    })
                    .collect();
                let mask = availability_mask(&vec![*subset; n], &device);
                self.decode(&levels, mask, None).logits
            })
            .collect()
    }

    /// The concatenation backbone's fusion and decoder, from every encoder level
    /// `[N, 4, C, d, h, w]` and the availability mask.
    fn decode(&self, levels: &[Tensor<6>], mask: Tensor<6>, gate: Option<Tensor<1>>) -> NetOutput {
        let bottlenecks = levels[levels.len() - 1].clone();
        let [n, m, c, d, h, w] = bottlenecks.dims();
        let fused = fuse_bottlenecks(bottlenecks.clone(), mask, gate);
        let mut y = fused.reshape([n, m * c, d, h, w]);
        for (i, level) in self.decoder.iter().enumerate() {
            let skip = &levels[levels.len() - 2 - i];
            let [n, m, c, d, h, w] = skip.dims();
            let skip = level
                .skip
                .forward(skip.clone().reshape([n, m * c, d, h, w]), None);
            y = upsample(&level.up, y) + skip;
            for block in &level.blocks {
                y = block.forward(y, None);
            }
        }
        NetOutput {
            logits: conv(&self.head, y),
            bottlenecks,
        }
    }

    /// The Dynamic Sharing forward pass (see the module docs).
    fn forward_dynamic_sharing(
        &self,
        x: Tensor<5>,
        availability: &[Availability],
        gate: Option<Tensor<1>>,
    ) -> NetOutput {
        let device = x.device();
        let [n, _, d, h, w] = x.dims();
        let union = availability
            .iter()
            .fold(Availability::NONE, |u, a| u.union(*a));
        // A batch without any modality (never sent) still gets a well-formed, all-zero mean.
        let present: Vec<usize> = Modality::ALL
            .into_iter()
            .filter(|m| union.is_empty() || union.contains(*m))
            .map(Modality::index)
            .collect();
        let k = present.len();
        let int = |values: Vec<i64>| {
            let len = values.len();
            Tensor::<1, Int>::from_data(TensorData::new(values, [len]), &device)
        };
        let channels = int(present.iter().map(|&m| m as i64).collect());
        let rows = int((0..n * k).map(|r| present[r % k] as i64).collect());
        let branches = x.select(1, channels.clone()).reshape([n * k, 1, d, h, w]);
        let levels = self.encoders[0].forward(branches, Some(&rows));
        let mut y = levels[levels.len() - 1].clone();
        let [_, c, bd, bh, bw] = y.dims();
        let bottlenecks = y.clone().reshape([n, k, c, bd, bh, bw]);
        if let Some(gate) = gate {
            y = y * gate.select(0, rows.clone()).reshape([n * k, 1, 1, 1, 1]);
        }
        for (i, level) in self.decoder.iter().enumerate() {
            let skip = level
                .skip
                .forward(levels[levels.len() - 2 - i].clone(), Some(&rows));
            y = upsample(&level.up, y) + skip;
            for block in &level.blocks {
                y = block.forward(y, Some(&rows));
            }
        }
        let branch_logits = conv(&self.head, y).reshape([n, k, 3, d, h, w]);
        let mask = availability_mask(availability, &device).select(1, channels);
        let count = mask.clone().sum_dim(1).clamp_min(1.0);
        let logits = ((branch_logits * mask).sum_dim(1) / count).reshape([n, 3, d, h, w]);
        NetOutput {
            logits,
            bottlenecks: all_modalities(bottlenecks, &present),
        }
    }
}
