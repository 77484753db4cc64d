//! The comparison experiment: [`runner`] trains and evaluates every arm ([`arms`]: a method,
//! and MetaKD's meta step) and seed and
//! writes the results; [`reuse`] decides whether an existing run may stand in it; [`logs`]
//! reads what the runs' metrics say about each method. This file
//! summarises the results: each method's 15-subset evaluation tables (one per
//! seed) summarised as mean ± standard deviation over seeds, per subset and region and on
//! average, and by number of available modalities; written as Markdown, CSV and JSON, with a
//! PNG chart of average Dice per method per number of modalities (`chart`); [`stats`] tests
//! every pair of methods (bootstrap intervals, Wilcoxon with Holm's correction).
//!
//! Standard deviations are the sample standard deviation over seeds (0 with one seed).

pub mod arms;
mod chart;
pub mod logs;
pub mod reuse;
pub mod runner;
pub mod stats;

pub use arms::Arm;
pub use chart::write_chart;
pub use runner::{run, ExperimentError, ExperimentOutcome, ExperimentPlan, Reporter};

use crate::metrics::EvalTable;
use crate::study::Availability;

/// A mean and the sample standard deviation of a few values.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct MeanStd {
    pub mean: f64,
    pub std: f64,
}

impl MeanStd {
    pub fn of(values: &[f64]) -> MeanStd {
        let n = values.len() as f64;
        if values.is_empty() {
            return MeanStd {
                mean: f64::NAN,
                std: f64::NAN,
            };
        }
        let mean = values.iter().sum::<f64>() / n;
        let std = if values.len() < 2 {
            0.0
        } else {
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
        };
        MeanStd { mean, std }
    }

    /// `88.9 ± 1.2` with values scaled by `scale` (100 for Dice in %).
    pub fn show(self, scale: f64, decimals: usize) -> String {
        format!(
            "{:.*} ± {:.*}",
            decimals,
            self.mean * scale,
            decimals,
            self.std * scale
        )
    }
}

/// One subset of one method over seeds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SubsetSummary {
    pub subset: String,
    pub mask: u8,
    /// WT, TC, ET.
    pub dice: [MeanStd; 3],
    pub hd95_mm: [MeanStd; 3],
}

/// One method over seeds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MethodSummary {
    pub method: String,
    pub seeds: usize,
    pub rows: Vec<SubsetSummary>,
    /// Mean over the 15 subsets, then over seeds.
    pub average_dice: [MeanStd; 3],
    pub average_hd95_mm: [MeanStd; 3],
    /// Dice averaged over regions and over the subsets with 1, 2, 3 and 4 modalities.
    pub dice_by_count: [MeanStd; 4],
}

/// Summarises the tables of one method (one per seed, same subsets in the same order).
pub fn summarise(method: &str, tables: &[EvalTable]) -> MethodSummary {
    let first = tables.first().map_or(&[][..], |t| &t.rows[..]);
    let rows = first
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let over = |f: &dyn Fn(&EvalTable) -> f64| -> MeanStd {
                MeanStd::of(&tables.iter().map(f).collect::<Vec<_>>())
            };
            SubsetSummary {
                subset: row.subset.clone(),
                mask: row.mask,
                dice: [0, 1, 2].map(|r| over(&|t| t.rows[i].dice[r])),
                hd95_mm: [0, 1, 2].map(|r| over(&|t| t.rows[i].hd95_mm[r])),
            }
        })
        .collect();
    let over = |f: &dyn Fn(&EvalTable) -> f64| -> MeanStd {
        MeanStd::of(&tables.iter().map(f).collect::<Vec<_>>())
    };
    let by_count = |t: &EvalTable, k: usize| -> f64 {
        let values: Vec<f64> = t
            .rows
            .iter()
            .filter(|r| Availability::from_id(r.mask).count() == k)
            .map(|r| r.dice.iter().sum::<f64>() / 3.0)
            .collect();
        values.iter().sum::<f64>() / values.len().max(1) as f64
    };
    MethodSummary {
        method: method.to_string(),
        seeds: tables.len(),
        rows,
        average_dice: [0, 1, 2].map(|r| over(&|t| t.average_dice[r])),
        average_hd95_mm: [0, 1, 2].map(|r| over(&|t| t.average_hd95_mm[r])),
        dice_by_count: [1, 2, 3, 4].map(|k| over(&|t| by_count(t, k))),
    }
}

/// Every method's summary, with the command that produced them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Comparison {
    pub command: String,
    pub methods: Vec<MethodSummary>,
}

const REGIONS: [&str; 3] = ["WT", "TC", "ET"];

