//! Patch sampling from a prepared case.
//!
//! A patch has a configurable `[D, H, W]` size (cubic such as 80³ or 128³, or anisotropic such
//! as MetaKD's 80×160×160). With probability `foreground_fraction` it is centred on a tumour
//! voxel drawn uniformly from the case's tumour voxels (any label, i.e. WT); otherwise its
//! origin is uniform over all positions where it fits. Patches always stay inside the volume:
//! the origin is clamped to `[0, dim − p]` on each axis. Along an axis where the volume is
//! smaller than the patch the origin lies in `[dim − p, 0]` instead, so the whole volume is
//! inside the patch and the rest is zero padding (image 0, labels 0). A foreground-centred
//! patch therefore always contains its tumour voxel, at the patch centre `p / 2` unless
//! clamping moved it.

use super::error::DataError;
use crate::prepare::{region_bit, PreparedCase};
use crate::study::{Availability, Modality, Region};
use rand::Rng;

/// Size and foreground share of training patches.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PatchConfig {
    /// `[D, H, W]` in voxels, each ≥ 1.
    pub size: [usize; 3],
    /// Probability (0–1) that a patch is centred on a tumour voxel.
    pub foreground_fraction: f64,
}

impl Default for PatchConfig {
    /// 128³, half of the patches foreground-centred.
    fn default() -> Self {
        PatchConfig::cube(128)
    }
}

impl PatchConfig {
    /// A `p`³ patch with half of the patches foreground-centred (MetaKD's share).
    pub fn cube(p: usize) -> PatchConfig {
        PatchConfig {
            size: [p; 3],
            foreground_fraction: 0.5,
        }
    }

    /// Voxels per channel.
    pub fn voxels(&self) -> usize {
        self.size.iter().product()
    }

    pub fn check(&self) -> Result<(), DataError> {
        if self.size.contains(&0) {
            return Err(DataError::Config {
                what: "patch size",
                reason: format!("{:?}: every side must be at least 1 voxel", self.size),
            });
        }
        if !(0.0..=1.0).contains(&self.foreground_fraction) {
            return Err(DataError::Config {
                what: "foreground fraction",
                reason: format!("{}: must lie in 0..=1", self.foreground_fraction),
            });
        }
        Ok(())
    }
}

/// Where a patch is cut from a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatchSpec {
    /// Position of the patch's first voxel in the case's cropped grid, `[d, h, w]`; negative
    /// (or past the end) only along axes where the case is smaller than the patch.
    pub origin: [isize; 3],
    /// The tumour voxel the patch was centred on, for a foreground-centred patch.
    pub fg_voxel: Option<[usize; 3]>,
}

/// One training patch.
#[derive(Debug, Clone, PartialEq)]
pub struct Patch {
    /// `[D, H, W]`.
    pub size: [usize; 3],
    /// Intensities, `[4, D, H, W]` channel-major (FLAIR, T1, T1ce, T2).
    pub image: Vec<f32>,
    /// Region targets, `[3, D, H, W]` (WT, TC, ET), each voxel 0 or 1.
    pub target: Vec<u8>,
    /// See [`PatchSpec::origin`].
    pub origin: [isize; 3],
    /// Whether the patch was centred on a tumour voxel.
    pub fg_centred: bool,
}

impl Patch {
    /// Voxels per channel.
    pub fn voxels(&self) -> usize {
        self.size.iter().product()
    }

    /// The target as `f32` 0.0/1.0 values, `[3, D, H, W]`.
    pub fn target_f32(&self) -> Vec<f32> {
        self.target.iter().map(|v| f32::from(*v)).collect()
    }
}

/// The range `[lo, hi]` of patch origins along one axis: `[0, dim − p]`, or `[dim − p, 0]`
/// when the volume is smaller than the patch.
pub fn origin_range(dim: usize, p: usize) -> (isize, isize) {
    let span = dim as isize - p as isize;
    (span.min(0), span.max(0))
}

