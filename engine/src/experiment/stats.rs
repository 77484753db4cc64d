//! `engine::experiment::stats` owns the pairwise statistics of a comparison. For every pair of
//! methods, per region, and for Dice and HD95 alike, it computes three things over the
//! evaluated modality subsets:
//! - the mean difference (first method minus second);
//! - a 95 % confidence interval for it, from a paired bootstrap over test cases;
//! - a paired Wilcoxon signed-rank p-value over (case, subset) pairs.
//!
//! Every case's metric is first averaged over the seeds of each method. The bootstrap then
//! resamples cases, each carrying the mean of its differences over the subsets. The p-values
//! of all rows together are adjusted with Holm's method. A difference is significant when its
//! adjusted p-value is below 0.05. Written as `stats.md`, `stats.csv` and `stats.json`, and
//! listed in `comparison.md`.

use crate::metrics::stats::{bootstrap_mean_ci, holm, wilcoxon_signed_rank};
use crate::metrics::{EvalTable, RegionMetrics};

/// Bootstrap resamples, confidence level, the bootstrap's seed and the significance level.
pub const RESAMPLES: usize = 10_000;
pub const LEVEL: f64 = 0.95;
pub const SEED: u64 = 0;
pub const ALPHA: f64 = 0.05;

const REGIONS: [&str; 3] = ["WT", "TC", "ET"];

/// A metric's name and how to read it from a case's region metrics.
type Metric = (&'static str, fn(&RegionMetrics) -> f64);

/// One method's evaluation tables, one per seed (same cases and subsets in the same order).
pub struct MethodTables<'a> {
    pub method: &'a str,
    pub tables: &'a [EvalTable],
}

/// One pair of methods, one region, one metric.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PairStat {
    /// The difference is `a − b`.
    pub a: String,
    pub b: String,
    pub region: String,
    /// `dice` (fraction) or `hd95_mm`.
    pub metric: String,
    pub mean_difference: f64,
    pub ci_low: f64,
    pub ci_high: f64,
    /// (case, subset) pairs with a non-zero, finite difference.
    pub pairs: usize,
    pub wilcoxon_statistic: f64,
    pub p_value: f64,
    pub p_holm: f64,
    pub significant: bool,
}

/// Every pair's statistics and how they were computed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PairwiseStats {
    pub resamples: usize,
    pub level: f64,
    pub alpha: f64,
    pub cases: usize,
    pub subsets: usize,
    pub rows: Vec<PairStat>,
}

/// `[subset][case]` of one metric and region, averaged over the seeds.
fn seed_means(
    tables: &[EvalTable],
    region: usize,
    metric: fn(&RegionMetrics) -> f64,
) -> Vec<Vec<f64>> {
    let Some(first) = tables.first() else {
        return Vec::new();
    };
    (0..first.rows.len())
        .map(|i| {
            (0..first.cases.len())
                .map(|c| {
                    let values: Vec<f64> = tables
                        .iter()
                        .map(|t| metric(&t.rows[i].per_case[c][region]))
                        .collect();
                    values.iter().sum::<f64>() / values.len() as f64
                })
                .collect()
        })
        .collect()
}

/// The statistics of every pair of `methods` (see the module docs).
pub fn pairwise(methods: &[MethodTables]) -> PairwiseStats {
    let metrics: [Metric; 2] = [("dice", |m| m.dice), ("hd95_mm", |m| m.hd95_mm)];
    let mut rows = Vec::new();
    for (i, a) in methods.iter().enumerate() {
        for b in &methods[i + 1..] {
            for (metric, get) in metrics {
                for (r, region) in REGIONS.iter().enumerate() {
                    let (ma, mb) = (seed_means(a.tables, r, get), seed_means(b.tables, r, get));
                    rows.push(pair_stat(a.method, b.method, region, metric, &ma, &mb));
                }
            }
        }
    }
    let adjusted = holm(&rows.iter().map(|r| r.p_value).collect::<Vec<_>>());
    for (row, p) in rows.iter_mut().zip(adjusted) {
        row.p_holm = p;
        row.significant = p < ALPHA;
    }
    let first = methods.first().and_then(|m| m.tables.first());
    PairwiseStats {
        resamples: RESAMPLES,
        level: LEVEL,
        alpha: ALPHA,
        cases: first.map_or(0, |t| t.cases.len()),
        subsets: first.map_or(0, |t| t.rows.len()),
        rows,
    }
}

