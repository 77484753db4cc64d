//! `engine::prepare` owns what training, inference and evaluation share: one study cropped to
//! the brain and normalised, from a [`Study`] to a [`PreparedCase`].
//!
//! Axis order: a prepared case is `[D, H, W] = [nz, ny, nx]` of the source grid, i.e. the
//! on-disk order with `x` fastest, so the source voxels are used without any transposition:
//! the linear index of voxel `(d, h, w)` is `w + W * (h + H * d)` and the image is channel-major,
//! `[4, D, H, W]` in the fixed modality order FLAIR, T1, T1ce, T2.
//!
//! Steps (nnU-Net's order):
//! 1. **Brain crop**: the bounding box of the voxels that differ from the background in any
//!    modality (and of any tumour label), grown by a margin and clamped to the grid. The
//!    background is 0, or the constant corner value of inputs that were z-scored with their
//!    background (`volume::background_value`). Its offset in the source
//!    grid is kept so predictions can be pasted back ([`PreparedCase::uncrop`]).
//! 2. **Normalisation per modality over brain voxels** (the union mask of step 1): robust
//!    clipping to percentiles of the brain voxels (default 0.5–99.5), then z-score (default) or
//!    min–max to [0, 1]; background voxels are set to 0. A missing modality is an all-zero
//!    channel. Non-finite voxel values count as background.
//! 3. **Labels** (non-integer values, which `Study::open_folder` rejects, count as 0) become a
//!    per-voxel region bit mask (bit `r` = `Region::ALL[r]`: WT, TC, ET)
//!    under the study's label convention, plus the list of tumour voxels used to centre
//!    foreground patches.

pub mod case_file;
mod error;

pub use error::{CaseFileError, PrepareError};

use crate::study::{check_same_grid, label_value, Availability, LabelConvention, Region, Study};
use crate::volume::{background_value, Volume};

/// How intensities of one modality are normalised over the brain voxels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Normalization {
    /// `(v - mean) / std` over brain voxels (MetaKD, LCKD, nnU-Net).
    ZScore,
    /// `(v - min) / (max - min)` over brain voxels, to [0, 1] (ACN/GMD style).
    MinMax,
    /// Raw values (still clipped when clipping is on, background still 0).
    None,
}

/// Settings of [`prepare`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PreprocessConfig {
    /// Crop to the brain's bounding box (else keep the whole grid).
    pub crop_to_brain: bool,
    /// Voxels added around the brain box on each side, `[D, H, W]`.
    pub margin: [usize; 3],
    pub normalization: Normalization,
    /// Clip each modality to these percentiles (0–100) of its brain voxels before
    /// normalising; `None` to not clip.
    pub clip_percentiles: Option<(f64, f64)>,
}

impl Default for PreprocessConfig {
    fn default() -> Self {
        PreprocessConfig {
            crop_to_brain: true,
            margin: [2, 2, 2],
            normalization: Normalization::ZScore,
            clip_percentiles: Some((0.5, 99.5)),
        }
    }
}

/// Bit of `Region::ALL[r]` in [`PreparedCase::regions`].
pub fn region_bit(region: Region) -> u8 {
    match region {
        Region::WT => 1,
        Region::TC => 2,
        Region::ET => 4,
    }
}

/// One case ready for patch sampling, held in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedCase {
    pub name: String,
    /// `[D, H, W]` of the cropped grid.
    pub shape: [usize; 3],
    /// Normalised intensities, `[4, D, H, W]`; a missing modality is all zeros.
    pub image: Vec<f32>,
    /// Per-voxel region bits (see [`region_bit`]), `[D, H, W]`; `None` without a label map.
    pub regions: Option<Vec<u8>>,
    /// Linear indices (into `[D, H, W]`) of the tumour voxels (any region), ascending.
    pub foreground: Vec<u32>,
    /// Position of the crop's first voxel in the source grid, `[d, h, w]` = `[k, j, i]`.
    pub offset: [usize; 3],
    /// `[D, H, W]` of the source grid, `[nz, ny, nx]`.
    pub source_shape: [usize; 3],
    /// Voxel size in mm along `[D, H, W]` (the source's z, y, x pixdims).
    pub spacing: [f64; 3],
    /// The modalities the case has.
    pub available: Availability,
    /// The third array axis (D) runs from inferior to superior, as in BraTS files.
    pub inferior_first: bool,
    /// The label convention the regions were derived with.
    pub convention: LabelConvention,
}

