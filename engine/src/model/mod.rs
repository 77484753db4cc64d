//! The segmentation network: a shared per-modality 3D encoder, fusion of the available
//! modalities, a U-Net decoder and three sigmoid outputs (WT, TC, ET), at sizes a desktop can
//! train and run. Two fusions ([`Fusion`]): backbone A of `methods.md` §5.3 (mean imputation of
//! missing bottleneck features, channel concatenation; the default) and GMD's Dynamic Sharing
//! (backbone B: every modality runs through the whole U-Net with shared convolutions and its
//! own normalisation parameters; the logits are averaged over the available modalities).
//!
//! * [`ModelConfig`] / [`Preset`]: the plain, serialisable description saved with every run.
//! * [`network::MetaKdNet`]: the burn module, with the forward pass the strategies need
//!   (bottleneck features per modality, optional modality gate for MetaKD's meta step).
//! * [`fusion`]: the availability mask and the imputation of missing modalities' features.
//! * [`file`]: model files (config + weights in one file) and the bundled model.

mod blocks;
pub(crate) mod decode;
pub mod file;
pub mod fusion;
pub mod network;
pub mod paper;

pub use blocks::upsample_hw2;
pub use file::{ModelFile, ModelFileError};
pub use network::{AbsentLevels, MetaKdNet, NetOutput};

use std::fmt;

/// Size presets of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// 4–32 channels, one convolution per level: trains in minutes on a CPU (tests, CI).
    Tiny,
    /// 8–64 channels, one convolution per level: the default and the bundled model (sized so
    /// a 2-core CPU trains it in under an hour).
    Desktop,
    /// The released code's ResNet-50-3D + ASPP encoder and its decoder (43.7 M parameters;
    /// [`paper`]): for GPUs.
    Paper,
}

impl Preset {
    pub const ALL: [Preset; 3] = [Preset::Tiny, Preset::Desktop, Preset::Paper];

    pub fn name(self) -> &'static str {
        match self {
            Preset::Tiny => "tiny",
            Preset::Desktop => "desktop",
            Preset::Paper => "paper",
        }
    }

    pub fn parse(text: &str) -> Option<Preset> {
        Preset::ALL.into_iter().find(|p| p.name() == text)
    }
}

impl fmt::Display for Preset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How the modalities are combined (`methods.md` §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fusion {
    /// Backbone A: per-level concatenation of the four modalities' maps, missing bottleneck
    /// features replaced by the mean of the available ones, one decoder.
    #[default]
    Concat,
    /// Backbone B (GMD's Dynamic Sharing): each available modality runs through the whole
    /// U-Net (shared convolutions, modality-specific instance-norm scale and shift); the
    /// per-modality logits are averaged over the available modalities, nothing is imputed.
    DynamicSharing,
}

impl Fusion {
    pub const ALL: [Fusion; 2] = [Fusion::Concat, Fusion::DynamicSharing];

    pub fn name(self) -> &'static str {
        match self {
            Fusion::Concat => "concat",
            Fusion::DynamicSharing => "dynamic-sharing",
        }
    }

    pub fn parse(text: &str) -> Option<Fusion> {
        Fusion::ALL.into_iter().find(|f| f.name() == text)
    }
}

/// The widest encoder level a configuration may ask for (the `paper` preset's widest).
pub const MAX_CHANNELS: usize = 1024;

/// The most extra convolution blocks per level a configuration may ask for.
pub const MAX_EXTRA_CONVS: usize = 8;

/// Everything that fixes the network's shape (stored in model files and run configs).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ModelConfig {
    pub preset: Preset,
    /// Channels of each encoder level, finest first; the last level is the bottleneck.
    pub channels: Vec<usize>,
    /// Convolution blocks per level after the (strided) entry block.
    pub extra_convs: usize,
    /// One encoder shared by the four modalities (the released MetaKD code) or one each.
    pub shared_encoder: bool,
    /// How the modalities are combined (files written before this option read as `concat`).
    #[serde(default)]
    pub fusion: Fusion,
}

