//! Loading a dataset for training: every case of a list is opened, checked against what
//! training needs, preprocessed once and kept in memory (`Arc`), with per-case problems
//! collected into a [`DatasetReport`].
//!
//! Each case goes through: file discovery → the modalities and labels training needs are all
//! there → the files are read and share one grid → preprocessing. A failure at any step is a
//! [`CaseProblem`] naming the case, the offending file (or the case folder) and what to do.
//! All cases are checked before deciding, so the report always lists every problem; then
//! [`OnBadCase::Skip`] goes on with the good cases and [`OnBadCase::Stop`] returns
//! [`DataError::BadCases`] with the full report. With no usable case at all loading fails in
//! either mode.

use super::cases::{CaseEntry, CaseList, Split};
use super::error::{CaseProblem, DataError, DatasetReport, OnBadCase};
use crate::prepare::{prepare, PrepareError, PreparedCase, PreprocessConfig};
use crate::study::{discover_case_files, Availability, Modality, Study, StudyError};
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What a case must have to be used for training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Requirements {
    /// Modalities every case must have (e.g. all four for full-modality training; the
    /// missing-modality simulation then drops some of them at random).
    pub modalities: Availability,
    /// Whether every case needs a label map.
    pub labels: bool,
}

impl Default for Requirements {
    /// All four modalities and a label map.
    fn default() -> Self {
        Requirements {
            modalities: Availability::FULL,
            labels: true,
        }
    }
}

/// The preprocessed cases of a dataset (or of one split) and the loading report.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub cases: Vec<Arc<PreparedCase>>,
    pub report: DatasetReport,
}

/// Loads the cases of `split` from `list` (see the module docs). Problems a folder scan found
/// before (`earlier`, e.g. from [`CaseList::open`]) are merged into the report.
pub fn load_split(
    list: &CaseList,
    split: Split,
    earlier: &[CaseProblem],
    needs: Requirements,
    prep: &PreprocessConfig,
    on_bad: OnBadCase,
) -> Result<Dataset, DataError> {
    let entries: Vec<CaseEntry> = list.split(split).cloned().collect();
    if entries.is_empty() && earlier.is_empty() {
        return Err(DataError::NoCases {
            dir: list.root.clone(),
        });
    }
    load_entries_with(&entries, earlier, on_bad, |e| load_case(e, needs, prep))
}

/// Loads the given case folders (see the module docs).
pub fn load_cases(
    entries: &[CaseEntry],
    needs: Requirements,
    prep: &PreprocessConfig,
    on_bad: OnBadCase,
) -> Result<Dataset, DataError> {
    load_entries_with(entries, &[], on_bad, |e| load_case(e, needs, prep))
}

/// Opens, checks and preprocesses one case folder.
pub fn load_case(
    entry: &CaseEntry,
    needs: Requirements,
    prep: &PreprocessConfig,
) -> Result<PreparedCase, CaseProblem> {
    let problem = |path: PathBuf, message: String| CaseProblem {
        case: entry.name.clone(),
        path,
        message,
    };
    let from_study = |e: StudyError| problem(study_error_path(&e, &entry.dir), e.to_string());
    if !entry.dir.exists() {
        return Err(problem(
            entry.dir.clone(),
            "the case folder does not exist; fix the case list or restore the folder".into(),
        ));
    }
    let files = discover_case_files(&entry.dir).map_err(from_study)?;
    let missing: Vec<&str> = Modality::ALL
        .into_iter()
        .filter(|m| needs.modalities.contains(*m) && !files.has(*m))
        .map(Modality::name)
        .collect();
    let no_labels = needs.labels && files.labels.is_none();
    if !missing.is_empty() || no_labels {
        let mut what = Vec::new();
        if !missing.is_empty() {
            what.push(format!(
                "no {} file (training needs {})",
                missing.join(", "),
                needs.modalities.label()
            ));
        }
        if no_labels {
            what.push("no label map (<case>_seg.nii.gz); training needs ground truth".into());
        }
        return Err(problem(
            entry.dir.clone(),
            format!(
                "{}; add the files or choose a set-up that does not need them",
                what.join("; ")
            ),
        ));
    }
    let study = Study::open_files(&files).map_err(from_study)?;
    prepare_checked(&study, &entry.dir, needs, prep)
}