impl PreparedCase {
    /// Voxels per channel.
    pub fn voxels(&self) -> usize {
        self.shape.iter().product()
    }

    /// One modality's channel, `[D, H, W]`.
    pub fn channel(&self, c: usize) -> &[f32] {
        let n = self.voxels();
        &self.image[c * n..(c + 1) * n]
    }

    /// The region targets as three 0/1 channels `[3, D, H, W]` (WT, TC, ET).
    pub fn region_targets(&self) -> Option<Vec<u8>> {
        let regions = self.regions.as_ref()?;
        let mut out = Vec::with_capacity(3 * regions.len());
        for r in Region::ALL {
            let bit = region_bit(r);
            out.extend(regions.iter().map(|v| u8::from(v & bit != 0)));
        }
        Some(out)
    }

    /// Pastes a `[D, H, W]` array on the cropped grid back into the source grid (`fill`
    /// elsewhere). The result is in on-disk order, ready for `Volume::like` or a label writer.
    pub fn uncrop<T: Copy>(&self, cropped: &[T], fill: T) -> Vec<T> {
        debug_assert_eq!(cropped.len(), self.voxels());
        let [sd, sh, sw] = self.source_shape;
        let [d, h, w] = self.shape;
        let [od, oh, ow] = self.offset;
        let mut out = vec![fill; sd * sh * sw];
        for z in 0..d {
            for y in 0..h {
                let src = (z * h + y) * w;
                let dst = ((z + od) * sh + y + oh) * sw + ow;
                out[dst..dst + w].copy_from_slice(&cropped[src..src + w]);
            }
        }
        out
    }
}

/// Crops, normalises and converts the labels of one study (see the module docs).
pub fn prepare(study: &Study, cfg: &PreprocessConfig) -> Result<PreparedCase, PrepareError> {
    check_config(cfg)?;
    let volumes: Vec<&Volume> = study.modalities.iter().flatten().collect();
    let reference = check_volumes(study, &volumes)?;
    let [nx, ny, nz] = reference.shape;
    let source_shape = [nz, ny, nx];
    let brain = brain_mask(&volumes);
    let label_values: Option<Vec<u8>> = study.labels.as_ref().map(|l| {
        l.data
            .iter()
            .map(|v| label_value(*v).unwrap_or(0))
            .collect()
    });
    if !brain.contains(&true) {
        return Err(PrepareError::NoBrain {
            case: study.name.clone(),
        });
    }
    let crop = crop_box(&brain, label_values.as_deref(), source_shape, cfg);
    let brain_crop = crop.extract(&brain);
    drop(brain);
    let m = crop.voxels();
    let mut image = vec![0.0f32; 4 * m];
    for (c, slot) in study.modalities.iter().enumerate() {
        if let Some(v) = slot {
            let values = crop.extract(&v.data);
            normalise_into(&values, &brain_crop, cfg, &mut image[c * m..(c + 1) * m]);
        }
    }
    let regions = label_values.map(|labels| region_bits(&crop.extract(&labels), study.convention));
    let foreground = foreground_voxels(regions.as_deref());
    Ok(PreparedCase {
        name: study.name.clone(),
        shape: crop.shape,
        image,
        regions,
        foreground,
        offset: crop.offset,
        source_shape,
        spacing: {
            let [sx, sy, sz] = reference.voxel_sizes();
            [sz, sy, sx]
        },
        available: study.available(),
        inferior_first: inferior_first(&reference.affine),
        convention: study.convention,
    })
}