/// Errors of building a network from a configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelConfigError {
    #[error("the `paper` preset has the released code's fixed widths (channels = {expected:?}) and concat fusion; got channels = {channels:?}, fusion = {fusion}")]
    PaperIsFixed {
        expected: Vec<usize>,
        channels: Vec<usize>,
        fusion: &'static str,
    },
    #[error(
        "a network needs 2 to 6 encoder levels with 1 to {MAX_CHANNELS} channels each (got {0:?})"
    )]
    BadChannels(Vec<usize>),
    #[error("a network has at most {MAX_EXTRA_CONVS} extra convolutions per level (got {0})")]
    TooDeep(usize),
    #[error(
        "dynamic sharing shares the convolutions between modalities; set shared_encoder = true"
    )]
    SeparateEncodersWithSharing,
}

impl ModelConfig {
    /// The configuration of a preset.
    pub fn preset(preset: Preset) -> ModelConfig {
        let (channels, extra_convs) = match preset {
            Preset::Tiny => (vec![4, 8, 16, 32], 0),
            Preset::Desktop => (vec![8, 16, 32, 64], 0),
            // Skips (stem, layers 1–3) and the ASPP bottleneck: fixed, listed for reference.
            Preset::Paper => (vec![64, 256, 512, 1024, 256], 0),
        };
        ModelConfig {
            preset,
            channels,
            extra_convs,
            shared_encoder: true,
            fusion: Fusion::Concat,
        }
    }

    /// Checks that this configuration can be built.
    pub fn check(&self) -> Result<(), ModelConfigError> {
        if self.preset == Preset::Paper {
            let expected = ModelConfig::preset(Preset::Paper).channels;
            if self.channels != expected || self.fusion != Fusion::Concat {
                return Err(ModelConfigError::PaperIsFixed {
                    expected,
                    channels: self.channels.clone(),
                    fusion: self.fusion.name(),
                });
            }
            return Ok(());
        }
        if !(2..=6).contains(&self.channels.len())
            || self
                .channels
                .iter()
                .any(|c| !(1..=MAX_CHANNELS).contains(c))
        {
            return Err(ModelConfigError::BadChannels(self.channels.clone()));
        }
        if self.extra_convs > MAX_EXTRA_CONVS {
            return Err(ModelConfigError::TooDeep(self.extra_convs));
        }
        if self.fusion == Fusion::DynamicSharing && !self.shared_encoder {
            return Err(ModelConfigError::SeparateEncodersWithSharing);
        }
        Ok(())
    }

    /// Patch and window sizes `[D, H, W]` must be multiples of these (one halving per level
    /// below the top; the `paper` stem also halves H and W).
    pub fn size_multiple(&self) -> [usize; 3] {
        match self.preset {
            Preset::Paper => paper::PAPER_SIZE_MULTIPLE,
            _ => [1 << (self.channels.len() - 1); 3],
        }
    }

    /// A lower bound on the network's parameter count, for a checked configuration: the
    /// encoder's 3×3×3 convolution weights alone (0 for the `paper` preset, whose fixed
    /// ResNet encoder is not built from these widths). A model file must hold at least this
    /// many weights.
    pub fn minimum_parameters(&self) -> u64 {
        if self.preset == Preset::Paper {
            return 0;
        }
        let copies = if self.shared_encoder {
            1
        } else {
            fusion::MODALITIES as u64
        };
        let mut previous = 1u64;
        let mut total = 0u64;
        for &c in &self.channels {
            let c = c as u64;
            total += 27 * previous * c + self.extra_convs as u64 * 27 * c * c;
            previous = c;
        }
        copies * total
    }

    /// Channels of one modality's bottleneck feature.
    pub fn bottleneck_channels(&self) -> usize {
        *self.channels.last().unwrap_or(&0)
    }
}
