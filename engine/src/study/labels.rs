//! Tumour label conventions and region masks.
//!
//! BraTS 2017–2021: 1 NCR/NET, 2 ED, 4 ET. BraTS 2023+: ET is 3. Regions: WT = {NCR, ED, ET},
//! TC = {NCR, ET}, ET = {ET}. The convention is detected from the values present: only {1,2,4}
//! → 2021; 3 without 4 → 2023; anything else (both 3 and 4, or other values) is flagged.

use serde::Serialize;

/// The three evaluated tumour regions, in output-channel order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Region {
    WT,
    TC,
    ET,
}

impl Region {
    pub const ALL: [Region; 3] = [Region::WT, Region::TC, Region::ET];

    pub fn name(self) -> &'static str {
        match self {
            Region::WT => "WT",
            Region::TC => "TC",
            Region::ET => "ET",
        }
    }
}

/// Which value marks the enhancing tumour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum LabelConvention {
    /// 1 NCR/NET, 2 ED, 4 ET (BraTS 2017–2021).
    Brats2021,
    /// 1 NCR, 2 ED, 3 ET (BraTS 2023+).
    Brats2023,
}

impl LabelConvention {
    /// The label value of the enhancing tumour.
    pub fn et_value(self) -> u8 {
        match self {
            LabelConvention::Brats2021 => 4,
            LabelConvention::Brats2023 => 3,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            LabelConvention::Brats2021 => "BraTS 2021 (1 NCR, 2 ED, 4 ET)",
            LabelConvention::Brats2023 => "BraTS 2023 (1 NCR, 2 ED, 3 ET)",
        }
    }

    /// Whether a label value belongs to `region` under this convention.
    pub fn in_region(self, value: u8, region: Region) -> bool {
        let et = self.et_value();
        match region {
            Region::WT => value == 1 || value == 2 || value == et,
            Region::TC => value == 1 || value == et,
            Region::ET => value == et,
        }
    }

    /// The binary mask of `region` over a label frame.
    pub fn region_mask(self, labels: &[f32], region: Region) -> Vec<bool> {
        labels
            .iter()
            .map(|v| label_value(*v).is_some_and(|l| self.in_region(l, region)))
            .collect()
    }

    /// Turns three region masks (WT ⊇ TC ⊇ ET as predicted) into label values: ET where ET,
    /// else NCR where TC, else ED where WT, else 0.
    pub fn labels_from_regions(self, wt: bool, tc: bool, et: bool) -> u8 {
        if et {
            self.et_value()
        } else if tc {
            1
        } else if wt {
            2
        } else {
            0
        }
    }
}

/// What the values of a label map say about its convention.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelSummary {
    /// Voxel count per label value present (value, count), ascending.
    pub counts: Vec<(u8, u64)>,
    /// The detected convention (2021 when only 1/2/4 or no tumour is present).
    pub convention: LabelConvention,
    /// Values that fit neither convention (e.g. both 3 and 4, or 5+), for a warning.
    pub unexpected: Vec<u8>,
}

/// The integer label of a stored value, or `None` for a non-integer, negative or >255 value.
pub fn label_value(v: f32) -> Option<u8> {
    (v.fract() == 0.0 && (0.0..=255.0).contains(&v)).then_some(v as u8)
}

impl LabelSummary {
    /// Counts values and detects the convention. Errors with the first non-integer value.
    pub fn of(labels: &[f32]) -> Result<LabelSummary, f32> {
        let mut counts = [0u64; 256];
        for v in labels {
            match label_value(*v) {
                Some(l) => counts[l as usize] += 1,
                None => return Err(*v),
            }
        }
        let present: Vec<(u8, u64)> = (0..=255u8)
            .filter(|l| counts[*l as usize] > 0)
            .map(|l| (l, counts[l as usize]))
            .collect();
        let has = |l: u8| counts[l as usize] > 0;
        let convention = if has(3) && !has(4) {
            LabelConvention::Brats2023
        } else {
            LabelConvention::Brats2021
        };
        let allowed: &[u8] = match convention {
            LabelConvention::Brats2021 => &[0, 1, 2, 4],
            LabelConvention::Brats2023 => &[0, 1, 2, 3],
        };
        let unexpected = present
            .iter()
            .map(|(l, _)| *l)
            .filter(|l| !allowed.contains(l))
            .collect();
        Ok(LabelSummary {
            counts: present,
            convention,
            unexpected,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_conventions_and_flags_odd_values() {
        let s = LabelSummary::of(&[0.0, 1.0, 2.0, 4.0, 4.0]).unwrap();
        assert_eq!(s.convention, LabelConvention::Brats2021);
        assert!(s.unexpected.is_empty());
        assert_eq!(s.counts, vec![(0, 1), (1, 1), (2, 1), (4, 2)]);
        let s = LabelSummary::of(&[0.0, 3.0, 2.0]).unwrap();
        assert_eq!(s.convention, LabelConvention::Brats2023);
        let s = LabelSummary::of(&[0.0, 3.0, 4.0, 7.0]).unwrap();
        assert_eq!(s.unexpected, vec![3, 7]);
        assert_eq!(LabelSummary::of(&[0.5]), Err(0.5));
    }

    #[test]
    fn regions_nest_under_both_conventions() {
        for conv in [LabelConvention::Brats2021, LabelConvention::Brats2023] {
            let et = conv.et_value();
            assert!(
                conv.in_region(et, Region::ET)
                    && conv.in_region(et, Region::TC)
                    && conv.in_region(et, Region::WT)
            );
            assert!(!conv.in_region(2, Region::TC) && conv.in_region(2, Region::WT));
            assert!(conv.in_region(1, Region::TC) && !conv.in_region(1, Region::ET));
            assert_eq!(conv.labels_from_regions(true, true, true), et);
            assert_eq!(conv.labels_from_regions(true, true, false), 1);
            assert_eq!(conv.labels_from_regions(true, false, false), 2);
        }
    }
}
