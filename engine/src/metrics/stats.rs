//! `engine::metrics::stats` owns the paired statistics a comparison of two methods needs: the
//! Wilcoxon signed-rank test, Holm's correction for many tests, and a percentile bootstrap of
//! a mean over cases.
//!
//! **Wilcoxon signed-rank** follows SciPy's `scipy.stats.wilcoxon` defaults (two-sided):
//! - zero differences are dropped (`zero_method="wilcox"`);
//! - the statistic is the smaller of the positive and negative rank sums, with tied absolute
//!   values given their mean rank;
//! - the p-value is exact for at most 50 differences without ties;
//! - otherwise it uses the normal approximation with the tie correction of the variance and
//!   no continuity correction.
//!
//! The unit tests check it against SciPy's documented example and SciPy's output.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The result of a two-sided Wilcoxon signed-rank test.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Wilcoxon {
    /// Non-zero differences used.
    pub n: usize,
    /// The smaller of the positive and negative rank sums.
    pub statistic: f64,
    /// Two-sided p-value (1 when there is no non-zero difference).
    pub p_value: f64,
    /// Whether the p-value is exact (else the normal approximation).
    pub exact: bool,
}

/// Largest number of differences for which the exact distribution is used.
const EXACT_UP_TO: usize = 50;

/// The two-sided Wilcoxon signed-rank test of paired differences `d` (see the module docs).
/// Non-finite differences are left out.
pub fn wilcoxon_signed_rank(d: &[f64]) -> Wilcoxon {
    let mut nonzero: Vec<f64> = d
        .iter()
        .copied()
        .filter(|v| v.is_finite() && *v != 0.0)
        .collect();
    let n = nonzero.len();
    if n == 0 {
        return Wilcoxon {
            n,
            statistic: 0.0,
            p_value: 1.0,
            exact: true,
        };
    }
    nonzero.sort_by(|a, b| a.abs().total_cmp(&b.abs()));
    // Mean ranks of tied absolute values, and Σ(t³ − t) over tie groups.
    let mut ranks = vec![0.0; n];
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && nonzero[j + 1].abs() == nonzero[i].abs() {
            j += 1;
        }
        let rank = (i + j) as f64 / 2.0 + 1.0;
        ranks[i..=j].fill(rank);
        let t = (j - i + 1) as f64;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    let r_plus: f64 = nonzero
        .iter()
        .zip(&ranks)
        .filter(|(v, _)| **v > 0.0)
        .map(|(_, r)| r)
        .sum();
    let total = (n * (n + 1)) as f64 / 2.0;
    let statistic = r_plus.min(total - r_plus);
    if n <= EXACT_UP_TO && tie_term == 0.0 {
        return Wilcoxon {
            n,
            statistic,
            p_value: exact_two_sided(n, statistic),
            exact: true,
        };
    }
    let mean = total / 2.0;
    let variance = (n * (n + 1) * (2 * n + 1)) as f64 / 24.0 - tie_term / 48.0;
    let z = (statistic - mean) / variance.sqrt();
    Wilcoxon {
        n,
        statistic,
        p_value: (2.0 * normal_cdf(z)).min(1.0),
        exact: false,
    }
}

/// P(W ≤ w) · 2 for the signed-rank statistic of `n` untied differences (capped at 1): the
/// number of subsets of {1..n} with sum ≤ w, over 2ⁿ.
fn exact_two_sided(n: usize, w: f64) -> f64 {
    let max = n * (n + 1) / 2;
    // counts[s]: subsets of {1..k} summing to s.
    let mut counts = vec![0f64; max + 1];
    counts[0] = 1.0;
    for k in 1..=n {
        for s in (k..=max).rev() {
            counts[s] += counts[s - k];
        }
    }
    let upto = w.floor() as usize;
    let below: f64 = counts[..=upto.min(max)].iter().sum();
    (2.0 * below / 2f64.powi(n as i32)).min(1.0)
}

/// The standard normal distribution function, from the complementary error function.
fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// The complementary error function (W. J. Cody's rational approximations as in Numerical
/// Recipes' `erfcc`, relative error below 1.2·10⁻⁷).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// Holm's step-down adjustment of `p` (same order out): the i-th smallest p-value times
/// `m − i`, made non-decreasing in that order and capped at 1.
pub fn holm(p: &[f64]) -> Vec<f64> {
    let m = p.len();
    let mut order: Vec<usize> = (0..m).collect();
    order.sort_by(|a, b| p[*a].total_cmp(&p[*b]));
    let mut adjusted = vec![0.0; m];
    let mut running: f64 = 0.0;
    for (i, &k) in order.iter().enumerate() {
        running = running.max((p[k] * (m - i) as f64).min(1.0));
        adjusted[k] = running;
    }
    adjusted
}

/// A mean and its percentile bootstrap confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct BootstrapCi {
    pub mean: f64,
    pub low: f64,
    pub high: f64,
}

