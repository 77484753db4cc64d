//! The evaluation runner: every case of a split segmented with every chosen subset of its
//! modalities and scored per region against its label map, filling the 15-subset table
//! ([`crate::metrics::EvalTable`]).

use super::{InferError, Segmenter, SUBSETS_PER_PASS};
use crate::data::cases::{CaseList, Split};
use crate::data::prepared::PreparedSet;
use crate::metrics::{compare_regions, EvalTable, RegionMetrics, SubsetRow};
use crate::prepare::PreparedCase;
use crate::study::{Availability, Study};
use std::path::Path;

/// A case ready for evaluation: preprocessed, with its voxel spacing `[D, H, W]` in mm.
pub struct EvalCase {
    pub case: PreparedCase,
    pub spacing: [f64; 3],
}

/// The labelled cases of `split` in the data set folder `data` (the first `limit`), prepared
/// for `segmenter`, and the problems of cases the data set skipped. A split without cases, or
/// a case without a label map, is an error naming the folder.
pub fn load_cases(
    data: &Path,
    split: Split,
    limit: Option<usize>,
    segmenter: &Segmenter,
) -> Result<(Vec<EvalCase>, Vec<String>), String> {
    if crate::data::prepared::is_prepared(data) {
        return prepared_cases(data, split, limit);
    }
    let (list, problems) = CaseList::open(data).map_err(|e| e.to_string())?;
    let entries: Vec<_> = list
        .split(split)
        .take(limit.unwrap_or(usize::MAX))
        .cloned()
        .collect();
    if entries.is_empty() {
        return Err(format!(
            "{}: no cases in the {split} split; check cases.csv or choose another split",
            data.display()
        ));
    }
    let mut cases = Vec::new();
    for entry in entries {
        let study = Study::open_folder(&entry.dir).map_err(|e| e.to_string())?;
        if study.labels.is_none() {
            return Err(format!(
                "{}: no label map; evaluation needs ground truth for every case",
                entry.dir.display()
            ));
        }
        let case = segmenter.prepare(&study).map_err(|e| e.to_string())?;
        cases.push(EvalCase {
            spacing: case.spacing,
            case,
        });
    }
    Ok((cases, problems.iter().map(|p| p.to_string()).collect()))
}

/// The labelled cases of `split` of the prepared set in `dir` (the first `limit`), as they
/// were prepared (intensities to within the quantisation step of a direct preparation).
fn prepared_cases(
    dir: &Path,
    split: Split,
    limit: Option<usize>,
) -> Result<(Vec<EvalCase>, Vec<String>), String> {
    let set = PreparedSet::open(dir, None).map_err(|e| e.to_string())?;
    let mut cases = set.load(split).map_err(|e| e.to_string())?;
    cases.truncate(limit.unwrap_or(usize::MAX));
    if cases.is_empty() {
        return Err(format!(
            "{}: no prepared cases in the {split} split; choose another split",
            dir.display()
        ));
    }
    if let Some(case) = cases.iter().find(|c| c.regions.is_none()) {
        return Err(format!(
            "{}: prepared case {} has no label map; evaluation needs ground truth",
            dir.display(),
            case.name
        ));
    }
    let cases = cases
        .into_iter()
        .map(|case| EvalCase {
            spacing: case.spacing,
            case: std::sync::Arc::unwrap_or_clone(case),
        })
        .collect();
    let mut notes = set.manifest.problems.clone();
    notes.extend(set.notes);
    Ok((cases, notes))
}

/// One case's metrics under each evaluated subset (in the order evaluated), as `metakd eval
/// --out` keeps them in `cases/` so that an interrupted evaluation resumes; `settings` names
/// what produced them (model, subsets, inference settings), and a resumed evaluation uses
/// them only under the same settings.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CaseMetrics {
    pub case: String,
    pub settings: String,
    pub metrics: Vec<[RegionMetrics; 3]>,
}

/// Scores one case under every subset in `subsets`; `progress(done)` counts its
/// segmentations, returning `false` cancels.
pub fn evaluate_case(
    segmenter: &Segmenter,
    c: &EvalCase,
    subsets: &[Availability],
    progress: &mut dyn FnMut(usize) -> bool,
) -> Result<Vec<[RegionMetrics; 3]>, InferError> {
    let reference = c.case.region_targets().ok_or_else(|| InferError::Input {
        case: c.case.name.clone(),
        reason: "it has no label map; evaluation needs ground truth".into(),
    })?;
    let mut metrics = Vec::with_capacity(subsets.len());
    for group in subsets.chunks(SUBSETS_PER_PASS) {
        let results = segmenter.segment_prepared_subsets(&c.case, group, &mut |_, _| true)?;
        metrics.extend(
            results
                .iter()
                .map(|r| compare_regions(&r.regions, &reference, c.case.shape, c.spacing)),
        );
        if !progress(metrics.len()) {
            return Err(InferError::Cancelled);
        }
    }
    Ok(metrics)
}

/// The table of `cases`, each a name and its metrics under `subsets` (in that order).
pub fn table_of(
    model_name: &str,
    subsets: &[Availability],
    cases: Vec<(String, Vec<[RegionMetrics; 3]>)>,
) -> EvalTable {
    let mut per_subset = vec![Vec::with_capacity(cases.len()); subsets.len()];
    let mut names = Vec::with_capacity(cases.len());
    for (name, metrics) in cases {
        assert_eq!(
            metrics.len(),
            subsets.len(),
            "{name}: one result per subset"
        );
        for (row, m) in per_subset.iter_mut().zip(metrics) {
            row.push(m);
        }
        names.push(name);
    }
    let rows = subsets
        .iter()
        .zip(per_subset)
        .map(|(subset, per_case)| SubsetRow::new(*subset, per_case))
        .collect();
    EvalTable::new(model_name, names, rows)
}

/// Evaluates `segmenter` on `cases` (each with a label map) under every subset in `subsets`.
/// `progress(done, total)` counts segmentations; returning `false` cancels.
pub fn evaluate(
    segmenter: &Segmenter,
    model_name: &str,
    cases: &[EvalCase],
    subsets: &[Availability],
    progress: &mut dyn FnMut(usize, usize) -> bool,
) -> Result<EvalTable, InferError> {
    let total = cases.len() * subsets.len();
    let mut scored = Vec::with_capacity(cases.len());
    for (i, c) in cases.iter().enumerate() {
        let before = i * subsets.len();
        let metrics = evaluate_case(segmenter, c, subsets, &mut |done| {
            progress(before + done, total)
        })?;
        scored.push((c.case.name.clone(), metrics));
    }
    Ok(table_of(model_name, subsets, scored))
}
