//! Why a study cannot be prepared: the wording fits every caller (segmenting in the viewer,
//! `metakd segment`, evaluation and training), names the case or file and says what to do.

use crate::study::StudyError;
use std::path::PathBuf;

/// A study that cannot be cropped and normalised, or settings that are not valid.
#[derive(Debug, thiserror::Error)]
pub enum PrepareError {
    #[error("case {case}: it has no MRI image; open at least one of FLAIR, T1, T1ce, T2")]
    NoModality { case: String },
    #[error(
        "case {case}: {file} has {frames} frames; open a 3D image (one frame) for each sequence"
    )]
    NotThreeD {
        case: String,
        file: String,
        frames: usize,
    },
    #[error("case {case}: {source}")]
    Grid {
        case: String,
        #[source]
        source: StudyError,
    },
    #[error("case {case}: {file} holds {values} values for a {shape:?} grid; the file is damaged, re-export it")]
    Size {
        case: String,
        file: String,
        values: usize,
        shape: [usize; 3],
    },
    #[error("case {case}: every modality is zero everywhere; there is no brain in these images (check that the right files were opened)")]
    NoBrain { case: String },
    #[error("invalid {what}: {reason}")]
    Config { what: &'static str, reason: String },
}

impl PrepareError {
    /// The message without the leading `case NAME:` (for reports that name the case already).
    pub fn reason(&self) -> String {
        match self {
            PrepareError::Grid { source, .. } => source.to_string(),
            other => {
                let text = other.to_string();
                match other.case() {
                    Some(case) => text
                        .strip_prefix(&format!("case {case}: "))
                        .map_or(text.clone(), str::to_string),
                    None => text,
                }
            }
        }
    }

    /// The case the error is about (none for a settings error).
    pub fn case(&self) -> Option<&str> {
        match self {
            PrepareError::NoModality { case }
            | PrepareError::NotThreeD { case, .. }
            | PrepareError::Grid { case, .. }
            | PrepareError::Size { case, .. }
            | PrepareError::NoBrain { case } => Some(case),
            PrepareError::Config { .. } => None,
        }
    }
}

/// A prepared case file (`.mkdp`, see `prepare::case_file`) that cannot be written or read.
/// Each message names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum CaseFileError {
    #[error(
        "{path}: cannot open the prepared case: {source}; run `metakd prepare` again to rebuild it"
    )]
    Open {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: cannot read the prepared case: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: cannot write the prepared case: {source}; check the free disk space and the folder's write permission, or choose another output folder (nothing was left under this name)")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: not a prepared case file (it lacks the MKDPREP1 mark); point at a folder made by `metakd prepare`")]
    NotPrepared { path: PathBuf },
    #[error("{path}: prepared with format version {found}, this metakd reads version {}; run `metakd prepare` again on the source data", super::case_file::FORMAT_VERSION)]
    Version { path: PathBuf, found: String },
    #[error("{path}: the prepared case is damaged ({problem}); delete it and run `metakd prepare` again, which redoes only this case")]
    Damaged { path: PathBuf, problem: String },
}
