//! Segmentation metrics per tumour region (WT, TC, ET) and the 15-subset evaluation table.
//!
//! Conventions (stated here because papers differ):
//! * Dice = 2|P∩R| / (|P| + |R|); when both are empty it is **1** (nothing to find, nothing
//!   found), when only one is empty it is 0.
//! * HD95: the larger of the two directed 95th-percentile surface distances, in mm (voxel
//!   spacing from the image geometry); **0** when both are empty and **373.13 mm** (the BraTS
//!   challenge's penalty, the diagonal of its 240×240×155 mm volume) when only one is.
//! * Sensitivity = TP / (TP + FN) (1 when the reference is empty); specificity = TN / (TN + FP)
//!   over the compared grid (the brain crop when called from the evaluation).
//! * Volumes in mL = voxels × voxel volume (mm³) / 1000.

mod distance;
mod label_maps;
pub mod stats;
mod table;

pub use distance::hd95;
pub use label_maps::compare_label_maps;
pub use table::{EvalTable, SubsetRow};

use crate::study::Region;

/// HD95 when exactly one of prediction and reference is empty (BraTS's penalty value).
pub const HD95_EMPTY_PENALTY_MM: f64 = 373.13;

/// The metrics of one region of one case.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RegionMetrics {
    pub dice: f64,
    pub hd95_mm: f64,
    pub sensitivity: f64,
    pub specificity: f64,
    pub predicted_ml: f64,
    pub reference_ml: f64,
}

/// Compares a predicted mask with a reference mask on a `[D, H, W]` grid with `spacing` mm
/// (see the module docs for the conventions).
pub fn compare(
    predicted: &[bool],
    reference: &[bool],
    shape: [usize; 3],
    spacing: [f64; 3],
) -> RegionMetrics {
    assert_eq!(predicted.len(), reference.len(), "masks on one grid");
    let (mut tp, mut fp, mut fn_) = (0u64, 0u64, 0u64);
    for (p, r) in predicted.iter().zip(reference) {
        match (*p, *r) {
            (true, true) => tp += 1,
            (true, false) => fp += 1,
            (false, true) => fn_ += 1,
            (false, false) => {}
        }
    }
    let tn = predicted.len() as u64 - tp - fp - fn_;
    let voxel_ml = spacing.iter().product::<f64>() / 1000.0;
    let (np, nr) = (tp + fp, tp + fn_);
    let ratio = |num: u64, den: u64| {
        if den == 0 {
            1.0
        } else {
            num as f64 / den as f64
        }
    };
    let dice = if np + nr == 0 {
        1.0
    } else {
        2.0 * tp as f64 / (np + nr) as f64
    };
    let hd95_mm = match (np, nr) {
        (0, 0) => 0.0,
        (0, _) | (_, 0) => HD95_EMPTY_PENALTY_MM,
        _ => hd95(predicted, reference, shape, spacing).unwrap_or(HD95_EMPTY_PENALTY_MM),
    };
    RegionMetrics {
        dice,
        hd95_mm,
        sensitivity: ratio(tp, nr),
        specificity: ratio(tn, tn + fp),
        predicted_ml: np as f64 * voxel_ml,
        reference_ml: nr as f64 * voxel_ml,
    }
}

/// Compares `[3, D, H, W]` region masks (WT, TC, ET; nonzero = inside) region by region.
pub fn compare_regions(
    predicted: &[u8],
    reference: &[u8],
    shape: [usize; 3],
    spacing: [f64; 3],
) -> [RegionMetrics; 3] {
    let voxels: usize = shape.iter().product();
    Region::ALL.map(|r| {
        let c = r as usize;
        let mask = |m: &[u8]| -> Vec<bool> {
            m[c * voxels..(c + 1) * voxels]
                .iter()
                .map(|v| *v != 0)
                .collect()
        };
        compare(&mask(predicted), &mask(reference), shape, spacing)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_made_masks() {
        // 1×2×5 grid, 2 mm × 1 mm × 1 mm voxels (2 µL each).
        let p = [
            true, true, true, false, false, false, false, false, false, false,
        ];
        let r = [
            false, true, true, true, false, false, false, false, false, false,
        ];
        let m = compare(&p, &r, [1, 2, 5], [2.0, 1.0, 1.0]);
        assert!((m.dice - 2.0 * 2.0 / 6.0).abs() < 1e-12);
        assert!((m.sensitivity - 2.0 / 3.0).abs() < 1e-12);
        assert!((m.specificity - 6.0 / 7.0).abs() < 1e-12);
        assert!((m.predicted_ml - 0.006).abs() < 1e-12);
        // Every voxel is on a surface; each directed distance list is [0, 0, 1] mm, whose
        // interpolated 95th percentile is 0.9 mm.
        assert!((m.hd95_mm - 0.9).abs() < 1e-9, "{}", m.hd95_mm);
    }

    #[test]
    fn empty_masks_follow_the_stated_conventions() {
        let none = [false; 8];
        let some = [true, false, false, false, false, false, false, false];
        let both_empty = compare(&none, &none, [2, 2, 2], [1.0; 3]);
        assert_eq!((both_empty.dice, both_empty.hd95_mm), (1.0, 0.0));
        let missed = compare(&none, &some, [2, 2, 2], [1.0; 3]);
        assert_eq!((missed.dice, missed.hd95_mm), (0.0, HD95_EMPTY_PENALTY_MM));
        assert_eq!(missed.sensitivity, 0.0);
        let invented = compare(&some, &none, [2, 2, 2], [1.0; 3]);
        assert_eq!((invented.dice, invented.sensitivity), (0.0, 1.0));
    }
}