/// Preprocesses an in-memory study after checking it against `needs`; `dir` names the case in
/// problems.
pub fn prepare_checked(
    study: &Study,
    dir: &Path,
    needs: Requirements,
    prep: &PreprocessConfig,
) -> Result<PreparedCase, CaseProblem> {
    let problem = |message: String| CaseProblem {
        case: study.name.clone(),
        path: dir.to_path_buf(),
        message,
    };
    let lacking = needs.modalities.difference(study.available());
    if !lacking.is_empty() {
        return Err(problem(format!(
            "no {} image (training needs {})",
            lacking.label(),
            needs.modalities.label()
        )));
    }
    if needs.labels && study.labels.is_none() {
        return Err(problem("no label map; training needs ground truth".into()));
    }
    prepare(study, prep).map_err(|e| match &e {
        PrepareError::Grid { source, .. } => CaseProblem {
            case: study.name.clone(),
            path: study_error_path(source, dir),
            message: e.reason(),
        },
        _ => problem(e.reason()),
    })
}

/// Runs `load` on every entry (in parallel), keeps list order, and applies `on_bad`.
pub fn load_entries_with<F>(
    entries: &[CaseEntry],
    earlier: &[CaseProblem],
    on_bad: OnBadCase,
    load: F,
) -> Result<Dataset, DataError>
where
    F: Fn(&CaseEntry) -> Result<PreparedCase, CaseProblem> + Sync,
{
    let results: Vec<Result<PreparedCase, CaseProblem>> = entries.par_iter().map(&load).collect();
    let mut report = DatasetReport {
        loaded: Vec::new(),
        problems: earlier.to_vec(),
    };
    let mut cases = Vec::new();
    for r in results {
        match r {
            Ok(case) => {
                report.loaded.push(case.name.clone());
                cases.push(Arc::new(case));
            }
            Err(p) => report.problems.push(p),
        }
    }
    if cases.is_empty() || (on_bad == OnBadCase::Stop && !report.is_clean()) {
        return Err(DataError::BadCases(report));
    }
    Ok(Dataset { cases, report })
}