/// One row from the seed-averaged `[subset][case]` values of the two methods.
fn pair_stat(
    a: &str,
    b: &str,
    region: &str,
    metric: &str,
    ma: &[Vec<f64>],
    mb: &[Vec<f64>],
) -> PairStat {
    let differences: Vec<Vec<f64>> = ma
        .iter()
        .zip(mb)
        .map(|(x, y)| x.iter().zip(y).map(|(p, q)| p - q).collect())
        .collect();
    let cases = differences.first().map_or(0, Vec::len);
    let per_case: Vec<f64> = (0..cases)
        .map(|c| {
            let finite: Vec<f64> = differences
                .iter()
                .map(|d| d[c])
                .filter(|v| v.is_finite())
                .collect();
            finite.iter().sum::<f64>() / finite.len() as f64
        })
        .collect();
    let ci = bootstrap_mean_ci(&per_case, RESAMPLES, LEVEL, SEED);
    let test = wilcoxon_signed_rank(&differences.concat());
    PairStat {
        a: a.into(),
        b: b.into(),
        region: region.into(),
        metric: metric.into(),
        mean_difference: ci.map_or(f64::NAN, |c| c.mean),
        ci_low: ci.map_or(f64::NAN, |c| c.low),
        ci_high: ci.map_or(f64::NAN, |c| c.high),
        pairs: test.n,
        wilcoxon_statistic: test.statistic,
        p_value: test.p_value,
        p_holm: test.p_value,
        significant: false,
    }
}

impl PairStat {
    /// The difference and its interval as shown: Dice in percentage points, HD95 in mm.
    fn shown(&self) -> (String, String) {
        let scale = if self.metric == "dice" { 100.0 } else { 1.0 };
        (
            format!("{:+.2}", self.mean_difference * scale),
            format!(
                "[{:+.2}, {:+.2}]",
                self.ci_low * scale,
                self.ci_high * scale
            ),
        )
    }

    fn metric_name(&self) -> &'static str {
        if self.metric == "dice" {
            "Dice (points)"
        } else {
            "HD95 (mm)"
        }
    }
}

impl PairwiseStats {
    pub fn to_markdown(&self) -> String {
        let mut out = format!(
            "Paired differences (first method minus second) over {} test cases × {} subsets, seeds averaged. \
             {:.0} % interval: percentile bootstrap over cases ({} resamples). p: Wilcoxon signed-rank over \
             (case, subset) pairs; Holm-adjusted over all {} rows; ✱ = adjusted p < {}.\n\n",
            self.cases,
            self.subsets,
            100.0 * self.level,
            self.resamples,
            self.rows.len(),
            self.alpha
        );
        out.push_str("| A − B | region | metric | mean difference | 95 % interval | pairs | p | p (Holm) | |\n");
        out.push_str("|---|---|---|---:|---|---:|---:|---:|---|\n");
        for r in &self.rows {
            let (mean, ci) = r.shown();
            out.push_str(&format!(
                "| {} − {} | {} | {} | {mean} | {ci} | {} | {:.2e} | {:.2e} | {} |\n",
                r.a,
                r.b,
                r.region,
                r.metric_name(),
                r.pairs,
                r.p_value,
                r.p_holm,
                if r.significant { "✱" } else { "" }
            ));
        }
        out
    }

    pub fn to_csv(&self) -> String {
        let mut out = String::from(
            "a,b,region,metric,mean_difference,ci_low,ci_high,pairs,wilcoxon_statistic,p_value,p_holm,significant\n",
        );
        for r in &self.rows {
            out.push_str(&format!(
                "{},{},{},{},{:.6},{:.6},{:.6},{},{},{:.6e},{:.6e},{}\n",
                r.a,
                r.b,
                r.region,
                r.metric,
                r.mean_difference,
                r.ci_low,
                r.ci_high,
                r.pairs,
                r.wilcoxon_statistic,
                r.p_value,
                r.p_holm,
                r.significant
            ));
        }
        out
    }