/// Checks that the study has a modality and that every volume is 3D, complete and on the
/// first modality's grid; returns that first modality's volume.
fn check_volumes<'a>(study: &'a Study, volumes: &[&'a Volume]) -> Result<&'a Volume, PrepareError> {
    let case = || study.name.clone();
    let Some(reference) = volumes.first().copied() else {
        return Err(PrepareError::NoModality { case: case() });
    };
    for v in volumes.iter().copied().chain(study.labels.as_ref()) {
        if v.frames != 1 {
            return Err(PrepareError::NotThreeD {
                case: case(),
                file: describe(v),
                frames: v.frames,
            });
        }
        check_same_grid(reference, v).map_err(|source| PrepareError::Grid {
            case: case(),
            source,
        })?;
        if v.data.len() != v.voxels_per_frame() {
            return Err(PrepareError::Size {
                case: case(),
                file: describe(v),
                values: v.data.len(),
                shape: v.shape,
            });
        }
    }
    Ok(reference)
}

/// Brain mask: in any modality, finite and not that modality's background value
/// ([`background_value`]: 0 for BraTS files, the constant of z-scored copies).
fn brain_mask(volumes: &[&Volume]) -> Vec<bool> {
    let mut brain = vec![false; volumes[0].data.len()];
    for v in volumes {
        let background = background_value(&v.data, v.shape);
        for (b, x) in brain.iter_mut().zip(&v.data) {
            *b |= *x != background && x.is_finite();
        }
    }
    brain
}

/// The crop: the bounding box of the brain and the tumour labels, grown by the margin and
/// clamped to the grid (or the whole grid when cropping is off). `brain` is not empty.
fn crop_box(
    brain: &[bool],
    labels: Option<&[u8]>,
    source_shape: [usize; 3],
    cfg: &PreprocessConfig,
) -> Crop {
    if !cfg.crop_to_brain {
        return Crop {
            source: source_shape,
            offset: [0; 3],
            shape: source_shape,
        };
    }
    let mut bbox_mask = brain.to_vec();
    if let Some(labels) = labels {
        for (b, l) in bbox_mask.iter_mut().zip(labels) {
            *b |= *l != 0;
        }
    }
    let (lo, hi) =
        bounding_box(&bbox_mask, source_shape).expect("the brain mask was checked to be non-empty");
    let mut offset = [0; 3];
    let mut shape = [0; 3];
    for a in 0..3 {
        offset[a] = lo[a].saturating_sub(cfg.margin[a]);
        let end = (hi[a] + 1 + cfg.margin[a]).min(source_shape[a]);
        shape[a] = end - offset[a];
    }
    Crop {
        source: source_shape,
        offset,
        shape,
    }
}

/// Per-voxel region bits (see [`region_bit`]) of label values under `convention`.
fn region_bits(labels: &[u8], convention: LabelConvention) -> Vec<u8> {
    labels
        .iter()
        .map(|l| {
            Region::ALL
                .iter()
                .filter(|r| convention.in_region(*l, **r))
                .fold(0u8, |bits, r| bits | region_bit(*r))
        })
        .collect()
}

/// Whether the third voxel axis points mostly superior (world +z in RAS).
fn inferior_first(affine: &crate::volume::Affine) -> bool {
    let [x, y, z] = [affine.0[0][2], affine.0[1][2], affine.0[2][2]];
    z > 0.0 && z.abs() >= x.abs() && z.abs() >= y.abs()
}

fn describe(v: &Volume) -> String {
    v.source
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "a volume".into())
}

fn check_config(cfg: &PreprocessConfig) -> Result<(), PrepareError> {
    if let Some((lo, hi)) = cfg.clip_percentiles {
        if !(0.0..=100.0).contains(&lo) || !(0.0..=100.0).contains(&hi) || lo >= hi {
            return Err(PrepareError::Config {
                what: "clipping percentiles",
                reason: format!("({lo}, {hi}): need 0 ≤ low < high ≤ 100, e.g. (0.5, 99.5)"),
            });
        }
    }
    Ok(())
}

