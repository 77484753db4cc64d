//! Tumour label conventions and region masks.
//!
//! The tumour has three tissues — necrotic/non-enhancing core (NCR), oedema (ED), enhancing
//! tumour (ET) — and every convention in use gives them other values:
//!
//! | convention | NCR | ED | ET | detected |
//! |---|---|---|---|---|
//! | BraTS 2017–2021 | 1 | 2 | 4 | values within {1, 2, 4}, or no tumour |
//! | BraTS 2023+ | 1 | 2 | 3 | 3 without 4 |
//! | BraTS 2013/2015 | 1 necrosis, 3 non-enhancing | 2 | 4 | 3 and 4 both present |
//! | MSD Task01 | 2 (non-enhancing) | 1 (oedema) | 3 | from the layout (4D images), not the values |
//!
//! Regions: WT = {NCR, ED, ET}, TC = {NCR, ET}, ET = {ET}. Values above 4 fit no convention
//! and are refused when a study is opened. A label map written back uses the study's own
//! convention ([`LabelConvention::labels_from_regions`]), so a user gets files in the values
//! their other tools expect.

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

/// The three tumour tissues a label value can stand for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum TumourTissue {
    /// Necrotic or non-enhancing tumour core.
    Ncr,
    /// Peritumoural oedema.
    Ed,
    /// Enhancing tumour.
    Et,
}

impl TumourTissue {
    /// Whether the tissue belongs to `region`.
    pub fn in_region(self, region: Region) -> bool {
        match region {
            Region::WT => true,
            Region::TC => self != TumourTissue::Ed,
            Region::ET => self == TumourTissue::Et,
        }
    }
}

/// Which values mark which tumour tissue (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
pub enum LabelConvention {
    /// 1 NCR/NET, 2 ED, 4 ET (BraTS 2017–2021).
    Brats2021,
    /// 1 NCR, 2 ED, 3 ET (BraTS 2023+).
    Brats2023,
    /// 1 necrosis, 2 ED, 3 non-enhancing, 4 ET (BraTS 2013/2015).
    Brats2015,
    /// 1 oedema, 2 non-enhancing tumour, 3 enhancing (Medical Segmentation Decathlon Task01).
    MsdTask01,
}

impl LabelConvention {
    /// The label value of the enhancing tumour.
    pub fn et_value(self) -> u8 {
        self.value_of(TumourTissue::Et)
    }

    /// The value this convention writes for `tissue`.
    pub fn value_of(self, tissue: TumourTissue) -> u8 {
        use TumourTissue::*;
        match (self, tissue) {
            (LabelConvention::MsdTask01, Ncr) => 2,
            (LabelConvention::MsdTask01, Ed) => 1,
            (_, Ncr) => 1,
            (_, Ed) => 2,
            (LabelConvention::Brats2023 | LabelConvention::MsdTask01, Et) => 3,
            (_, Et) => 4,
        }
    }

    /// The tissue a label value stands for (`None` for background and unknown values).
    pub fn tissue_of(self, value: u8) -> Option<TumourTissue> {
        match (self, value) {
            (LabelConvention::Brats2015, 3) => Some(TumourTissue::Ncr),
            (_, 0) => None,
            _ => [TumourTissue::Ncr, TumourTissue::Ed, TumourTissue::Et]
                .into_iter()
                .find(|t| self.value_of(*t) == value),
        }
    }

