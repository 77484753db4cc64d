//! Training: strategies (baseline, MetaKD, LCKD, GMD) as one trait, losses, optimiser and schedule,
//! checkpoints and progress events.
//!
//! [`run::train`] is the loop shared by every strategy; it reports through a channel of
//! [`TrainEvent`]s (the CLI draws a progress bar from them, the viewer plots them) and writes
//! into the run folder: `run.toml` (every setting, with the seed), `metrics.jsonl` (one JSON
//! object per iteration and per validation), `checkpoint.bin` (written atomically every
//! `checkpoint_every` iterations, on stop and at the end) and the final `model.metakd`.

pub mod batch;
pub mod checkpoint;
pub mod config;
pub mod gmd;
pub mod lckd;
pub mod lookahead;
pub mod loss;
pub mod metakd;
pub mod metrics_log;
pub mod modality_weights;
pub mod run;
pub mod strategy;

pub use config::{Compute, Method, TrainConfig};
pub use metrics_log::{read_metrics, MetricsLog, StepMetrics, ValidationMetrics};
pub use run::{train, RunPaths, TrainEvent, TrainOutcome};

use crate::data::error::DataError;
use crate::model::ModelFileError;

/// Why a run could not start or go on.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Model(#[from] ModelFileError),
    #[error("{path}: {message}")]
    Io {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("checkpoint: {0}")]
    Checkpoint(String),
    #[error("{0}")]
    Device(String),
}
