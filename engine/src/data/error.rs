//! Errors of the training data pipeline, and the per-case problem report.
//!
//! A dataset is checked case by case: every case that cannot be used (a folder without the
//! modalities training needs, an unreadable file, volumes on different grids, an empty image) is
//! recorded as a [`CaseProblem`]. The user chooses with [`OnBadCase`] whether such cases are
//! skipped (the run goes on with the rest) or the run stops; either way the [`DatasetReport`]
//! lists every problem, not only the first one.

use crate::prepare::PrepareError;
use std::fmt;
use std::path::PathBuf;

/// Errors of case lists, preprocessing and the batch loader. Each names the folder or file and
/// says what to do.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{dir}: no training cases found; expected one sub-folder per case holding BraTS files such as <case>/<case>_flair.nii.gz, or a cases.csv with columns case,split")]
    NoCases { dir: PathBuf },
    #[error("{dir}: cannot list the folder: {source}")]
    Folder {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: cannot read the case list: {source}")]
    CaseListIo {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: the case list is not valid; fix these lines:\n{}", .problems.join("\n"))]
    CaseList {
        path: PathBuf,
        problems: Vec<String>,
    },
    #[error("split fractions {train}/{val}/{test} are not valid: {reason}")]
    BadFractions {
        train: f64,
        val: f64,
        test: f64,
        reason: String,
    },
    #[error(transparent)]
    Prepare(#[from] PrepareError),
    #[error("{0}\nFix or remove the cases above, or choose to skip bad cases")]
    BadCases(DatasetReport),
    #[error("invalid {what}: {reason}")]
    Config { what: &'static str, reason: String },
    #[error("the batch loader failed: {0}")]
    Loader(String),
    #[error(transparent)]
    CaseFile(#[from] crate::prepare::CaseFileError),
    #[error("{path}: {source}; check the free disk space and the folder's permissions, or choose another folder")]
    PreparedIo {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{dir} has no manifest.json: its preparation did not finish; run `metakd prepare --data SOURCE --out {dir}` again (finished cases are kept)")]
    PreparedUnfinished { dir: PathBuf },
    #[error("{path}: {problem}")]
    PreparedManifest { path: PathBuf, problem: String },
    #[error("{dir} was prepared with other settings than this run needs; prepare it again with `metakd prepare --data {source_dir} --out DIR`, or train from the raw folder {source_dir}")]
    PreparedSettings { dir: PathBuf, source_dir: PathBuf },
    #[error("{dir} no longer matches its sources:\n{}\nrun `metakd prepare --data {source_dir} --out {dir}` again: only these cases are redone", .problems.join("\n"))]
    PreparedStale {
        dir: PathBuf,
        source_dir: PathBuf,
        problems: Vec<String>,
    },
}

/// What to do with a case that cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub enum OnBadCase {
    /// Leave the case out, note it in the report and go on with the others.
    #[default]
    Skip,
    /// Check every case, then stop with an error that lists all problems.
    Stop,
}

/// One case that could not be used.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CaseProblem {
    /// Case name.
    pub case: String,
    /// The case folder or the offending file.
    pub path: PathBuf,
    /// What is wrong and what to do, in one line.
    pub message: String,
}

impl fmt::Display for CaseProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({}): {}",
            self.case,
            self.path.display(),
            self.message
        )
    }
}

/// The outcome of loading a dataset: the cases that loaded and every problem found.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct DatasetReport {
    /// Names of the cases that loaded, in case-list order.
    pub loaded: Vec<String>,
    /// Every case that could not be used, in case-list order.
    pub problems: Vec<CaseProblem>,
}

impl DatasetReport {
    /// Whether every case loaded.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

impl fmt::Display for DatasetReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.loaded.len() + self.problems.len();
        write!(f, "{} of {} cases loaded", self.loaded.len(), total)?;
        if self.problems.is_empty() {
            return Ok(());
        }
        write!(f, "; {} with problems:", self.problems.len())?;
        for p in &self.problems {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_lists_every_problem() {
        let report = DatasetReport {
            loaded: vec!["a".into()],
            problems: vec![
                CaseProblem {
                    case: "b".into(),
                    path: "/d/b".into(),
                    message: "no T2 file".into(),
                },
                CaseProblem {
                    case: "c".into(),
                    path: "/d/c/c_t1.nii.gz".into(),
                    message: "truncated".into(),
                },
            ],
        };
        let text = report.to_string();
        assert!(
            text.starts_with("1 of 3 cases loaded; 2 with problems:"),
            "{text}"
        );
        assert!(text.contains("b (/d/b): no T2 file"), "{text}");
        assert!(text.contains("c (/d/c/c_t1.nii.gz): truncated"), "{text}");
        let err = DataError::BadCases(report);
        assert!(err.to_string().contains("no T2 file") && err.to_string().contains("truncated"));
    }
}