    /// The values this convention uses, background included, ascending.
    pub fn values(self) -> &'static [u8] {
        match self {
            LabelConvention::Brats2021 => &[0, 1, 2, 4],
            LabelConvention::Brats2023 | LabelConvention::MsdTask01 => &[0, 1, 2, 3],
            LabelConvention::Brats2015 => &[0, 1, 2, 3, 4],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            LabelConvention::Brats2021 => "BraTS 2021 (1 NCR, 2 ED, 4 ET)",
            LabelConvention::Brats2023 => "BraTS 2023 (1 NCR, 2 ED, 3 ET)",
            LabelConvention::Brats2015 => "BraTS 2015 (1 necrosis, 2 ED, 3 non-enhancing, 4 ET)",
            LabelConvention::MsdTask01 => "MSD Task01 (1 oedema, 2 non-enhancing, 3 enhancing)",
        }
    }

    /// Whether a label value belongs to `region` under this convention.
    pub fn in_region(self, value: u8, region: Region) -> bool {
        self.tissue_of(value).is_some_and(|t| t.in_region(region))
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
            self.value_of(TumourTissue::Et)
        } else if tc {
            self.value_of(TumourTissue::Ncr)
        } else if wt {
            self.value_of(TumourTissue::Ed)
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
    /// Values that fit no convention (5 and above).
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
        let convention = match (has(3), has(4)) {
            (true, false) => LabelConvention::Brats2023,
            (true, true) => LabelConvention::Brats2015,
            _ => LabelConvention::Brats2021,
        };
        let unexpected = present
            .iter()
            .map(|(l, _)| *l)
            .filter(|l| !convention.values().contains(l))
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

    const ALL: [LabelConvention; 4] = [
        LabelConvention::Brats2021,
        LabelConvention::Brats2023,
        LabelConvention::Brats2015,
        LabelConvention::MsdTask01,
    ];

    #[test]
    fn detects_conventions_and_flags_odd_values() {
        let s = LabelSummary::of(&[0.0, 1.0, 2.0, 4.0, 4.0]).unwrap();
        assert_eq!(s.convention, LabelConvention::Brats2021);
        assert!(s.unexpected.is_empty());
        assert_eq!(s.counts, vec![(0, 1), (1, 1), (2, 1), (4, 2)]);
        let s = LabelSummary::of(&[0.0, 3.0, 2.0]).unwrap();
        assert_eq!(s.convention, LabelConvention::Brats2023);
        let s = LabelSummary::of(&[0.0, 3.0, 4.0, 1.0]).unwrap();
        assert_eq!(s.convention, LabelConvention::Brats2015);
        assert!(s.unexpected.is_empty());
        let s = LabelSummary::of(&[0.0, 3.0, 4.0, 7.0]).unwrap();
        assert_eq!(s.unexpected, vec![7]);
        let s = LabelSummary::of(&[0.0, 2.0, 5.0]).unwrap();
        assert_eq!(s.unexpected, vec![5]);
        assert_eq!(LabelSummary::of(&[0.5]), Err(0.5));
    }

    #[test]
    fn every_convention_maps_its_values_to_the_published_tissues() {
        use TumourTissue::*;
        type Row = (u8, Option<TumourTissue>);
        let table: [(LabelConvention, [Row; 5]); 4] = [
            (
                LabelConvention::Brats2021,
                [
                    (0, None),
                    (1, Some(Ncr)),
                    (2, Some(Ed)),
                    (3, None),
                    (4, Some(Et)),
                ],
            ),
            (
                LabelConvention::Brats2023,
                [
                    (0, None),
                    (1, Some(Ncr)),
                    (2, Some(Ed)),
                    (3, Some(Et)),
                    (4, None),
                ],
            ),
            (
                LabelConvention::Brats2015,
                [
                    (0, None),
                    (1, Some(Ncr)),
                    (2, Some(Ed)),
                    (3, Some(Ncr)),
                    (4, Some(Et)),
                ],
            ),
            (
                LabelConvention::MsdTask01,
                [
                    (0, None),
                    (1, Some(Ed)),
                    (2, Some(Ncr)),
                    (3, Some(Et)),
                    (4, None),
                ],
            ),
        ];
        for (conv, rows) in table {
            for (value, tissue) in rows {
                assert_eq!(conv.tissue_of(value), tissue, "{conv:?} value {value}");
            }
        }
    }

    #[test]
    fn regions_nest_and_written_labels_read_back_under_every_convention() {
        for conv in ALL {
            let [ncr, ed, et] =
                [TumourTissue::Ncr, TumourTissue::Ed, TumourTissue::Et].map(|t| conv.value_of(t));
            assert!(
                conv.in_region(et, Region::ET)
                    && conv.in_region(et, Region::TC)
                    && conv.in_region(et, Region::WT)
            );
            assert!(!conv.in_region(ed, Region::TC) && conv.in_region(ed, Region::WT));
            assert!(conv.in_region(ncr, Region::TC) && !conv.in_region(ncr, Region::ET));
            assert_eq!(conv.labels_from_regions(true, true, true), et);
            assert_eq!(conv.labels_from_regions(true, true, false), ncr);
            assert_eq!(conv.labels_from_regions(true, false, false), ed);
            assert_eq!(conv.labels_from_regions(false, false, false), 0);
            for v in [ncr, ed, et] {
                assert!(conv.values().contains(&v), "{conv:?} writes {v}");
            }
        }
    }
}
