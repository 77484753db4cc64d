//! The 15-subset evaluation: every case of a split segmented with every non-empty subset of
//! the four modalities, metrics per region against its label map, and the table the papers
//! use (rows: subsets; columns: Dice and HD95 per region; last row: the average over subsets)
//! as Markdown, CSV and JSON.

use super::{compare_regions, RegionMetrics};
use crate::data::cases::{CaseList, Split};
use crate::data::preprocess::PreparedCase;
use crate::infer::{InferError, Segmenter};
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
        let [sx, sy, sz] = study.reference().voxel_sizes();
        let case = segmenter.prepare(&study).map_err(|e| e.to_string())?;
        cases.push(EvalCase {
            case,
            spacing: [sz, sy, sx],
        });
    }
    Ok((cases, problems.iter().map(|p| p.to_string()).collect()))
}

/// One row of the table: a subset, its metrics per case and their means.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SubsetRow {
    /// e.g. `FLAIR+T1ce`.
    pub subset: String,
    pub mask: u8,
    /// Mean over cases (WT, TC, ET).
    pub dice: [f64; 3],
    pub hd95_mm: [f64; 3],
    /// Per case (in [`EvalTable::cases`] order), per region.
    pub per_case: Vec<[RegionMetrics; 3]>,
}

/// The whole evaluation.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct EvalTable {
    pub model: String,
    pub cases: Vec<String>,
    pub rows: Vec<SubsetRow>,
    /// Means over the rows.
    pub average_dice: [f64; 3],
    pub average_hd95_mm: [f64; 3],
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        f64::NAN
    } else {
        sum / n as f64
    }
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
    let mut done = 0;
    let mut rows = Vec::new();
    for subset in subsets {
        let mut per_case = Vec::new();
        for c in cases {
            let reference = c.case.region_targets().ok_or_else(|| InferError::Input {
                case: c.case.name.clone(),
                reason: "it has no label map; evaluation needs ground truth".into(),
            })?;
            let result = segmenter.segment_prepared(&c.case, *subset, &mut |_, _| true)?;
            per_case.push(compare_regions(
                &result.regions,
                &reference,
                c.case.shape,
                c.spacing,
            ));
            done += 1;
            if !progress(done, total) {
                return Err(InferError::Cancelled);
            }
        }
        let region_mean = |f: fn(&RegionMetrics) -> f64| -> [f64; 3] {
            [0, 1, 2].map(|r| mean(per_case.iter().map(|m| f(&m[r]))))
        };
        rows.push(SubsetRow {
            subset: subset.label(),
            mask: subset.0,
            dice: region_mean(|m| m.dice),
            hd95_mm: region_mean(|m| m.hd95_mm),
            per_case,
        });
    }
    let average = |f: fn(&SubsetRow) -> [f64; 3]| -> [f64; 3] {
        [0, 1, 2].map(|r| mean(rows.iter().map(|row| f(row)[r])))
    };
    Ok(EvalTable {
        model: model_name.to_string(),
        cases: cases.iter().map(|c| c.case.name.clone()).collect(),
        average_dice: average(|r| r.dice),
        average_hd95_mm: average(|r| r.hd95_mm),
        rows,
    })
}

impl EvalTable {
    /// The table as Markdown (Dice in %, HD95 in mm).
    pub fn to_markdown(&self) -> String {
        let mut out = String::from(
            "| Modalities | Dice WT | Dice TC | Dice ET | HD95 WT | HD95 TC | HD95 ET |\n|---|---:|---:|---:|---:|---:|---:|\n",
        );
        let line = |name: &str, dice: &[f64; 3], hd: &[f64; 3]| {
            format!(
                "| {name} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} | {:.2} |\n",
                dice[0] * 100.0,
                dice[1] * 100.0,
                dice[2] * 100.0,
                hd[0],
                hd[1],
                hd[2]
            )
        };
        for row in &self.rows {
            out += &line(&row.subset, &row.dice, &row.hd95_mm);
        }
        out += &line("**Average**", &self.average_dice, &self.average_hd95_mm);
        out
    }

    /// The table as CSV (Dice as fractions, HD95 in mm).
    pub fn to_csv(&self) -> String {
        let mut out =
            String::from("modalities,dice_wt,dice_tc,dice_et,hd95_wt_mm,hd95_tc_mm,hd95_et_mm\n");
        let line = |name: &str, d: &[f64; 3], h: &[f64; 3]| {
            format!(
                "{name},{:.4},{:.4},{:.4},{:.3},{:.3},{:.3}\n",
                d[0], d[1], d[2], h[0], h[1], h[2]
            )
        };
        for row in &self.rows {
            out += &line(&row.subset, &row.dice, &row.hd95_mm);
        }
        out += &line("average", &self.average_dice, &self.average_hd95_mm);
        out
    }
}