    /// The significant rows as Markdown lines for `comparison.md` (or a line saying none is).
    pub fn significant_lines(&self) -> String {
        let mut out = format!(
            "### Significant differences (Holm-adjusted p < {}; all rows in stats.md)\n\n",
            self.alpha
        );
        let significant: Vec<&PairStat> = self.rows.iter().filter(|r| r.significant).collect();
        if significant.is_empty() {
            out.push_str("None.\n");
        }
        for r in significant {
            let (mean, ci) = r.shown();
            out.push_str(&format!(
                "- {} − {}, {} {}: {mean} {ci}, p (Holm) {:.2e}\n",
                r.a,
                r.b,
                r.region,
                r.metric_name(),
                r.p_holm
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::SubsetRow;
    use crate::study::Availability;

    /// A table of `cases` cases whose Dice is `dice(case, subset)` in every region, HD95 10 mm.
    fn table(cases: usize, dice: impl Fn(usize, usize) -> f64) -> EvalTable {
        let rows: Vec<SubsetRow> = Availability::all_subsets()
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                let per_case = (0..cases)
                    .map(|c| {
                        [0; 3].map(|_| RegionMetrics {
                            dice: dice(c, i),
                            hd95_mm: 10.0,
                            sensitivity: 1.0,
                            specificity: 1.0,
                            predicted_ml: 1.0,
                            reference_ml: 1.0,
                        })
                    })
                    .collect();
                SubsetRow::new(s, per_case)
            })
            .collect();
        EvalTable::new("m", (0..cases).map(|c| format!("case{c}")).collect(), rows)
    }

    #[test]
    fn a_uniformly_better_method_is_significant_and_an_equal_one_is_not() {
        let base = |c: usize, s: usize| 0.5 + 0.01 * c as f64 + 0.001 * s as f64;
        // Two seeds of "better": 0.08 and 0.12 above the baseline, 0.10 on average.
        let better = [
            table(6, |c, s| base(c, s) + 0.08),
            table(6, |c, s| base(c, s) + 0.12),
        ];
        let baseline = [table(6, base)];
        let same = [table(6, base)];
        let stats = pairwise(&[
            MethodTables {
                method: "better",
                tables: &better,
            },
            MethodTables {
                method: "baseline",
                tables: &baseline,
            },
            MethodTables {
                method: "same",
                tables: &same,
            },
        ]);
        // 3 pairs × 2 metrics × 3 regions.
        assert_eq!(stats.rows.len(), 18);
        assert_eq!((stats.cases, stats.subsets), (6, 15));
        let row = |a: &str, b: &str, metric: &str| {
            stats
                .rows
                .iter()
                .find(|r| r.a == a && r.b == b && r.metric == metric && r.region == "ET")
                .unwrap()
        };
        let d = row("better", "baseline", "dice");
        assert!((d.mean_difference - 0.1).abs() < 1e-12, "{d:?}");
        assert!((d.ci_low - 0.1).abs() < 1e-12 && (d.ci_high - 0.1).abs() < 1e-12);
        assert_eq!(d.pairs, 90);
        // All 90 differences positive: the normal approximation's two-sided p is tiny, and
        // stays below 0.05 after Holm over 18 rows.
        assert!(d.p_value < 1e-10 && d.significant, "{d:?}");
        let e = row("baseline", "same", "dice");
        assert_eq!((e.mean_difference, e.pairs, e.p_value), (0.0, 0, 1.0));
        assert!(!e.significant);
        let h = row("better", "baseline", "hd95_mm");
        assert_eq!(
            (h.mean_difference, h.p_value, h.significant),
            (0.0, 1.0, false)
        );
        let md = stats.to_markdown();
        assert!(
            md.contains(
                "| better − baseline | ET | Dice (points) | +10.00 | [+10.00, +10.00] | 90 |"
            ),
            "{md}"
        );
        assert!(stats
            .significant_lines()
            .contains("- better − baseline, WT Dice (points): +10.00"));
        assert_eq!(stats.to_csv().lines().count(), 19);
    }
}