/// Inclusive `[D, H, W]` bounds of the `true` voxels, or `None` when there are none.
fn bounding_box(mask: &[bool], shape: [usize; 3]) -> Option<([usize; 3], [usize; 3])> {
    let [_, h, w] = shape;
    let mut lo = [usize::MAX; 3];
    let mut hi = [0usize; 3];
    for (i, _) in mask.iter().enumerate().filter(|(_, m)| **m) {
        let p = [i / (h * w), (i / w) % h, i % w];
        for a in 0..3 {
            lo[a] = lo[a].min(p[a]);
            hi[a] = hi[a].max(p[a]);
        }
    }
    (lo[0] != usize::MAX).then_some((lo, hi))
}

/// A box inside a `[D, H, W]` grid.
struct Crop {
    source: [usize; 3],
    offset: [usize; 3],
    shape: [usize; 3],
}

impl Crop {
    fn voxels(&self) -> usize {
        self.shape.iter().product()
    }

    fn extract<T: Copy>(&self, data: &[T]) -> Vec<T> {
        let [_, sh, sw] = self.source;
        let [d, h, w] = self.shape;
        let [od, oh, ow] = self.offset;
        let mut out = Vec::with_capacity(d * h * w);
        for z in od..od + d {
            for y in oh..oh + h {
                let start = (z * sh + y) * sw + ow;
                out.extend_from_slice(&data[start..start + w]);
            }
        }
        out
    }
}

/// The `p`-th percentile (0–100, nearest rank on `(n-1)·p/100`) of `values` (reorders them).
fn percentile(values: &mut [f32], p: f64) -> f32 {
    let k = ((values.len() - 1) as f64 * p / 100.0).round() as usize;
    *values.select_nth_unstable_by(k, f32::total_cmp).1
}

/// Normalises one cropped modality over the brain voxels into `out` (background 0).
fn normalise_into(values: &[f32], brain: &[bool], cfg: &PreprocessConfig, out: &mut [f32]) {
    let mut inside: Vec<f32> = values
        .iter()
        .zip(brain)
        .filter(|(v, b)| **b && v.is_finite())
        .map(|(v, _)| *v)
        .collect();
    if inside.is_empty() {
        return;
    }
    let (lo, hi) = match cfg.clip_percentiles {
        Some((plo, phi)) => (percentile(&mut inside, plo), percentile(&mut inside, phi)),
        None => (f32::NEG_INFINITY, f32::INFINITY),
    };
    let clip = |v: f32| v.clamp(lo, hi);
    let (shift, scale) = match cfg.normalization {
        Normalization::ZScore => {
            let (mut sum, mut sq) = (0.0f64, 0.0f64);
            for v in &inside {
                let c = clip(*v) as f64;
                sum += c;
                sq += c * c;
            }
            let count = inside.len() as f64;
            let mean = sum / count;
            let var = (sq / count - mean * mean).max(0.0);
            let std = var.sqrt();
            (mean, if std > 1e-8 { 1.0 / std } else { 1.0 })
        }
        Normalization::MinMax => {
            let (mut min, mut max) = (f32::INFINITY, f32::NEG_INFINITY);
            for v in &inside {
                let c = clip(*v);
                min = min.min(c);
                max = max.max(c);
            }
            let range = (max - min) as f64;
            (min as f64, if range > 1e-12 { 1.0 / range } else { 1.0 })
        }
        Normalization::None => (0.0, 1.0),
    };
    for ((o, v), b) in out.iter_mut().zip(values).zip(brain) {
        *o = if *b && v.is_finite() {
            ((clip(*v) as f64 - shift) * scale) as f32
        } else {
            0.0
        };
    }
}