impl Comparison {
    /// Two tables (Dice in %, HD95 in mm): rows are subsets and the average, columns are the
    /// methods' regions; then Dice by number of available modalities.
    pub fn to_markdown(&self) -> String {
        let mut out = format!("Command: `{}`\n\n", self.command);
        for (title, scale, decimals, dice) in [
            ("Dice (%), mean ± std over seeds", 100.0, 1, true),
            ("HD95 (mm), mean ± std over seeds", 1.0, 1, false),
        ] {
            out.push_str(&format!("### {title}\n\n| Modalities |"));
            for m in &self.methods {
                for r in REGIONS {
                    out.push_str(&format!(" {} {r} |", m.method));
                }
            }
            out.push_str("\n|---|");
            out.push_str(&"---:|".repeat(3 * self.methods.len()));
            out.push('\n');
            let rows = self.methods.first().map_or(0, |m| m.rows.len());
            for i in 0..=rows {
                let label = if i == rows {
                    "**average**".to_string()
                } else {
                    self.methods[0].rows[i].subset.clone()
                };
                out.push_str(&format!("| {label} |"));
                for m in &self.methods {
                    let values = match (i == rows, dice) {
                        (true, true) => m.average_dice,
                        (true, false) => m.average_hd95_mm,
                        (false, true) => m.rows[i].dice,
                        (false, false) => m.rows[i].hd95_mm,
                    };
                    for v in values {
                        out.push_str(&format!(" {} |", v.show(scale, decimals)));
                    }
                }
                out.push('\n');
            }
            out.push('\n');
        }
        out.push_str("### Dice (%) averaged over regions, by number of available modalities\n\n");
        out.push_str("| Method | 1 | 2 | 3 | 4 |\n|---|---:|---:|---:|---:|\n");
        for m in &self.methods {
            out.push_str(&format!("| {} |", m.method));
            for v in m.dice_by_count {
                out.push_str(&format!(" {} |", v.show(100.0, 1)));
            }
            out.push('\n');
        }
        out
    }

    /// One line per method, subset and region: Dice and HD95 mean and std.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "method,seeds,subset,region,dice_mean,dice_std,hd95_mm_mean,hd95_mm_std\n",
        );
        for m in &self.methods {
            let average = SubsetSummary {
                subset: "average".into(),
                mask: 0,
                dice: m.average_dice,
                hd95_mm: m.average_hd95_mm,
            };
            for row in m.rows.iter().chain(std::iter::once(&average)) {
                for (r, region) in REGIONS.iter().enumerate() {
                    out.push_str(&format!(
                        "{},{},{},{region},{:.4},{:.4},{:.2},{:.2}\n",
                        m.method,
                        m.seeds,
                        row.subset,
                        row.dice[r].mean,
                        row.dice[r].std,
                        row.hd95_mm[r].mean,
                        row.hd95_mm[r].std
                    ));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::SubsetRow;

    fn table(dice_shift: f64) -> EvalTable {
        let rows: Vec<SubsetRow> = Availability::all_subsets()
            .into_iter()
            .map(|s| {
                let d = 0.1 * s.count() as f64 + dice_shift;
                SubsetRow {
                    subset: s.label(),
                    mask: s.id(),
                    dice: [d, d, d],
                    hd95_mm: [10.0 / s.count() as f64; 3],
                    per_case: Vec::new(),
                }
            })
            .collect();
        let mean = |f: &dyn Fn(&SubsetRow) -> f64| rows.iter().map(f).sum::<f64>() / 15.0;
        EvalTable {
            model: "m".into(),
            cases: vec!["c".into()],
            average_dice: [mean(&|r| r.dice[0]); 3],
            average_hd95_mm: [mean(&|r| r.hd95_mm[0]); 3],
            rows,
        }
    }

    #[test]
    fn mean_and_sample_std() {
        let m = MeanStd::of(&[1.0, 2.0, 3.0]);
        assert_eq!((m.mean, m.std), (2.0, 1.0));
        assert_eq!(MeanStd::of(&[5.0]).std, 0.0);
        assert_eq!(m.show(100.0, 1), "200.0 ± 100.0");
    }

    #[test]
    fn summary_over_seeds_by_subset_average_and_count() {
        let s = summarise("metakd", &[table(0.0), table(0.2)]);
        assert_eq!(s.seeds, 2);
        assert_eq!(s.rows.len(), 15);
        let flair = &s.rows[0];
        assert_eq!(flair.subset, "FLAIR");
        assert!((flair.dice[0].mean - 0.2).abs() < 1e-12);
        assert!((flair.dice[0].std - 0.2f64.hypot(0.0) / 2f64.sqrt()).abs() < 1e-12);
        for (k, by_count) in s.dice_by_count.iter().enumerate() {
            assert!((by_count.mean - (0.1 * (k + 1) as f64 + 0.1)).abs() < 1e-12);
        }
        let comparison = Comparison {
            command: "metakd experiment …".into(),
            methods: vec![s.clone(), summarise("baseline", &[table(0.0)])],
        };
        let md = comparison.to_markdown();
        assert!(md.contains("| metakd WT |"));
        assert!(md.contains("| FLAIR | 20.0 ± 14.1 |"), "{md}");
        assert!(md.contains("| **average** |"));
        let csv = comparison.to_csv();
        assert_eq!(csv.lines().count(), 1 + 2 * 16 * 3);
    }
}
