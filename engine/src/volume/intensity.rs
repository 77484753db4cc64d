//! Intensity summaries used for display and normalisation: robust percentile ranges that ignore
//! NaN voxels, and the background value of a skull-stripped image.

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

/// The value outside the brain of a skull-stripped image: the value of the eight corner voxels
/// when they all hold the same finite value and it is the image's minimum, below some other
/// voxel; else 0. BraTS files as distributed have 0 there; copies re-shared as z-scored floats
/// have a constant negative value (the z-score of 0), the lowest in the image.
/// `shape` is `[nx, ny, nz]` with `x` fastest, as [`super::Volume::shape`].
pub fn background_value(data: &[f32], shape: [usize; 3]) -> f32 {
    let [nx, ny, nz] = shape;
    if data.len() < nx * ny * nz || nx * ny * nz == 0 {
        return 0.0;
    }
    let mut corners = [0.0f32; 8];
    for (c, corner) in corners.iter_mut().enumerate() {
        let [x, y, z] = [c & 1, (c >> 1) & 1, c >> 2].map(|bit| bit == 1);
        let i = usize::from(x) * (nx - 1)
            + nx * (usize::from(y) * (ny - 1) + ny * usize::from(z) * (nz - 1));
        *corner = data[i];
    }
    let first = corners[0];
    let same_corners = first.is_finite() && corners.iter().all(|c| c.to_bits() == first.to_bits());
    if !same_corners || first == 0.0 {
        return 0.0; // 0 is also the fallback: no need to look at every voxel
    }
    let mut above = false;
    for v in data.iter().filter(|v| !v.is_nan()) {
        if *v < first {
            return 0.0;
        }
        above |= *v > first;
    }
    if above {
        first
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn background_is_the_common_corner_value_else_zero() {
        let shape = [4, 3, 2];
        let mut data = vec![-0.7f32; 24];
        data[5] = 1.5;
        assert_eq!(background_value(&data, shape), -0.7);
        data[6] = -0.9; // below the corners: they are not the background
        assert_eq!(background_value(&data, shape), 0.0);
        data[6] = -0.7;
        data[23] = 0.2; // the last corner differs
        assert_eq!(background_value(&data, shape), 0.0);
        assert_eq!(background_value(&[1.0; 24], shape), 0.0, "a constant image");
        assert_eq!(background_value(&[f32::NAN; 24], shape), 0.0);
        assert_eq!(background_value(&[], shape), 0.0);
    }

    #[test]
    fn ignores_nan_and_picks_ranks() {
        let mut data: Vec<f32> = (0..=1000).map(|v| v as f32).collect();
        data.push(f32::NAN);
        assert_eq!(percentile_range(&data, 0.005, 0.995), Some((5.0, 995.0)));
        assert_eq!(percentile_range(&[f32::NAN], 0.0, 1.0), None);
    }
}