/// Draws where the next patch is cut (see the module docs). Consumes one `f64` for the
/// foreground decision, then either one index or three origins.
pub fn sample_spec<R: Rng + ?Sized>(
    case: &PreparedCase,
    cfg: &PatchConfig,
    rng: &mut R,
) -> PatchSpec {
    let foreground = |k: usize| Ok::<u32, std::convert::Infallible>(case.foreground[k]);
    match sample_spec_in(case.shape, case.foreground.len(), foreground, cfg, rng) {
        Ok(spec) => spec,
        Err(never) => match never {},
    }
}

/// [`sample_spec`] for a case known by its shape and its number of foreground voxels, whose
/// `k`-th foreground index `foreground_at` reads (from a prepared file, which may fail). The
/// random draws are the same as [`sample_spec`]'s.
pub fn sample_spec_in<R: Rng + ?Sized, E>(
    shape: [usize; 3],
    foreground_len: usize,
    mut foreground_at: impl FnMut(usize) -> Result<u32, E>,
    cfg: &PatchConfig,
    rng: &mut R,
) -> Result<PatchSpec, E> {
    let want_fg = rng.random::<f64>() < cfg.foreground_fraction;
    let [_, h, w] = shape;
    if want_fg && foreground_len > 0 {
        let i = foreground_at(rng.random_range(0..foreground_len))? as usize;
        let voxel = [i / (h * w), (i / w) % h, i % w];
        let mut origin = [0isize; 3];
        for a in 0..3 {
            let (lo, hi) = origin_range(shape[a], cfg.size[a]);
            origin[a] = (voxel[a] as isize - (cfg.size[a] / 2) as isize).clamp(lo, hi);
        }
        return Ok(PatchSpec {
            origin,
            fg_voxel: Some(voxel),
        });
    }
    let mut origin = [0isize; 3];
    for (a, o) in origin.iter_mut().enumerate() {
        let (lo, hi) = origin_range(shape[a], cfg.size[a]);
        *o = rng.random_range(lo as i64..=hi as i64) as isize;
    }
    Ok(PatchSpec {
        origin,
        fg_voxel: None,
    })
}

/// Cuts the patch `spec` of size `size` from `case`, zero-padding outside the volume.
pub fn extract(case: &PreparedCase, size: [usize; 3], spec: PatchSpec) -> Patch {
    filled_patch(size, spec, |image, target| {
        extract_into(case, size, spec, Availability::FULL, image, target)
    })
}

/// A patch of `size` at `spec` whose zeroed image and target buffers `fill` writes.
pub(crate) fn filled_patch(
    size: [usize; 3],
    spec: PatchSpec,
    fill: impl FnOnce(&mut [f32], &mut [u8]),
) -> Patch {
    let pn: usize = size.iter().product();
    let mut image = vec![0.0f32; 4 * pn];
    let mut target = vec![0u8; 3 * pn];
    fill(&mut image, &mut target);
    Patch {
        size,
        image,
        target,
        origin: spec.origin,
        fg_centred: spec.fg_voxel.is_some(),
    }
}

/// [`extract`] into caller-provided buffers (`[4, D, H, W]` and `[3, D, H, W]`), which must be
/// all zeros: only voxels inside the case, and only image channels in `channels`, are written.
pub(crate) fn extract_into(
    case: &PreparedCase,
    size: [usize; 3],
    spec: PatchSpec,
    channels: Availability,
    image: &mut [f32],
    target: &mut [u8],
) {
    let [_, ph, pw] = size;
    let pn: usize = size.iter().product();
    let [_, h, w] = case.shape;
    let n = case.voxels();
    // Overlap of [origin, origin + p) with [0, dim) per axis, in patch coordinates.
    let overlap = |a: usize| {
        let o = spec.origin[a];
        let start = (-o).max(0) as usize;
        let end = ((case.shape[a] as isize - o).min(size[a] as isize)).max(0) as usize;
        (start, end.max(start))
    };
    let (z0, z1) = overlap(0);
    let (y0, y1) = overlap(1);
    let (x0, x1) = overlap(2);
    let run = x1 - x0;
    if run == 0 {
        return;
    }
    let sx = (spec.origin[2] + x0 as isize) as usize;
    let copy: Vec<usize> = channels.modalities().map(Modality::index).collect();
    for pz in z0..z1 {
        let sz = (spec.origin[0] + pz as isize) as usize;
        for py in y0..y1 {
            let sy = (spec.origin[1] + py as isize) as usize;
            let src = (sz * h + sy) * w + sx;
            let dst = (pz * ph + py) * pw + x0;
            for &c in &copy {
                image[c * pn + dst..c * pn + dst + run]
                    .copy_from_slice(&case.image[c * n + src..c * n + src + run]);
            }
            if let Some(regions) = &case.regions {
                let (wt, rest) = target.split_at_mut(pn);
                let (tc, et) = rest.split_at_mut(pn);
                for (((v, a), b), c) in regions[src..src + run]
                    .iter()
                    .zip(&mut wt[dst..dst + run])
                    .zip(&mut tc[dst..dst + run])
                    .zip(&mut et[dst..dst + run])
                {
                    *a = u8::from(v & region_bit(Region::WT) != 0);
                    *b = u8::from(v & region_bit(Region::TC) != 0);
                    *c = u8::from(v & region_bit(Region::ET) != 0);
                }
            }
        }
    }
}

