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
    #[error("{dir}: {first} and {second} follow different naming schemes (BraTS 2018–2021 `_flair/_t1/_t1ce/_t2` against BraTS 2023 `-t2f/-t1n/-t1c/-t2w`); rename one set so the case uses one scheme, or open the files explicitly")]
    MixedLayouts {
        dir: PathBuf,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("{path}: has {frames} frame(s); an MSD Task01 image has 4 (FLAIR, T1w, t1gd, T2w). Give the 4-frame image from imagesTr, or save each sequence as its own file with a BraTS name (<case>_flair.nii.gz …)")]
    Frames { path: PathBuf, frames: usize },
    #[error("{path}: holds the value 4, which the {layout} label convention never uses (its enhancing tumour is 3); the label map seems to come from a BraTS 2018–2021 case: give that case's files with their own names, or relabel 4 → 3")]
    MixedConventions { path: PathBuf, layout: &'static str },
}