/// The file a study error is about, or the case folder.
fn study_error_path(e: &StudyError, dir: &Path) -> PathBuf {
    match e {
        StudyError::Volume(v) => v.path().to_path_buf(),
        StudyError::GridMismatch { path, .. } | StudyError::BadLabels { path, .. } => path.clone(),
        StudyError::Ambiguous { second, .. } => second.clone(),
        _ => dir.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prepare::tests::study_from;

    fn entry(name: &str) -> CaseEntry {
        CaseEntry {
            name: name.into(),
            dir: format!("/data/{name}").into(),
            split: Split::Train,
        }
    }

    /// In-memory cases: `good*` full, `not2` without T2, `nolabel` without labels, `empty` all
    /// zeros, `grid` with a T1ce on another grid.
    fn fake_load(e: &CaseEntry) -> Result<PreparedCase, CaseProblem> {
        let lab: &dyn Fn(usize, usize, usize) -> f32 = &|i, _, _| if i == 3 { 2.0 } else { 0.0 };
        let mut avail = Availability::FULL;
        let mut labels = Some(lab);
        let mut value = 1.0;
        match e.name.as_str() {
            "not2" => avail = avail.without(Modality::T2),
            "nolabel" => labels = None,
            "empty" => value = 0.0,
            _ => {}
        }
        let mut study = study_from(
            [8, 8, 8],
            avail,
            |c, i, _, _| value * (1 + c + i) as f32,
            labels,
        );
        study.name = e.name.clone();
        if e.name == "grid" {
            study.modalities[2] = Some(crate::prepare::tests::volume([8, 8, 9], vec![1.0; 576]));
        }
        prepare_checked(
            &study,
            &e.dir,
            Requirements::default(),
            &PreprocessConfig::default(),
        )
    }

    #[test]
    fn collects_every_problem_then_skips_or_stops() {
        let entries: Vec<CaseEntry> = ["good1", "not2", "nolabel", "good2", "empty", "grid"]
            .into_iter()
            .map(entry)
            .collect();
        let earlier = [CaseProblem {
            case: "dup".into(),
            path: "/data/dup".into(),
            message: "two files claim FLAIR".into(),
        }];
        let ds = load_entries_with(&entries, &earlier, OnBadCase::Skip, fake_load).unwrap();
        assert_eq!(ds.report.loaded, ["good1", "good2"]);
        assert_eq!(ds.cases.len(), 2);
        let names: Vec<&str> = ds.report.problems.iter().map(|p| p.case.as_str()).collect();
        assert_eq!(names, ["dup", "not2", "nolabel", "empty", "grid"]);
        let text = ds.report.to_string();
        for needle in [
            "2 of 7 cases loaded; 5 with problems",
            "no T2 image (training needs FLAIR+T1+T1ce+T2)",
            "no label map",
            "zero everywhere",
            "grid does not match",
            "two files claim FLAIR",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
        }
        // Stop: the same full list, as an error.
        let err = load_entries_with(&entries, &earlier, OnBadCase::Stop, fake_load).unwrap_err();
        let DataError::BadCases(report) = &err else {
            panic!("{err}");
        };
        assert_eq!(report.problems.len(), 5);
        assert_eq!(report.loaded.len(), 2);
        // Nothing usable: an error in either mode.
        let bad = [entry("empty")];
        assert!(load_entries_with(&bad, &[], OnBadCase::Skip, fake_load).is_err());
        // Everything fine under Stop: loads.
        let good = [entry("good1"), entry("good2")];
        let ds = load_entries_with(&good, &[], OnBadCase::Stop, fake_load).unwrap();
        assert!(ds.report.is_clean());
    }

    #[test]
    fn reports_folder_level_problems_of_a_real_dataset() {
        // Case folders on disk: one missing its T2 file and labels, one whose files are not
        // NIfTI, one listed but absent, one with two FLAIR files. All four are reported.
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        let write = |case: &str, files: &[&str]| {
            std::fs::create_dir_all(root.join(case)).unwrap();
            for f in files {
                std::fs::write(root.join(case).join(f), b"not a nifti file").unwrap();
            }
        };
        write("c1", &["c1_flair.nii.gz", "c1_t1.nii.gz", "c1_t1ce.nii.gz"]);
        write(
            "c2",
            &[
                "c2_flair.nii.gz",
                "c2_t1.nii.gz",
                "c2_t1ce.nii.gz",
                "c2_t2.nii.gz",
                "c2_seg.nii.gz",
            ],
        );
        write("c4", &["c4_flair.nii.gz", "c4_flair.nii", "c4_t1.nii.gz"]);
        std::fs::write(
            root.join("cases.csv"),
            "case,split\nc1,train\nc2,train\nc3,train\nc4,train\nc5,val\n",
        )
        .unwrap();
        let (list, earlier) = CaseList::open(root).unwrap();
        let prep = PreprocessConfig::default();
        let err = load_split(
            &list,
            Split::Train,
            &earlier,
            Requirements::default(),
            &prep,
            OnBadCase::Skip,
        )
        .unwrap_err();
        let DataError::BadCases(report) = &err else {
            panic!("{err}");
        };
        assert!(report.loaded.is_empty());
        let got: Vec<(&str, String)> = report
            .problems
            .iter()
            .map(|p| (p.case.as_str(), p.path.display().to_string()))
            .collect();
        assert_eq!(got.len(), 4, "{report}");
        let text = err.to_string();
        assert!(
            text.contains("no T2 file") && text.contains("no label map"),
            "{text}"
        );
        // c2's files are unreadable: the problem names one of its files.
        assert!(got[1].1.contains("c2_"), "{got:?}");
        assert!(text.contains("does not exist"), "{text}");
        assert!(text.contains("two files claim FLAIR"), "{text}");
        // Requiring only FLAIR and no labels: c1 is no longer missing anything (but is still
        // unreadable, so it stays in the report with another message).
        let needs = Requirements {
            modalities: Availability::from_modalities([Modality::Flair]),
            labels: false,
        };
        let err =
            load_split(&list, Split::Train, &earlier, needs, &prep, OnBadCase::Stop).unwrap_err();
        assert!(!err.to_string().contains("no T2 file"), "{err}");
        // A split without cases.
        assert!(load_split(&list, Split::Test, &[], needs, &prep, OnBadCase::Skip).is_err());
    }
}
