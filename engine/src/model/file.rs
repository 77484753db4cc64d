//! Model files: one file holding what built the network and its weights.
//!
//! Layout: the 8-byte magic `METAKD\x00\x01`, a little-endian `u64` length, that many bytes of
//! JSON ([`ModelMeta`]: network configuration, training method, iterations, …), then burn's
//! burnpack bytes of the weights. A run folder holds its final model as `model.metakd`; the
//! bundled model lives in `assets/models/`.

use super::decode::guarded;
use super::{MetaKdNet, ModelConfig, ModelConfigError};
use crate::atomic_file;
use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 8] = b"METAKD\x00\x01";

/// File name of the final model inside a run folder.
pub const RUN_MODEL_FILE: &str = "model.metakd";

/// What a model file says about its network and how it was made.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ModelMeta {
    pub config: ModelConfig,
    /// Training strategy (`baseline`, `metakd`, …).
    pub method: String,
    /// Network iterations trained.
    pub iterations: u64,
    /// MetaKD's learned modality weights (FLAIR, T1, T1ce, T2), when trained with MetaKD.
    pub modality_weights: Option<[f32; 4]>,
    /// Patch size trained on (`[D, H, W]`), the natural sliding-window size.
    pub patch: [usize; 3],
}

/// The largest patch side a model file may name (voxels; the released code trains on
/// 80 × 160 × 160 crops): a window of it is allocated for every sliding-window step.
const MAX_PATCH: usize = 256;

/// Why a header cannot describe a usable model.
enum HeaderProblem {
    Config(ModelConfigError),
    Format(String),
}

impl ModelMeta {
    /// Checks the header before any network is built: a buildable configuration, a patch the
    /// network can take, finite modality weights, and at least as many weight bytes
    /// (`weight_bytes`) as the configuration's smallest possible network needs.
    fn check(&self, weight_bytes: usize) -> Result<(), HeaderProblem> {
        self.config.check().map_err(HeaderProblem::Config)?;
        let multiple = self.config.size_multiple();
        let patch_fits = self
            .patch
            .iter()
            .zip(multiple)
            .all(|(&p, m)| (1..=MAX_PATCH).contains(&p) && p.is_multiple_of(m));
        if !patch_fits {
            return Err(HeaderProblem::Format(format!(
                "its patch {:?} is not 1 to {MAX_PATCH} voxels and a multiple of {multiple:?} per axis",
                self.patch
            )));
        }
        if let Some(w) = self.modality_weights {
            if !w.iter().all(|v| v.is_finite()) {
                return Err(HeaderProblem::Format(format!(
                    "its modality weights {w:?} are not finite numbers"
                )));
            }
        }
        let needed = self.config.minimum_parameters().saturating_mul(4);
        if needed > weight_bytes as u64 {
            return Err(HeaderProblem::Format(format!(
                "its header describes a network of at least {} parameters ({needed} bytes), but only {weight_bytes} bytes of weights follow",
                self.config.minimum_parameters()
            )));
        }
        Ok(())
    }
}

/// A model file in memory.
#[derive(Debug, Clone)]
pub struct ModelFile {
    pub meta: ModelMeta,
    weights: Vec<u8>,
}

/// Problems reading, writing or loading a model file.
#[derive(Debug, thiserror::Error)]
pub enum ModelFileError {
    #[error("{path}: cannot read the model: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: cannot write the model: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a MetaKD model file ({reason}); give a model written by `metakd train` or its run folder")]
    Format { path: PathBuf, reason: String },
    #[error("{path}: {source}")]
    Config {
        path: PathBuf,
        source: ModelConfigError,
    },
    #[error("{path}: the weights do not fit the network it describes ({reason})")]
    Weights { path: PathBuf, reason: String },
}

impl ModelFile {
    /// Captures `net`'s weights with `meta`.
    pub fn from_net(net: &MetaKdNet, meta: ModelMeta) -> Result<ModelFile, ModelFileError> {
        let weights =
            net.clone()
                .into_record()
                .into_bytes()
                .map_err(|e| ModelFileError::Weights {
                    path: PathBuf::from("<memory>"),
                    reason: e.to_string(),
                })?;
        Ok(ModelFile {
            meta,
            weights: weights.to_vec(),
        })
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let json = serde_json::to_vec(&self.meta).expect("model metadata serialises");
        let mut out = Vec::with_capacity(16 + json.len() + self.weights.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(json.len() as u64).to_le_bytes());
        out.extend_from_slice(&json);
        out.extend_from_slice(&self.weights);
        out
    }

    /// Parses a model file's bytes; `path` names it in errors.
    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<ModelFile, ModelFileError> {
        let format = |reason: &str| ModelFileError::Format {
            path: path.to_path_buf(),
            reason: reason.to_string(),
        };
        if bytes.len() < 16 || &bytes[..8] != MAGIC {
            return Err(format("it does not start with the model file signature"));
        }
        let len = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
        let end = usize::try_from(len)
            .ok()
            .and_then(|l| l.checked_add(16))
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| format("its header is truncated"))?;
        let meta: ModelMeta = serde_json::from_slice(&bytes[16..end])
            .map_err(|e| format(&format!("its header is not valid: {e}")))?;
        let weights = &bytes[end..];
        meta.check(weights.len()).map_err(|e| match e {
            HeaderProblem::Config(source) => ModelFileError::Config {
                path: path.to_path_buf(),
                source,
            },
            HeaderProblem::Format(reason) => format(&reason),
        })?;
        Ok(ModelFile {
            meta,
            weights: weights.to_vec(),
        })
    }

    /// Writes the file atomically.
    pub fn write(&self, path: &Path) -> Result<(), ModelFileError> {
        atomic_file::write(path, &self.to_bytes()).map_err(|source| ModelFileError::Write {
            path: path.to_path_buf(),
            source,
        })
    }

    /// Reads a model file, or the final model of a run folder.
    pub fn read(path: &Path) -> Result<ModelFile, ModelFileError> {
        let file = model_file_in(path);
        let bytes = std::fs::read(&file).map_err(|source| ModelFileError::Read {
            path: file.clone(),
            source,
        })?;
        ModelFile::from_bytes(&file, &bytes)
    }

    /// Builds the network on `device` and loads the weights; `path` names the file in errors.
    pub fn load(&self, path: &Path, device: &Device) -> Result<MetaKdNet, ModelFileError> {
        let net =
            MetaKdNet::new(&self.meta.config, device).map_err(|source| ModelFileError::Config {
                path: path.to_path_buf(),
                source,
            })?;
        let weights = |reason: String| ModelFileError::Weights {
            path: path.to_path_buf(),
            reason,
        };
        guarded(|| {
            let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(self.weights.clone()))
                .map_err(|e| e.to_string())?;
            net.try_load_record(record).map_err(|e| e.to_string())
        })
        .map_err(weights)
    }
}

/// The model file `path` names: itself, or a run folder's final model.
pub fn model_file_in(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(RUN_MODEL_FILE)
    } else {
        path.to_path_buf()
    }
}

/// Where the bundled model is (`assets/models/metakd-desktop.metakd` in the source tree).
pub fn bundled_model_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/models/metakd-desktop.metakd")
}

/// Reads the bundled model and builds it on `device`.
pub fn load_bundled(device: &Device) -> Result<(ModelFile, MetaKdNet), ModelFileError> {
    let path = bundled_model_path();
    let file = ModelFile::read(&path)?;
    let net = file.load(&path, device)?;
    Ok((file, net))
}
