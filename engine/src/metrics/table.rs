//! The 15-subset evaluation table the papers use: rows are availability subsets, columns Dice
//! and HD95 per region (WT, TC, ET), the last row the average over subsets; with every case's
//! metrics kept, written as Markdown, CSV and JSON. The runner that fills it lives beside
//! inference (`infer::eval`).

use super::RegionMetrics;
use crate::study::Availability;

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

impl SubsetRow {
    /// The row of `subset` from its per-case metrics (means over cases).
    pub fn new(subset: Availability, per_case: Vec<[RegionMetrics; 3]>) -> SubsetRow {
        let region_mean = |f: fn(&RegionMetrics) -> f64| -> [f64; 3] {
            [0, 1, 2].map(|r| mean(per_case.iter().map(|m| f(&m[r]))))
        };
        SubsetRow {
            subset: subset.label(),
            mask: subset.id(),
            dice: region_mean(|m| m.dice),
            hd95_mm: region_mean(|m| m.hd95_mm),
            per_case,
        }
    }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        f64::NAN
    } else {
        sum / n as f64
    }
}

impl EvalTable {
    /// The table of `model` on `cases` from its rows (averages over the rows).
    pub fn new(model: &str, cases: Vec<String>, rows: Vec<SubsetRow>) -> EvalTable {
        let average = |f: fn(&SubsetRow) -> [f64; 3]| -> [f64; 3] {
            [0, 1, 2].map(|r| mean(rows.iter().map(|row| f(row)[r])))
        };
        EvalTable {
            model: model.to_string(),
            cases,
            average_dice: average(|r| r.dice),
            average_hd95_mm: average(|r| r.hd95_mm),
            rows,
        }
    }

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
