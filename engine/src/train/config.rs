//! The training configuration: every setting of a run in one plain struct, read from and
//! written to TOML (`run.toml` in the run folder, with the seed), so a run can be repeated.

pub use crate::compute::Compute;
use crate::data::augment::AugmentConfig;
use crate::model::{ModelConfig, Preset};
use std::path::Path;

/// The training strategies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// Modality dropout only.
    Baseline,
    /// Meta-learned modality-weighted knowledge distillation.
    Metakd,
    /// Teacher election and cross-modal distillation.
    Lckd,
    /// Gradient-guided modality decoupling: per-subset losses, conflicting gradients projected.
    Gmd,
}

impl Method {
    pub const ALL: [Method; 4] = [Method::Baseline, Method::Metakd, Method::Lckd, Method::Gmd];

    pub fn name(self) -> &'static str {
        match self {
            Method::Baseline => "baseline",
            Method::Metakd => "metakd",
            Method::Lckd => "lckd",
            Method::Gmd => "gmd",
        }
    }

    pub fn parse(text: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.name() == text)
    }
}

/// Network optimiser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// SGD with Nesterov momentum (the released code: momentum 0.99, lr 1e-2).
    Sgd,
    Adam,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OptimConfig {
    pub kind: OptimizerKind,
    /// Initial learning rate; decays as `lr · (1 − t/T)^poly_power`.
    pub learning_rate: f64,
    pub poly_power: f64,
    /// SGD only.
    pub momentum: f64,
    pub weight_decay: f64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DataConfig {
    /// Patch size `[D, H, W]` (multiples of the network's size multiple).
    pub patch: [usize; 3],
    pub batch_size: usize,
    /// Share of patches centred on a tumour voxel.
    pub foreground_fraction: f64,
    pub workers: usize,
    /// Flips, rotation and intensity augmentation (the data pipeline's defaults) or none.
    pub augment: bool,
    /// Where a raw data set folder is prepared before training (`data::prepared`); `None`:
    /// `$METAKD_CACHE` or the user's cache folder. A prepared set is used where it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<std::path::PathBuf>,
}

/// How MetaKD updates its modality weights (`methods.md` §2.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MetaUpdate {
    /// The released code: Adam steps on φ with the weights gating the bottleneck features on
    /// meta-validation patches.
    #[default]
    GateProxy,
    /// The paper-spirit bilevel step: the meta-validation loss after one virtual network step,
    /// differentiated with respect to φ through the distillation term.
    OneStepLookahead,
}

/// MetaKD's settings (`methods.md` §2.4–2.6).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MetaKdConfig {
    /// Weight λ of the distillation loss.
    pub kd_weight: f64,
    /// A meta-validation round every this many iterations (and at iteration 0).
    pub meta_every: u64,
    /// Adam steps on the modality weights per round (one meta-validation crop each).
    pub meta_steps: usize,
    pub meta_learning_rate: f64,
    pub meta_weight_decay: f64,
    /// How φ is updated (configurations without it use the gate proxy).
    #[serde(default)]
    pub meta_update: MetaUpdate,
}

/// LCKD's settings (`methods.md` §3).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct LckdConfig {
    /// λ of the teacher distillation term.
    pub kd_weight: f64,
    /// Elect the teachers every this many iterations (and at iteration 0).
    pub elect_every: u64,
    /// Validation patches each single modality segments at an election.
    pub election_patches: usize,
}

impl Default for LckdConfig {
    fn default() -> Self {
        LckdConfig {
            kd_weight: 0.1,
            elect_every: 500,
            election_patches: 8,
        }
    }
}

/// GMD's settings (`methods.md` §4).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct GmdConfig {
    /// Availability subsets per step: 15 enumerates all (the released code), fewer samples
    /// that many distinct subsets each step (the paper's cheaper variant).
    pub subsets_per_step: usize,
}

impl Default for GmdConfig {
    fn default() -> Self {
        GmdConfig {
            subsets_per_step: 15,
        }
    }
}

/// Everything a run needs (see the module docs).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    pub method: Method,
    /// The data set folder (set by `metakd train --data`; used by `--resume`).
    #[serde(default)]
    pub data_dir: Option<std::path::PathBuf>,
    /// Start from this model file's weights instead of a random initialisation (fine-tuning;
    /// set by `metakd train --init`). Its network must be the one `[model]` describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_model: Option<std::path::PathBuf>,
    pub seed: u64,
    pub compute: Compute,
    /// Network iterations in total.
    pub iterations: u64,
    /// Stage 1: the first iterations always see all four modalities; then random dropout.
    pub warmup_iterations: u64,
    pub model: ModelConfig,
    pub data: DataConfig,
    pub optim: OptimConfig,
    pub metakd: MetaKdConfig,
    #[serde(default)]
    pub lckd: LckdConfig,
    #[serde(default)]
    pub gmd: GmdConfig,
    /// Checkpoint every this many iterations (and at the end).
    pub checkpoint_every: u64,
    /// Patch-level validation Dice every this many iterations (and at the end).
    pub validate_every: u64,
    /// Validation patches per validation.
    pub validation_patches: usize,
    /// Without a `val` split in `cases.csv`, this fraction of the training cases (at least one
    /// when there are two or more) is held out for validation and MetaKD's meta step.
    #[serde(default = "default_validation_fraction")]
    pub validation_fraction: f64,
}

