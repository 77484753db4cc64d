//! Errors of reading and writing NIfTI files. Every variant names the file and says what is
//! wrong in words a user can act on.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error("{path}: cannot read the file: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a NIfTI file: {reason}")]
    NotNifti { path: PathBuf, reason: String },
    #[error("{path}: invalid NIfTI header: {reason}")]
    BadHeader { path: PathBuf, reason: String },
    #[error("{path}: unsupported data: {reason}")]
    Unsupported { path: PathBuf, reason: String },
    #[error("{path}: the file is truncated: {reason}")]
    Truncated { path: PathBuf, reason: String },
    #[error("{path}: the compressed data is corrupt: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("{path}: {companion} is missing: a .hdr/.img pair needs both files side by side")]
    MissingCompanion { path: PathBuf, companion: PathBuf },
    #[error("{path}: cannot write the file: {reason}")]
    Write { path: PathBuf, reason: String },
}

impl VolumeError {
    /// The file the error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            VolumeError::Io { path, .. }
            | VolumeError::NotNifti { path, .. }
            | VolumeError::BadHeader { path, .. }
            | VolumeError::Unsupported { path, .. }
            | VolumeError::Truncated { path, .. }
            | VolumeError::Corrupt { path, .. }
            | VolumeError::MissingCompanion { path, .. }
            | VolumeError::Write { path, .. } => path,
        }
    }
}
