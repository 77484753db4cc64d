//! Intensity summaries used for display and normalisation: robust percentile ranges that ignore
//! NaN voxels.

/// The `low` and `high` quantiles (fractions in 0..=1) of the non-NaN values, or `None` when
/// there are none. Exact (selection, not a histogram); O(n) time, one copy of the values.
pub fn percentile_range(data: &[f32], low: f64, high: f64) -> Option<(f32, f32)> {
    let mut values: Vec<f32> = data.iter().copied().filter(|v| !v.is_nan()).collect();
    if values.is_empty() {
        return None;
    }
    let rank = |q: f64| ((values.len() - 1) as f64 * q.clamp(0.0, 1.0)).round() as usize;
    let (lo_rank, hi_rank) = (rank(low), rank(high));
    let lo = *values.select_nth_unstable_by(lo_rank, f32::total_cmp).1;
    let hi = *values.select_nth_unstable_by(hi_rank, f32::total_cmp).1;
    Some((lo, hi))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignores_nan_and_picks_ranks() {
        let mut data: Vec<f32> = (0..=1000).map(|v| v as f32).collect();
        data.push(f32::NAN);
        assert_eq!(percentile_range(&data, 0.005, 0.995), Some((5.0, 995.0)));
        assert_eq!(percentile_range(&[f32::NAN], 0.0, 1.0), None);
    }
}