/// The mean of `values` (one per case) and the `level` (e.g. 0.95) percentile interval of
/// the means of `resamples` resamples of the cases with replacement, drawn with `seed`.
/// Non-finite values are left out; `None` when none is left.
pub fn bootstrap_mean_ci(
    values: &[f64],
    resamples: usize,
    level: f64,
    seed: u64,
) -> Option<BootstrapCi> {
    let values: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    let n = values.len();
    if n == 0 {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut means: Vec<f64> = (0..resamples.max(1))
        .map(|_| (0..n).map(|_| values[rng.random_range(0..n)]).sum::<f64>() / n as f64)
        .collect();
    means.sort_by(f64::total_cmp);
    let quantile = |q: f64| {
        // Linear interpolation between order statistics (NumPy's default).
        let at = q * (means.len() - 1) as f64;
        let (i, frac) = (at.floor() as usize, at - at.floor());
        let next = means[(i + 1).min(means.len() - 1)];
        means[i] + frac * (next - means[i])
    };
    let tail = (1.0 - level) / 2.0;
    Some(BootstrapCi {
        mean,
        low: quantile(tail),
        high: quantile(1.0 - tail),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SciPy's documented example (Fisher's paired height differences): statistic 24, exact
    /// two-sided p = 0.041259765625.
    #[test]
    fn wilcoxon_matches_scipys_documented_example() {
        let d = [
            6.0, 8.0, 14.0, 16.0, 23.0, 24.0, 28.0, 29.0, 41.0, -48.0, 49.0, 56.0, 60.0, -67.0,
            75.0,
        ];
        let w = wilcoxon_signed_rank(&d);
        assert_eq!((w.n, w.statistic, w.exact), (15, 24.0, true));
        assert!((w.p_value - 0.041259765625).abs() < 1e-12, "{}", w.p_value);
        // Either sign gives the same two-sided test.
        let flipped: Vec<f64> = d.iter().map(|v| -v).collect();
        assert_eq!(wilcoxon_signed_rank(&flipped), w);
    }

    /// Ties and zeros: SciPy 1.17 (`wilcoxon(e)`) gives statistic 27.5, p = 0.011343649253645494
    /// (normal approximation, tie-corrected, zeros dropped).
    #[test]
    fn wilcoxon_with_ties_and_zeros_matches_scipy() {
        let e = [
            1.0, 2.0, 2.0, -3.0, 3.0, 3.0, 0.0, 4.0, -1.0, 5.0, 5.0, 5.0, -2.0, 6.0, 0.0, 7.0, 1.5,
            -4.0, 8.0, 2.0,
        ];
        let w = wilcoxon_signed_rank(&e);
        assert_eq!((w.n, w.statistic, w.exact), (18, 27.5, false));
        assert!(
            (w.p_value - 0.011343649253645494).abs() < 1e-6,
            "{}",
            w.p_value
        );
    }

    /// 80 differences (more than the exact limit, with a tie): SciPy gives 893, p =
    /// 0.0004886434342832142.
    #[test]
    #[allow(clippy::approx_constant)] // -0.318 is data, not 1/π
    fn wilcoxon_of_many_differences_matches_scipy() {
        let f = [
            0.426, 0.168, 0.94, 0.405, -0.236, 0.662, 1.604, 1.247, -0.404, -0.965, -0.323, 0.341,
            -2.025, 0.081, -0.946, -0.432, -0.244, -0.016, 0.712, 1.343, 0.171, 1.666, -0.365,
            0.652, 1.203, 0.394, -0.443, -0.622, -0.158, 0.52, -0.71, 0.091, 0.141, 0.841, 0.515,
            0.655, -0.354, 0.17, 1.084, 1.793, -0.959, 1.814, 1.646, 1.081, 0.564, -0.014, 1.758,
            2.26, 2.102, 1.615, 0.657, -0.908, 0.296, 0.956, -0.988, 0.695, 0.73, 0.996, -0.884,
            -0.362, -0.136, -0.87, 2.039, -0.196, 0.629, 0.041, 1.883, 1.62, 0.933, -1.904, 0.352,
            0.984, 1.304, -0.318, 2.122, -1.02, -0.362, 1.235, 0.349, 2.302,
        ];
        let w = wilcoxon_signed_rank(&f);
        assert_eq!((w.n, w.statistic, w.exact), (80, 893.0, false));
        assert!(
            (w.p_value - 0.0004886434342832142).abs() < 1e-7,
            "{}",
            w.p_value
        );
        assert_eq!(wilcoxon_signed_rank(&[0.0, 0.0]).p_value, 1.0);
    }

    /// By hand: p = (0.01, 0.04, 0.03, 0.005) → sorted 0.005·4 = 0.02, 0.01·3 = 0.03,
    /// 0.03·2 = 0.06, 0.04·1 = 0.04 → running maximum 0.02, 0.03, 0.06, 0.06.
    #[test]
    fn holm_by_hand() {
        let adjusted = holm(&[0.01, 0.04, 0.03, 0.005]);
        let want = [0.03, 0.06, 0.06, 0.02];
        for (a, w) in adjusted.iter().zip(want) {
            assert!((a - w).abs() < 1e-12, "{adjusted:?}");
        }
        assert_eq!(holm(&[0.5, 0.9]), [1.0, 1.0]);
        assert!(holm(&[]).is_empty());
    }

    /// Two cases a < b: a resample's mean is a (¼), (a + b)/2 (½) or b (¼), so the 95 %
    /// interval runs from a to b; one value or equal values give a point.
    #[test]
    fn bootstrap_interval_by_hand() {
        let ci = bootstrap_mean_ci(&[1.0, 3.0], 4000, 0.95, 7).unwrap();
        assert_eq!((ci.mean, ci.low, ci.high), (2.0, 1.0, 3.0));
        let ci = bootstrap_mean_ci(&[0.25; 9], 500, 0.95, 7).unwrap();
        assert_eq!((ci.low, ci.high), (0.25, 0.25));
        // Ten cases: the interval holds the mean and is narrower than the data's range.
        let values: Vec<f64> = (0..10).map(f64::from).collect();
        let ci = bootstrap_mean_ci(&values, 2000, 0.95, 3).unwrap();
        assert!(
            ci.low < 4.5 && 4.5 < ci.high && ci.low > 0.0 && ci.high < 9.0,
            "{ci:?}"
        );
        assert_eq!(bootstrap_mean_ci(&[f64::NAN], 10, 0.95, 0), None);
    }
}
