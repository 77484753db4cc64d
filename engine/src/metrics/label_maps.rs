//! Comparing two label maps on one image grid (a segmentation against ground truth, or two
//! segmentations), region by region. The masks are cropped to the bounding box of both plus a
//! one-voxel margin first: surface distances and overlaps are unchanged by that, and HD95 on a
//! small box is far cheaper than on a whole 240×240×155 volume.

use super::{compare, RegionMetrics};
use crate::study::{LabelConvention, Region};

/// Metrics of `predicted` against `reference` (label bytes in the on-disk order of a grid of
/// `shape` = `[nx, ny, nz]` voxels of `voxel_sizes` mm) for WT, TC and ET.
pub fn compare_label_maps(
    predicted: &[u8],
    reference: &[u8],
    convention: LabelConvention,
    shape: [usize; 3],
    voxel_sizes: [f64; 3],
) -> [RegionMetrics; 3] {
    assert_eq!(predicted.len(), reference.len(), "label maps on one grid");
    assert_eq!(
        predicted.len(),
        shape.iter().product::<usize>(),
        "grid size"
    );
    let voxel_ml = voxel_sizes.iter().product::<f64>() / 1000.0;
    let total = predicted.len() as f64;
    Region::ALL.map(|region| {
        let inside = |v: u8| convention.in_region(v, region);
        match bounding_box(predicted, reference, shape, &inside) {
            Some((lo, hi)) => {
                let crop = |labels: &[u8]| crop_mask(labels, shape, lo, hi, &inside);
                let box_shape = [hi[2] - lo[2], hi[1] - lo[1], hi[0] - lo[0]];
                let spacing = [voxel_sizes[2], voxel_sizes[1], voxel_sizes[0]];
                let mut m = compare(&crop(predicted), &crop(reference), box_shape, spacing);
                // Specificity over the whole grid, not just the box.
                let box_voxels = box_shape.iter().product::<usize>() as f64;
                let tn_box = m.specificity * (box_voxels - m.reference_ml / voxel_ml);
                let outside = total - box_voxels;
                let negatives = total - m.reference_ml / voxel_ml;
                m.specificity = if negatives > 0.0 {
                    (tn_box + outside) / negatives
                } else {
                    1.0
                };
                m
            }
            None => compare(&[], &[], [0, 0, 0], [1.0; 3]),
        }
    })
}

/// The half-open box `[lo, hi)` (x, y, z) holding every voxel inside either map, grown by one
/// voxel and clamped to the grid; `None` when both are empty.
fn bounding_box(
    a: &[u8],
    b: &[u8],
    shape: [usize; 3],
    inside: &dyn Fn(u8) -> bool,
) -> Option<([usize; 3], [usize; 3])> {
    let [nx, ny, _] = shape;
    let mut lo = [usize::MAX; 3];
    let mut hi = [0usize; 3];
    for (i, (p, r)) in a.iter().zip(b).enumerate() {
        if inside(*p) || inside(*r) {
            let xyz = [i % nx, (i / nx) % ny, i / (nx * ny)];
            for k in 0..3 {
                lo[k] = lo[k].min(xyz[k]);
                hi[k] = hi[k].max(xyz[k] + 1);
            }
        }
    }
    (lo[0] != usize::MAX).then(|| {
        (
            lo.map(|v| v.saturating_sub(1)),
            [0, 1, 2].map(|k| (hi[k] + 1).min(shape[k])),
        )
    })
}

/// The mask of `labels` inside the box, as `[z, y, x]` (x fastest), like the source order.
fn crop_mask(
    labels: &[u8],
    shape: [usize; 3],
    lo: [usize; 3],
    hi: [usize; 3],
    inside: &dyn Fn(u8) -> bool,
) -> Vec<bool> {
    let [nx, ny, _] = shape;
    let mut out = Vec::with_capacity((hi[0] - lo[0]) * (hi[1] - lo[1]) * (hi[2] - lo[2]));
    for z in lo[2]..hi[2] {
        for y in lo[1]..hi[1] {
            let row = (z * ny + y) * nx;
            out.extend(labels[row + lo[0]..row + hi[0]].iter().map(|v| inside(*v)));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cropping changes nothing: the same masks compared on the whole grid give the same
    /// metrics (anisotropic voxels, lesions away from the centre, partial overlap).
    #[test]
    fn cropped_comparison_equals_the_whole_grid() {
        let shape = [30, 20, 12];
        let sizes = [1.0, 1.5, 3.0];
        let n: usize = shape.iter().product();
        let mut predicted = vec![0u8; n];
        let mut reference = vec![0u8; n];
        for z in 0..12 {
            for y in 0..20 {
                for x in 0..30 {
                    let i = x + 30 * (y + 20 * z);
                    let d = |c: [f64; 3]| {
                        ((x as f64 - c[0]).powi(2)
                            + (y as f64 - c[1]).powi(2)
                            + (z as f64 - c[2]).powi(2))
                        .sqrt()
                    };
                    let r = d([20.0, 8.0, 6.0]);
                    reference[i] = if r < 2.0 {
                        4
                    } else if r < 3.0 {
                        1
                    } else if r < 5.0 {
                        2
                    } else {
                        0
                    };
                    let p = d([21.0, 9.0, 6.0]);
                    predicted[i] = if p < 2.5 {
                        4
                    } else if p < 6.0 {
                        2
                    } else {
                        0
                    };
                }
            }
        }
        predicted[2] = 2; // a false-positive island in a corner
        let ours = compare_label_maps(
            &predicted,
            &reference,
            LabelConvention::Brats2021,
            shape,
            sizes,
        );
        for (k, region) in Region::ALL.into_iter().enumerate() {
            let mask = |l: &[u8]| -> Vec<bool> {
                l.iter()
                    .map(|v| LabelConvention::Brats2021.in_region(*v, region))
                    .collect()
            };
            let whole = compare(
                &mask(&predicted),
                &mask(&reference),
                [12, 20, 30],
                [3.0, 1.5, 1.0],
            );
            let m = ours[k];
            for (a, b) in [
                (m.dice, whole.dice),
                (m.hd95_mm, whole.hd95_mm),
                (m.sensitivity, whole.sensitivity),
                (m.specificity, whole.specificity),
                (m.predicted_ml, whole.predicted_ml),
                (m.reference_ml, whole.reference_ml),
            ] {
                assert!((a - b).abs() < 1e-9, "{region:?}: {m:?} vs {whole:?}");
            }
        }
        assert!(ours[2].dice < 1.0 && ours[2].dice > 0.0);
        assert!(ours[0].hd95_mm > 0.0);
    }

    #[test]
    fn two_empty_maps_agree_perfectly() {
        let m = compare_label_maps(
            &[0; 8],
            &[0; 8],
            LabelConvention::Brats2021,
            [2, 2, 2],
            [1.0; 3],
        );
        assert_eq!(m[0].dice, 1.0);
        assert_eq!(m[0].hd95_mm, 0.0);
    }
}