/// Draws a patch position and cuts it: [`sample_spec`] then [`extract`].
pub fn sample_patch<R: Rng + ?Sized>(case: &PreparedCase, cfg: &PatchConfig, rng: &mut R) -> Patch {
    let spec = sample_spec(case, cfg, rng);
    extract(case, cfg.size, spec)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    pub use crate::prepare::tests::synthetic_case;

    /// Checks every voxel of `patch` against `case` (in the volume) or zero (padding).
    fn check_contents(case: &PreparedCase, patch: &Patch) {
        let [pd, ph, pw] = patch.size;
        let pn = patch.voxels();
        let n = case.voxels();
        let targets = case.region_targets();
        for z in 0..pd {
            for y in 0..ph {
                for x in 0..pw {
                    let p = [z, y, x];
                    let s: Vec<isize> = (0..3).map(|a| patch.origin[a] + p[a] as isize).collect();
                    let inside = (0..3).all(|a| s[a] >= 0 && (s[a] as usize) < case.shape[a]);
                    let pi = (z * ph + y) * pw + x;
                    let si = inside.then(|| {
                        ((s[0] as usize) * case.shape[1] + s[1] as usize) * case.shape[2]
                            + s[2] as usize
                    });
                    for c in 0..4 {
                        let want = si.map_or(0.0, |i| case.image[c * n + i]);
                        assert_eq!(patch.image[c * pn + pi], want, "image c{c} at {p:?}");
                    }
                    for r in 0..3 {
                        let want = match (&targets, si) {
                            (Some(t), Some(i)) => t[r * n + i],
                            _ => 0,
                        };
                        assert_eq!(patch.target[r * pn + pi], want, "target r{r} at {p:?}");
                    }
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn patches_stay_in_bounds_and_copy_the_right_voxels(
            shape in prop::array::uniform3(1usize..24),
            size in prop::array::uniform3(1usize..30),
            fraction in 0.0f64..=1.0,
            tumour_at in prop::array::uniform3(0.0f64..1.0),
            seed in any::<u64>(),
        ) {
            let voxel: [usize; 3] = std::array::from_fn(|a| ((tumour_at[a] * shape[a] as f64) as usize).min(shape[a] - 1));
            let hi: [usize; 3] = std::array::from_fn(|a| (voxel[a] + 2).min(shape[a] - 1));
            let case = synthetic_case(shape, Some((voxel, hi)));
            let cfg = PatchConfig { size, foreground_fraction: fraction };
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            for _ in 0..4 {
                let spec = sample_spec(&case, &cfg, &mut rng);
                for a in 0..3 {
                    let (lo, hi) = origin_range(shape[a], size[a]);
                    prop_assert!(lo <= spec.origin[a] && spec.origin[a] <= hi);
                    // In bounds: the patch lies inside the volume, or covers it entirely.
                    let end = spec.origin[a] + size[a] as isize;
                    if shape[a] >= size[a] {
                        prop_assert!(spec.origin[a] >= 0 && end <= shape[a] as isize);
                    } else {
                        prop_assert!(spec.origin[a] <= 0 && end >= shape[a] as isize);
                    }
                }
                let patch = extract(&case, size, spec);
                prop_assert_eq!(patch.image.len(), 4 * cfg.voxels());
                prop_assert_eq!(patch.target.len(), 3 * cfg.voxels());
                check_contents(&case, &patch);
                if let Some(v) = spec.fg_voxel {
                    // The chosen tumour voxel is inside the patch and marked WT there.
                    let p: Vec<usize> = (0..3).map(|a| (v[a] as isize - spec.origin[a]) as usize).collect();
                    prop_assert!((0..3).all(|a| p[a] < size[a]));
                    prop_assert_eq!(patch.target[(p[0] * size[1] + p[1]) * size[2] + p[2]], 1);
                }
            }
        }
    }

    /// Share of patches whose centre voxel is tumour, over `n` draws.
    fn centre_hit_rate(case: &PreparedCase, cfg: &PatchConfig, n: usize, seed: u64) -> (f64, f64) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let [pd, ph, pw] = cfg.size;
        let centre = (pd / 2 * ph + ph / 2) * pw + pw / 2;
        let (mut hits, mut fg) = (0usize, 0usize);
        for _ in 0..n {
            let patch = sample_patch(case, cfg, &mut rng);
            hits += usize::from(patch.target[centre] == 1);
            fg += usize::from(patch.fg_centred);
        }
        (hits as f64 / n as f64, fg as f64 / n as f64)
    }

    #[test]
    fn foreground_fraction_is_as_configured() {
        // A 6³ tumour well inside a 40×44×48 case; 16³ patches never need clamping to centre
        // on it, so a foreground-centred patch always has a tumour centre voxel.
        let case = synthetic_case([40, 44, 48], Some(([17, 19, 21], [22, 24, 26])));
        let size = [16, 16, 16];
        // Background hit rate q: share of uniform origins whose centre voxel is tumour.
        let q: f64 = (0..3)
            .map(|a| {
                let (lo, hi) = origin_range(case.shape[a], size[a]);
                (lo..=hi)
                    .filter(|o| {
                        let c = (*o + (size[a] / 2) as isize) as usize;
                        let (tlo, thi) = ([17, 19, 21][a], [22, 24, 26][a]);
                        tlo <= c && c <= thi
                    })
                    .count() as f64
                    / (hi - lo + 1) as f64
            })
            .product();
        assert!(q > 0.0 && q < 0.05, "q = {q}");
        // 10 000 draws: 4σ ≈ 0.02, so a share off by 0.05 (e.g. 0.45 for 0.5) fails.
        let n = 10_000;
        for (i, fraction) in [0.0, 0.25, 0.5, 1.0].into_iter().enumerate() {
            let cfg = PatchConfig {
                size,
                foreground_fraction: fraction,
            };
            let (hit, fg) = centre_hit_rate(&case, &cfg, n, 10 + i as u64);
            let expected = fraction + (1.0 - fraction) * q;
            let sigma = (expected * (1.0 - expected) / n as f64).sqrt();
            assert!(
                (hit - expected).abs() <= 4.0 * sigma + 1e-9,
                "fraction {fraction}: centre-on-tumour rate {hit}, expected {expected:.4} ± {:.4}",
                4.0 * sigma
            );
            let sigma_fg = (fraction * (1.0 - fraction) / n as f64).sqrt();
            assert!(
                (fg - fraction).abs() <= 4.0 * sigma_fg + 1e-9,
                "fg_centred share {fg}"
            );
        }
        // A case without tumour: every patch uniform, none marked foreground-centred.
        let empty = synthetic_case([20, 20, 20], None);
        let (hit, fg) = centre_hit_rate(&empty, &PatchConfig::cube(8), 200, 1);
        assert_eq!((hit, fg), (0.0, 0.0));
    }

    #[test]
    fn rejects_bad_configs() {
        assert!(PatchConfig::cube(0).check().is_err());
        let mut cfg = PatchConfig::cube(8);
        cfg.foreground_fraction = 1.5;
        assert!(cfg.check().is_err());
        assert!(PatchConfig::default().check().is_ok());
    }
}