/// Linear indices of the voxels inside any tumour region (for foreground-centred patches).
pub(crate) fn foreground_voxels(regions: Option<&[u8]>) -> Vec<u32> {
    regions.map_or_else(Vec::new, |r| {
        r.iter()
            .enumerate()
            .filter(|(_, bits)| **bits != 0)
            .map(|(i, _)| i as u32)
            .collect()
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::study::Modality;
    use crate::volume::Affine;

    /// A prepared case of `shape` whose image holds `1 + c·1e6 + linear index` (all nonzero)
    /// and whose tumour is the box `tumour` (inclusive `[lo, hi]` per axis): WT everywhere in
    /// it, TC/ET on its first slice.
    pub fn synthetic_case(
        shape: [usize; 3],
        tumour: Option<([usize; 3], [usize; 3])>,
    ) -> PreparedCase {
        let n: usize = shape.iter().product();
        let image = (0..4)
            .flat_map(|c| (0..n).map(move |i| 1.0 + (c * 1_000_000 + i) as f32))
            .collect();
        let [_, h, w] = shape;
        let regions = tumour.map(|(lo, hi)| {
            (0..n)
                .map(|i| {
                    let p = [i / (h * w), (i / w) % h, i % w];
                    let inside = (0..3).all(|a| lo[a] <= p[a] && p[a] <= hi[a]);
                    match (inside, p[0] == lo[0]) {
                        (false, _) => 0,
                        (true, false) => 1,
                        (true, true) => 7,
                    }
                })
                .collect::<Vec<u8>>()
        });
        let foreground = crate::prepare::foreground_voxels(regions.as_deref());
        PreparedCase {
            name: "synthetic".into(),
            shape,
            image,
            regions,
            foreground,
            offset: [0; 3],
            source_shape: shape,
            spacing: [1.0; 3],
            available: Availability::FULL,
            inferior_first: true,
            convention: LabelConvention::Brats2021,
        }
    }

    /// An in-memory volume on a 1 mm grid; `shape` is `[nx, ny, nz]`.
    pub fn volume(shape: [usize; 3], data: Vec<f32>) -> Volume {
        let affine = Affine::identity();
        Volume::in_memory(shape, affine, data)
    }

    /// A study whose modalities come from `f(modality, i, j, k)`; `shape` is `[nx, ny, nz]`.
    pub fn study_from(
        shape: [usize; 3],
        present: Availability,
        f: impl Fn(usize, usize, usize, usize) -> f32,
        labels: Option<&dyn Fn(usize, usize, usize) -> f32>,
    ) -> Study {
        let [nx, ny, nz] = shape;
        let grid = |g: &dyn Fn(usize, usize, usize) -> f32| {
            let mut data = Vec::with_capacity(nx * ny * nz);
            for k in 0..nz {
                for j in 0..ny {
                    for i in 0..nx {
                        data.push(g(i, j, k));
                    }
                }
            }
            volume(shape, data)
        };
        let mut modalities = [None, None, None, None];
        for m in present.modalities() {
            let c = m.index();
            modalities[c] = Some(grid(&|i, j, k| f(c, i, j, k)));
        }
        Study {
            name: "test".into(),
            modalities,
            labels: labels.map(grid),
            convention: LabelConvention::Brats2021,
            layout: crate::study::Layout::Files,
        }
    }

    #[test]
    fn crops_to_the_brain_box_with_margin() {
        // Brain: the box i in 3..=10, j in 2..=5, k in 4..=6 of a 16×9×12 grid; T1 missing.
        let shape = [16, 9, 12];
        let inside = |i: usize, j: usize, k: usize| {
            (3..=10).contains(&i) && (2..=5).contains(&j) && (4..=6).contains(&k)
        };
        let avail = Availability::from_modalities([Modality::Flair, Modality::T1ce, Modality::T2]);
        let study = study_from(
            shape,
            avail,
            |c, i, j, k| {
                if inside(i, j, k) {
                    (1 + c + i + 2 * j + 3 * k) as f32
                } else {
                    0.0
                }
            },
            Some(&|i, j, k| {
                if (i, j, k) == (5, 3, 5) {
                    4.0
                } else if (i, j, k) == (6, 3, 5) {
                    2.0
                } else {
                    0.0
                }
            }),
        );
        let cfg = PreprocessConfig {
            margin: [1, 3, 0],
            ..PreprocessConfig::default()
        };
        let case = prepare(&study, &cfg).unwrap();
        // [D, H, W]: k 4..=6 (+1 each side), j 2..=5 (+3, clamped at 0 and 8), i 3..=10 (+0).
        assert_eq!(case.source_shape, [12, 9, 16]);
        assert_eq!(case.offset, [3, 0, 3]);
        assert_eq!(case.shape, [5, 9, 8]);
        assert_eq!(case.available, avail);
        assert!(case.channel(Modality::T1.index()).iter().all(|v| *v == 0.0));
        // Tumour voxels: ET at (5,3,5) → WT|TC|ET; ED at (6,3,5) → WT only.
        let at = |i: usize, j: usize, k: usize| (k - 3) * 9 * 8 + j * 8 + (i - 3);
        let regions = case.regions.as_ref().unwrap();
        assert_eq!(regions[at(5, 3, 5)], 0b111);
        assert_eq!(regions[at(6, 3, 5)], 0b001);
        assert_eq!(
            case.foreground,
            vec![at(5, 3, 5) as u32, at(6, 3, 5) as u32]
        );
        assert_eq!(regions.iter().filter(|r| **r != 0).count(), 2);
        let targets = case.region_targets().unwrap();
        assert_eq!(targets.len(), 3 * case.voxels());
        assert_eq!(targets.iter().map(|v| *v as usize).sum::<usize>(), 4);
        // Pasting back restores the brain mask exactly in the source grid.
        let brain_crop: Vec<u8> = case
            .channel(0)
            .iter()
            .map(|v| u8::from(*v != 0.0))
            .collect();
        let back = case.uncrop(&brain_crop, 0);
        for k in 0..12 {
            for j in 0..9 {
                for i in 0..16 {
                    let want = inside(i, j, k);
                    // A z-scored brain voxel can be exactly 0 only by chance; none is here.
                    assert_eq!(back[i + 16 * (j + 9 * k)] == 1, want, "({i},{j},{k})");
                }
            }
        }
        // Without cropping the whole grid is kept.
        let whole = prepare(
            &study,
            &PreprocessConfig {
                crop_to_brain: false,
                ..cfg
            },
        )
        .unwrap();
        assert_eq!((whole.offset, whole.shape), ([0, 0, 0], [12, 9, 16]));
    }

    fn stats(values: impl Iterator<Item = f32>) -> (f64, f64, usize) {
        let v: Vec<f64> = values.map(f64::from).collect();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
        (mean, var.sqrt(), v.len())
    }

    /// A ball of "brain" (radius 10 voxels in a 30×28×26 grid) with a smooth pattern plus a
    /// few extreme outliers per modality; T1ce missing. Also returns the ball's membership test.
    fn outlier_ball_study() -> (Study, Availability, impl Fn(usize, usize, usize) -> bool) {
        let shape = [30, 28, 26];
        let ball = |i: usize, j: usize, k: usize| {
            let d = |a: usize, c: f64| (a as f64 - c) / 10.0;
            d(i, 15.0).powi(2) + d(j, 14.0).powi(2) + d(k, 13.0).powi(2) < 1.0
        };
        let avail = Availability::from_modalities([Modality::Flair, Modality::T1, Modality::T2]);
        let study = study_from(
            shape,
            avail,
            |c, i, j, k| {
                if !ball(i, j, k) {
                    0.0
                } else if [
                    (15, 14, 13),
                    (10, 14, 13),
                    (20, 14, 13),
                    (15, 9, 13),
                    (15, 19, 13),
                    (15, 14, 8),
                ]
                .contains(&(i, j, k))
                {
                    50_000.0 // 6 outliers (< 0.5 % of the brain) the clipping must tame
                } else {
                    100.0 * (c as f32 + 1.0) + ((i * 7 + j * 13 + k * 3) % 50) as f32
                }
            },
            None,
        );
        (study, avail, ball)
    }

    #[test]
    fn zscore_gives_unit_brain_statistics_and_zero_background() {
        let (study, avail, ball) = outlier_ball_study();
        let case = prepare(&study, &PreprocessConfig::default()).unwrap();
        let n = case.voxels();
        // Brain = nonzero in any modality = the ball; identify it from the source grid.
        let brain = case.uncrop(&vec![1u8; n], 0);
        let mut in_crop = vec![false; n];
        let [d, h, w] = case.shape;
        for z in 0..d {
            for y in 0..h {
                for x in 0..w {
                    let (i, j, k) = (x + case.offset[2], y + case.offset[1], z + case.offset[0]);
                    in_crop[x + w * (y + h * z)] = ball(i, j, k);
                }
            }
        }
        assert_eq!(brain.iter().filter(|b| **b == 1).count(), n);
        for m in Modality::ALL {
            let ch = case.channel(m.index());
            if !avail.contains(m) {
                assert!(
                    ch.iter().all(|v| *v == 0.0),
                    "missing {} not zero",
                    m.name()
                );
                continue;
            }
            let (mean, std, count) = stats(
                ch.iter()
                    .zip(&in_crop)
                    .filter(|(_, b)| **b)
                    .map(|(v, _)| *v),
            );
            assert!(count > 1000);
            assert!(mean.abs() < 1e-4, "{}: mean {mean}", m.name());
            assert!((std - 1.0).abs() < 1e-4, "{}: std {std}", m.name());
            assert!(ch.iter().zip(&in_crop).all(|(v, b)| *b || *v == 0.0));
            // Clipping keeps the outliers near the rest instead of 100s of σ away.
            let max = ch.iter().cloned().fold(f32::MIN, f32::max);
            assert!(max < 5.0, "{}: max {max}", m.name());
        }
        // Without clipping the outliers dominate: the test above would fail.
        let raw = prepare(
            &study,
            &PreprocessConfig {
                clip_percentiles: None,
                ..PreprocessConfig::default()
            },
        )
        .unwrap();
        assert!(raw.channel(0).iter().cloned().fold(f32::MIN, f32::max) > 5.0);

        let mm = prepare(
            &study,
            &PreprocessConfig {
                normalization: Normalization::MinMax,
                ..PreprocessConfig::default()
            },
        )
        .unwrap();
        for c in [0, 1, 3] {
            let brain_values: Vec<f32> = mm
                .channel(c)
                .iter()
                .zip(&in_crop)
                .filter(|(_, b)| **b)
                .map(|(v, _)| *v)
                .collect();
            let min = brain_values.iter().cloned().fold(f32::MAX, f32::min);
            let max = brain_values.iter().cloned().fold(f32::MIN, f32::max);
            assert!(min.abs() < 1e-6 && (max - 1.0).abs() < 1e-6, "{min} {max}");
        }
        assert!(mm.channel(2).iter().all(|v| *v == 0.0));
    }

    #[test]
    fn rejects_empty_and_mismatched_cases() {
        let empty = study_from([4, 4, 4], Availability::FULL, |_, _, _, _| 0.0, None);
        let err = prepare(&empty, &PreprocessConfig::default()).unwrap_err();
        assert!(err.to_string().contains("zero everywhere"), "{err}");

        let mut mismatched = study_from([4, 4, 4], Availability::FULL, |_, _, _, _| 1.0, None);
        mismatched.modalities[2] = Some(volume([4, 4, 5], vec![1.0; 80]));
        let err = prepare(&mismatched, &PreprocessConfig::default()).unwrap_err();
        assert!(err.to_string().contains("shape [4, 4, 5]"), "{err}");

        let none = Study {
            name: "none".into(),
            modalities: [None, None, None, None],
            labels: Some(volume([2, 2, 2], vec![0.0; 8])),
            convention: LabelConvention::Brats2021,
            layout: crate::study::Layout::Files,
        };
        assert!(prepare(&none, &PreprocessConfig::default()).is_err());

        let ok = study_from([4, 4, 4], Availability::FULL, |_, _, _, _| 1.0, None);
        let bad_cfg = PreprocessConfig {
            clip_percentiles: Some((99.0, 1.0)),
            ..PreprocessConfig::default()
        };
        assert!(matches!(
            prepare(&ok, &bad_cfg),
            Err(PrepareError::Config { .. })
        ));
        // A constant modality normalises to 0 without dividing by zero.
        let case = prepare(&ok, &PreprocessConfig::default()).unwrap();
        assert!(case.image.iter().all(|v| *v == 0.0));
        assert!(case.regions.is_none() && case.foreground.is_empty());
    }
}