fn default_validation_fraction() -> f64 {
    1.0 / 6.0
}

/// Problems with a configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read the configuration: {source}")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a valid training configuration: {message}")]
    Parse {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("training configuration: {0}")]
    Invalid(String),
}

impl TrainConfig {
    /// The defaults for a method and a preset (`paper`: the released code's schedule,
    /// [`TrainConfig::released_schedule`]).
    pub fn new(method: Method, preset: Preset) -> TrainConfig {
        let tiny = preset == Preset::Tiny;
        let config = TrainConfig {
            method,
            data_dir: None,
            init_model: None,
            seed: 1,
            compute: Compute::Cpu,
            iterations: if tiny { 300 } else { 4000 },
            warmup_iterations: if tiny { 60 } else { 1000 },
            model: ModelConfig::preset(preset),
            data: DataConfig {
                patch: if tiny { [32; 3] } else { [48; 3] },
                batch_size: 2,
                foreground_fraction: 0.5,
                workers: 2,
                augment: true,
                cache: None,
            },
            optim: OptimConfig {
                kind: OptimizerKind::Adam,
                learning_rate: if tiny { 3e-3 } else { 1e-3 },
                poly_power: 0.9,
                momentum: 0.99,
                weight_decay: 0.0,
            },
            metakd: MetaKdConfig {
                kd_weight: 0.1,
                meta_every: if tiny { 20 } else { 100 },
                meta_steps: if tiny { 4 } else { 10 },
                meta_learning_rate: 1e-2,
                meta_weight_decay: 5e-4,
                meta_update: MetaUpdate::GateProxy,
            },
            lckd: LckdConfig {
                elect_every: if tiny { 50 } else { 500 },
                election_patches: if tiny { 4 } else { 8 },
                ..LckdConfig::default()
            },
            gmd: GmdConfig::default(),
            checkpoint_every: if tiny { 100 } else { 500 },
            validate_every: if tiny { 100 } else { 250 },
            validation_patches: if tiny { 4 } else { 8 },
            validation_fraction: default_validation_fraction(),
        };
        if preset == Preset::Paper {
            config.released_schedule()
        } else {
            config
        }
    }

    /// The released MetaKD code's training settings (`methods.md` §2.6): 80 × 160 × 160
    /// crops, batch 2, SGD with Nesterov momentum 0.99 at 1e-2 and poly decay, 80,000 warm-up
    /// iterations with every modality and 35,000 with random dropout, 20 meta steps every 100
    /// iterations.
    pub fn released_schedule(mut self) -> TrainConfig {
        self.iterations = 115_000;
        self.warmup_iterations = 80_000;
        self.data.patch = [80, 160, 160];
        self.data.batch_size = 2;
        self.optim = OptimConfig {
            kind: OptimizerKind::Sgd,
            learning_rate: 1e-2,
            poly_power: 0.9,
            momentum: 0.99,
            weight_decay: 0.0,
        };
        self.metakd.meta_every = 100;
        self.metakd.meta_steps = 20;
        self.checkpoint_every = 1000;
        self.validate_every = 1000;
        self
    }

    /// Reads a TOML configuration file.
    pub fn read(path: &Path) -> Result<TrainConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let config: TrainConfig = toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        config.check()?;
        Ok(config)
    }

    /// The configuration as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("training configuration serialises to TOML")
    }

    /// Checks the settings that would otherwise fail late.
    pub fn check(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        self.model
            .check()
            .map_err(|e| ConfigError::Invalid(e.to_string()))?;
        let multiple = self.model.size_multiple();
        if (0..3)
            .any(|a| self.data.patch[a] == 0 || !self.data.patch[a].is_multiple_of(multiple[a]))
        {
            return invalid(format!(
                "patch {:?} must be positive multiples of {multiple:?} (D, H, W) for this network",
                self.data.patch
            ));
        }
        if self.iterations == 0 {
            return invalid("iterations must be at least 1".into());
        }
        if self.data.batch_size == 0 {
            return invalid("batch_size must be at least 1".into());
        }
        if self.optim.learning_rate.is_nan() || self.optim.learning_rate <= 0.0 {
            return invalid("learning_rate must be positive".into());
        }
        if self.checkpoint_every == 0
            || self.validate_every == 0
            || self.metakd.meta_every == 0
            || self.lckd.elect_every == 0
        {
            return invalid(
                "checkpoint_every, validate_every, meta_every and elect_every must be at least 1"
                    .into(),
            );
        }
        if !(1..=15).contains(&self.gmd.subsets_per_step) {
            return invalid(format!(
                "gmd.subsets_per_step {} must be between 1 and 15",
                self.gmd.subsets_per_step
            ));
        }
        if !(self.validation_fraction > 0.0 && self.validation_fraction <= 0.5) {
            return invalid(format!(
                "validation_fraction {} must be above 0 and at most 0.5",
                self.validation_fraction
            ));
        }
        Ok(())
    }

    /// The augmentation the data pipeline applies.
    pub fn augment(&self) -> AugmentConfig {
        if self.data.augment {
            AugmentConfig::default()
        } else {
            AugmentConfig::none()
        }
    }
}
