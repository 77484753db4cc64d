//! Errors of opening a study: each names the file or folder and what to do about it.

use crate::volume::VolumeError;
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    #[error(transparent)]
    Volume(#[from] VolumeError),
    #[error("{dir}: cannot list the folder: {source}")]
    Folder {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("{dir}: no MRI files found; expected BraTS names such as <case>_flair.nii.gz, <case>_t1ce.nii.gz or <case>-t2f.nii.gz")]
    NoFiles { dir: PathBuf },
    #[error("{dir}: two files claim {role}: {first} and {second}; keep one or open the files explicitly")]
    Ambiguous {
        dir: PathBuf,
        role: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("{path}: grid does not match {reference}: {reason}")]
    GridMismatch {
        path: PathBuf,
        reference: PathBuf,
        reason: String,
    },
    #[error("{path}: not a label map: {reason}")]
    BadLabels { path: PathBuf, reason: String },
    #[error("no files were given: choose at least one modality or a label map")]
    Empty,
}
