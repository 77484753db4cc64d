//! Data augmentation of training patches, every transform behind a probability and a range in
//! [`AugmentConfig`], every random choice from the caller's seeded generator.
//!
//! * **Rotation** (optional, off by default): a small angle about one axis, applied while the
//!   patch is cut from the case ([`extract_rotated`]), so the corners come from the case and not
//!   from padding. The rotation is in voxel space (BraTS voxels are 1 mm isotropic) about the
//!   patch centre; since it is about a grid axis, trilinear interpolation reduces exactly to
//!   bilinear in the rotated plane (image), nearest neighbour for the labels; zero outside.
//! * **Flips**: per axis with its own probability (image and labels together).
//! * **Intensity**, per channel and each with its own draw: multiplicative scale, additive
//!   shift, and gamma (on the channel's range within the patch, then the channel's mean and
//!   standard deviation restored, as batchgenerators' "retain stats").
//!
//! Intensity transforms touch only nonzero voxels of channels the sample has, so background
//! stays exactly 0 and a missing (all-zero) modality stays all zeros: the network's "missing"
//! input is never disturbed by augmentation.

use super::error::DataError;
use super::patches::{extract_into, sample_spec, Patch, PatchConfig, PatchSpec};
use crate::prepare::{region_bit, PreparedCase};
use crate::study::{Availability, Modality, Region};
use rand::Rng;

/// A transform applied with `probability`, its parameter drawn uniformly from `range`.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Chance {
    pub probability: f64,
    pub range: (f32, f32),
}

impl Chance {
    /// Never applied.
    pub const OFF: Chance = Chance {
        probability: 0.0,
        range: (0.0, 0.0),
    };

    fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<f32> {
        if self.probability <= 0.0 || rng.random::<f64>() >= self.probability {
            return None;
        }
        let (lo, hi) = self.range;
        Some(if hi > lo {
            rng.random_range(lo..=hi)
        } else {
            lo
        })
    }

    fn check(&self, what: &'static str) -> Result<(), DataError> {
        if !(0.0..=1.0).contains(&self.probability)
            || !self.range.0.is_finite()
            || !self.range.1.is_finite()
            || self.range.0 > self.range.1
        {
            return Err(DataError::Config {
                what,
                reason: format!(
                    "probability {} must lie in 0..=1 and range {:?} must be finite with low ≤ high",
                    self.probability, self.range
                ),
            });
        }
        Ok(())
    }
}

/// Small rotations about one grid axis.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RotationConfig {
    pub probability: f64,
    /// The angle is uniform in `±max_degrees`.
    pub max_degrees: f64,
    /// The axes `[D, H, W]` a rotation may be about (one is chosen uniformly among them).
    pub axes: [bool; 3],
}

/// Which augmentations run, how often and how strongly.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AugmentConfig {
    /// Probability of flipping along `[D, H, W]`, each independently.
    pub flip: [f64; 3],
    /// Optional small rotation (`None` = never).
    pub rotation: Option<RotationConfig>,
    /// Multiplicative intensity scale, per channel.
    pub scale: Chance,
    /// Additive intensity shift (in normalised units), per channel.
    pub shift: Chance,
    /// Gamma exponent, per channel.
    pub gamma: Chance,
}

impl Default for AugmentConfig {
    /// Flips p = 0.5 per axis; scale [0.75, 1.25], shift [−0.1, 0.1] and gamma [0.7, 1.5] each
    /// with p = 0.15 per channel (batchgenerators' values as used by MetaKD); no rotation.
    fn default() -> Self {
        AugmentConfig {
            flip: [0.5; 3],
            rotation: None,
            scale: Chance {
                probability: 0.15,
                range: (0.75, 1.25),
            },
            shift: Chance {
                probability: 0.15,
                range: (-0.1, 0.1),
            },
            gamma: Chance {
                probability: 0.15,
                range: (0.7, 1.5),
            },
        }
    }
}

impl AugmentConfig {
    /// No augmentation at all.
    pub fn none() -> AugmentConfig {
        AugmentConfig {
            flip: [0.0; 3],
            rotation: None,
            scale: Chance::OFF,
            shift: Chance::OFF,
            gamma: Chance::OFF,
        }
    }

    /// The default set plus rotations of up to ±10° (p = 0.2) about any axis.
    pub fn with_rotation() -> AugmentConfig {
        AugmentConfig {
            rotation: Some(RotationConfig {
                probability: 0.2,
                max_degrees: 10.0,
                axes: [true; 3],
            }),
            ..AugmentConfig::default()
        }
    }

    pub fn check(&self) -> Result<(), DataError> {
        if self.flip.iter().any(|p| !(0.0..=1.0).contains(p)) {
            return Err(DataError::Config {
                what: "flip probabilities",
                reason: format!("{:?}: each must lie in 0..=1", self.flip),
            });
        }
        if let Some(r) = &self.rotation {
            if !(0.0..=1.0).contains(&r.probability)
                || !(0.0..=180.0).contains(&r.max_degrees)
                || !r.axes.contains(&true)
            {
                return Err(DataError::Config {
                    what: "rotation",
                    reason: "probability must lie in 0..=1, max_degrees in 0..=180, and at least one axis must be allowed".into(),
                });
            }
        }
        self.scale.check("intensity scale")?;
        self.shift.check("intensity shift")?;
        self.gamma.check("gamma")?;
        if self.gamma.probability > 0.0 && self.gamma.range.0 <= 0.0 {
            return Err(DataError::Config {
                what: "gamma",
                reason: format!("range {:?}: gamma must be > 0", self.gamma.range),
            });
        }
        Ok(())
    }

    /// Draws whether and how the next patch is rotated.
    pub fn draw_rotation<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<Rotation> {
        let r = self.rotation?;
        if r.probability <= 0.0 || rng.random::<f64>() >= r.probability {
            return None;
        }
        let axes: Vec<usize> = (0..3).filter(|a| r.axes[*a]).collect();
        let axis = axes[rng.random_range(0..axes.len())];
        let degrees = if r.max_degrees > 0.0 {
            rng.random_range(-r.max_degrees..=r.max_degrees)
        } else {
            0.0
        };
        Some(Rotation {
            axis,
            radians: degrees.to_radians(),
        })
    }

    /// Flips and intensity transforms of an extracted patch, in place. Channels outside
    /// `available` must be zero: they are left as they are.
    pub fn apply<R: Rng + ?Sized>(&self, patch: &mut Patch, available: Availability, rng: &mut R) {
        let size = patch.size;
        self.apply_to(&mut patch.image, &mut patch.target, size, available, rng);
    }

    /// [`AugmentConfig::apply`] on bare `[4, D, H, W]` / `[3, D, H, W]` buffers.
    pub(crate) fn apply_to<R: Rng + ?Sized>(
        &self,
        image: &mut [f32],
        target: &mut [u8],
        size: [usize; 3],
        available: Availability,
        rng: &mut R,
    ) {
        let pn: usize = size.iter().product();
        for c in 0..4 {
            let scale = self.scale.draw(rng);
            let shift = self.shift.draw(rng);
            let gamma = self.gamma.draw(rng);
            if !available.contains(Modality::ALL[c]) {
                continue;
            }
            let ch = &mut image[c * pn..(c + 1) * pn];
            if let Some(g) = gamma {
                apply_gamma(ch, g);
            }
            if let Some(s) = scale {
                ch.iter_mut().filter(|v| **v != 0.0).for_each(|v| *v *= s);
            }
            if let Some(d) = shift {
                ch.iter_mut().filter(|v| **v != 0.0).for_each(|v| *v += d);
            }
        }
        for axis in 0..3 {
            if self.flip[axis] > 0.0 && rng.random::<f64>() < self.flip[axis] {
                flip_channels(&mut image[..4 * pn], size, axis, &available.flags());
                flip_channels(&mut target[..3 * pn], size, axis, &[true; 3]);
            }
        }
    }
}

/// A rotation by `radians` about grid axis `axis` (0 = D, 1 = H, 2 = W).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rotation {
    pub axis: usize,
    pub radians: f64,
}

/// Draws a patch position, an optional rotation, cuts the patch and augments it: the whole
/// per-sample pipeline. `available` is the sample's modality set: only those channels are
/// filled (the others stay zero).
pub fn sample_augmented<R: Rng + ?Sized>(
    case: &PreparedCase,
    patch: &PatchConfig,
    augment: &AugmentConfig,
    available: Availability,
    rng: &mut R,
) -> Patch {
    let pn = patch.voxels();
    let mut image = vec![0.0f32; 4 * pn];
    let mut target = vec![0u8; 3 * pn];
    let spec = sample_augmented_into(
        case,
        patch,
        augment,
        available,
        rng,
        &mut image,
        &mut target,
    );
    Patch {
        size: patch.size,
        image,
        target,
        origin: spec.origin,
        fg_centred: spec.fg_voxel.is_some(),
    }
}

/// [`sample_augmented`] into zeroed caller buffers; returns where the patch was cut.
pub(crate) fn sample_augmented_into<R: Rng + ?Sized>(
    case: &PreparedCase,
    patch: &PatchConfig,
    augment: &AugmentConfig,
    available: Availability,
    rng: &mut R,
    image: &mut [f32],
    target: &mut [u8],
) -> PatchSpec {
    let spec = sample_spec(case, patch, rng);
    let rotation = augment.draw_rotation(rng);
    cut_and_augment(
        case,
        Placement::whole(case),
        patch.size,
        spec,
        rotation,
        augment,
        available,
        rng,
        (image, target),
    );
    spec
}

/// Where the voxel array of a [`PreparedCase`] lies in the whole case: `at` is the position of
/// its first voxel, `full` the whole case's shape. A case in memory is its own whole; a window
/// read from a prepared file covers a box of its case. Cuts compute positions in whole-case
/// coordinates, so a patch cut from a window equals, bit for bit, the patch cut from the whole
/// case, as long as the window holds every voxel the cut reads ([`cut_footprint`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Placement {
    pub at: [usize; 3],
    pub full: [usize; 3],
}

impl Placement {
    pub fn whole(case: &PreparedCase) -> Placement {
        Placement {
            at: [0; 3],
            full: case.shape,
        }
    }
}

/// Cuts the patch `spec` (rotated by `rotation`, if any) of `size` from `case` (placed at
/// `place`) into zeroed buffers, then flips and intensity-augments it. The random draws after
/// the position and the rotation happen here, in the same order for every caller.
#[allow(clippy::too_many_arguments)]
pub(crate) fn cut_and_augment<R: Rng + ?Sized>(
    case: &PreparedCase,
    place: Placement,
    size: [usize; 3],
    spec: PatchSpec,
    rotation: Option<Rotation>,
    augment: &AugmentConfig,
    available: Availability,
    rng: &mut R,
    (image, target): (&mut [f32], &mut [u8]),
) {
    match rotation {
        Some(rot) => extract_rotated_into(case, place, size, spec, rot, available, image, target),
        None => {
            let local = PatchSpec {
                origin: std::array::from_fn(|a| spec.origin[a] - place.at[a] as isize),
                fg_voxel: spec.fg_voxel,
            };
            extract_into(case, size, local, available, image, target)
        }
    }
    augment.apply_to(image, target, size, available, rng);
}

/// The box `[lo, hi)` of the whole case (shape `full`) that cutting `spec` of `size`, rotated
/// by `rotation`, reads: the patch box, widened in the rotation plane to the rotated patch's
/// extent plus one voxel for the bilinear corners, clamped to the case.
pub(crate) fn cut_footprint(
    full: [usize; 3],
    size: [usize; 3],
    spec: PatchSpec,
    rotation: Option<Rotation>,
) -> ([usize; 3], [usize; 3]) {
    let mut lo: [f64; 3] = std::array::from_fn(|a| spec.origin[a] as f64);
    let mut hi: [f64; 3] = std::array::from_fn(|a| (spec.origin[a] + size[a] as isize) as f64);
    if let Some(rot) = rotation {
        let axis = rot.axis.min(2);
        let (a, b) = plane_axes(axis);
        let (sin, cos) = rot.radians.sin_cos();
        let half = |x: usize| (x as f64 - 1.0) / 2.0;
        let reach_a = cos.abs() * half(size[a]) + sin.abs() * half(size[b]);
        let reach_b = sin.abs() * half(size[a]) + cos.abs() * half(size[b]);
        for (ax, reach) in [(a, reach_a), (b, reach_b)] {
            let centre = spec.origin[ax] as f64 + half(size[ax]);
            lo[ax] = (centre - reach).floor() - 1.0;
            hi[ax] = (centre + reach).ceil() + 2.0;
        }
    }
    let lo = std::array::from_fn(|a| lo[a].max(0.0).min(full[a] as f64) as usize);
    let hi = std::array::from_fn(|a| hi[a].max(0.0).min(full[a] as f64) as usize);
    (lo, hi)
}

/// The in-plane axes of a rotation about `axis`.
fn plane_axes(axis: usize) -> (usize, usize) {
    match axis {
        0 => (1, 2),
        1 => (0, 2),
        _ => (0, 1),
    }
}

/// Reverses `patch` along `axis` (0 = D, 1 = H, 2 = W), image and target together.
pub fn flip(patch: &mut Patch, axis: usize) {
    let size = patch.size;
    flip_channels(&mut patch.image, size, axis, &[true; 4]);
    flip_channels(&mut patch.target, size, axis, &[true; 3]);
}

/// Reverses the channels of `data` whose bit is set in `which` along `axis`.
fn flip_channels<T: Copy>(data: &mut [T], size: [usize; 3], axis: usize, which: &[bool]) {
    let [d, h, w] = size;
    let n = d * h * w;
    for (ch, _) in data
        .chunks_exact_mut(n)
        .zip(which)
        .filter(|(_, flip)| **flip)
    {
        match axis {
            2 => ch.chunks_exact_mut(w).for_each(|row| row.reverse()),
            1 => {
                for slab in ch.chunks_exact_mut(h * w) {
                    for y in 0..h / 2 {
                        let (top, bottom) = slab.split_at_mut((h - 1 - y) * w);
                        top[y * w..(y + 1) * w].swap_with_slice(&mut bottom[..w]);
                    }
                }
            }
            _ => {
                let slab = h * w;
                for z in 0..d / 2 {
                    let (front, back) = ch.split_at_mut((d - 1 - z) * slab);
                    front[z * slab..(z + 1) * slab].swap_with_slice(&mut back[..slab]);
                }
            }
        }
    }
}

/// Gamma on the nonzero voxels: map their range to [0, 1], raise to `g`, map back, then
/// restore their mean and standard deviation.
fn apply_gamma(ch: &mut [f32], g: f32) {
    let (mut min, mut max, mut sum, mut sq, mut count) =
        (f32::INFINITY, f32::NEG_INFINITY, 0.0f64, 0.0f64, 0usize);
    for v in ch.iter().filter(|v| **v != 0.0) {
        min = min.min(*v);
        max = max.max(*v);
        sum += *v as f64;
        sq += (*v as f64).powi(2);
        count += 1;
    }
    let range = max - min;
    if count < 2 || range <= 0.0 {
        return;
    }
    let mean = sum / count as f64;
    let std = (sq / count as f64 - mean * mean).max(0.0).sqrt();
    let (mut sum2, mut sq2) = (0.0f64, 0.0f64);
    for v in ch.iter_mut().filter(|v| **v != 0.0) {
        let t = ((*v - min) / range).clamp(0.0, 1.0).powf(g) * range + min;
        // Keep background and foreground apart: a voxel must not land exactly on 0.
        *v = if t == 0.0 { f32::MIN_POSITIVE } else { t };
        sum2 += *v as f64;
        sq2 += (*v as f64).powi(2);
    }
    let mean2 = sum2 / count as f64;
    let std2 = (sq2 / count as f64 - mean2 * mean2).max(0.0).sqrt();
    if std2 <= 1e-12 {
        return;
    }
    let a = std / std2;
    for v in ch.iter_mut().filter(|v| **v != 0.0) {
        let t = ((*v as f64 - mean2) * a + mean) as f32;
        *v = if t == 0.0 { f32::MIN_POSITIVE } else { t };
    }
}

/// Cuts a patch like [`extract`](super::patches::extract) but rotated by `rot` about the patch centre: output voxel
/// `p` takes the case value at `centre + R·(p − centre)` (bilinear in the rotated plane for
/// the image, nearest for the labels, 0 outside the case).
pub fn extract_rotated(
    case: &PreparedCase,
    size: [usize; 3],
    spec: PatchSpec,
    rot: Rotation,
) -> Patch {
    super::patches::filled_patch(size, spec, |image, target| {
        let place = Placement::whole(case);
        extract_rotated_into(
            case,
            place,
            size,
            spec,
            rot,
            Availability::FULL,
            image,
            target,
        )
    })
}

/// [`extract_rotated`] into zeroed caller buffers, image channels in `channels` only; `case`
/// is placed at `place` in its whole case, and `spec` is in whole-case coordinates.
#[allow(clippy::too_many_arguments)]
fn extract_rotated_into(
    case: &PreparedCase,
    place: Placement,
    size: [usize; 3],
    spec: PatchSpec,
    rot: Rotation,
    channels: Availability,
    image: &mut [f32],
    target: &mut [u8],
) {
    let axis = rot.axis.min(2);
    let (a, b) = plane_axes(axis);
    let cs = [case.shape[1] * case.shape[2], case.shape[2], 1];
    let ps = [size[1] * size[2], size[2], 1];
    let n = case.voxels();
    let pn: usize = size.iter().product();
    let copy: Vec<usize> = channels.modalities().map(Modality::index).collect();
    let (corners, nearest) = plane_samples(place, size, spec, rot, (a, b), cs);

    // In-plane output offsets, in the same order as `corners` and `nearest`.
    let outs: Vec<usize> = (0..size[a])
        .flat_map(|u| (0..size[b]).map(move |v| u * ps[a] + v * ps[b]))
        .collect();
    // Rows along the rotation axis that lie inside the case.
    let t0 = (-spec.origin[axis]).clamp(0, size[axis] as isize) as usize;
    let t1 = (place.full[axis] as isize - spec.origin[axis]).clamp(t0 as isize, size[axis] as isize)
        as usize;
    if t0 == t1 {
        return;
    }
    let s0 = (spec.origin[axis] + t0 as isize) as usize - place.at[axis];
    let cut = RotatedCut {
        copy,
        n,
        pn,
        corners,
        nearest,
        outs,
        t0,
        t1,
        s0,
        case_stride: cs[axis],
        patch_stride: ps[axis],
    };
    if axis == 2 {
        fill_runs(case, &cut, image, target);
    } else {
        // Otherwise whole planes at a time, which keeps the in-plane rows contiguous.
        fill_planes(case, &cut, image, target);
    }
}

/// What a rotated cut reads and writes, shared by every row along the rotation axis.
struct RotatedCut {
    /// The image channels to fill.
    copy: Vec<usize>,
    /// Voxels of one case channel and of one patch channel.
    n: usize,
    pn: usize,
    /// Per in-plane output voxel: bilinear corners (offset, weight) and the nearest offset.
    corners: Vec<BilinearCell>,
    nearest: Vec<Option<usize>>,
    /// In-plane output offsets, in the same order as `corners` and `nearest`.
    outs: Vec<usize>,
    /// Patch rows `t0..t1` along the rotation axis lie inside the case, the first at case row
    /// `s0`.
    t0: usize,
    t1: usize,
    s0: usize,
    /// One step along the rotation axis in the case and in the patch.
    case_stride: usize,
    patch_stride: usize,
}

/// The four bilinear corners of one in-plane sample: (case offset, weight).
type BilinearCell = [(usize, f32); 4];

/// The in-plane sampling of a cut rotated by `rot` in the plane of axes `a` and `b`: per
/// in-plane output voxel (row-major), the bilinear corners (offset into the placed array with
/// strides `cs`, weight; offset 0 and weight 0 outside the whole case) and the nearest offset
/// (`None` outside the whole case). Positions are computed in whole-case coordinates.
fn plane_samples(
    place: Placement,
    size: [usize; 3],
    spec: PatchSpec,
    rot: Rotation,
    (a, b): (usize, usize),
    cs: [usize; 3],
) -> (Vec<BilinearCell>, Vec<Option<usize>>) {
    let (sin, cos) = rot.radians.sin_cos();
    let ca = spec.origin[a] as f64 + (size[a] as f64 - 1.0) / 2.0;
    let cb = spec.origin[b] as f64 + (size[b] as f64 - 1.0) / 2.0;

    // Per in-plane output voxel: bilinear corners (offset, weight) and the nearest offset.
    let mut corners: Vec<BilinearCell> = Vec::with_capacity(size[a] * size[b]);
    let mut nearest: Vec<Option<usize>> = Vec::with_capacity(size[a] * size[b]);
    let inside = |i: isize, ax: usize| i >= 0 && (i as usize) < place.full[ax];
    let at = |i: isize, ax: usize| (i as usize - place.at[ax]) * cs[ax];
    for u in 0..size[a] {
        for v in 0..size[b] {
            let du = spec.origin[a] as f64 + u as f64 - ca;
            let dv = spec.origin[b] as f64 + v as f64 - cb;
            let fa = ca + cos * du - sin * dv;
            let fb = cb + sin * du + cos * dv;
            let (ia, ib) = (fa.floor() as isize, fb.floor() as isize);
            let (ta, tb) = ((fa - ia as f64) as f32, (fb - ib as f64) as f32);
            let mut cell = [(0usize, 0.0f32); 4];
            for (k, (oa, ob, wgt)) in [
                (0, 0, (1.0 - ta) * (1.0 - tb)),
                (1, 0, ta * (1.0 - tb)),
                (0, 1, (1.0 - ta) * tb),
                (1, 1, ta * tb),
            ]
            .into_iter()
            .enumerate()
            {
                let (ja, jb) = (ia + oa, ib + ob);
                if inside(ja, a) && inside(jb, b) {
                    cell[k] = (at(ja, a) + at(jb, b), wgt);
                }
            }
            corners.push(cell);
            let (ra, rb) = (fa.round() as isize, fb.round() as isize);
            nearest.push((inside(ra, a) && inside(rb, b)).then(|| at(ra, a) + at(rb, b)));
        }
    }
    (corners, nearest)
}

/// Fills a cut rotated about W: for each in-plane voxel, one contiguous run of image values
/// (bilinear) and labels (nearest) along the rotation axis.
fn fill_runs(case: &PreparedCase, cut: &RotatedCut, image: &mut [f32], target: &mut [u8]) {
    let (n, pn, t0, t1, s0) = (cut.n, cut.pn, cut.t0, cut.t1, cut.s0);
    let run = t1 - t0;
    // The rotation axis is the contiguous one: for each in-plane voxel, one contiguous run.
    for &c in &cut.copy {
        let chan = &case.image[c * n..(c + 1) * n];
        let dst = &mut image[c * pn..(c + 1) * pn];
        for (cell, o) in cut.corners.iter().zip(&cut.outs) {
            let out = &mut dst[o + t0..o + t1];
            let src = |k: usize| &chan[cell[k].0 + s0..cell[k].0 + s0 + run];
            let (a0, a1, a2, a3) = (src(0), src(1), src(2), src(3));
            let (w0, w1, w2, w3) = (cell[0].1, cell[1].1, cell[2].1, cell[3].1);
            for i in 0..run {
                out[i] = w0 * a0[i] + w1 * a1[i] + w2 * a2[i] + w3 * a3[i];
            }
        }
    }
    if let Some(regions) = &case.regions {
        let (wt, rest) = target.split_at_mut(pn);
        let (tc, et) = rest.split_at_mut(pn);
        for (near, o) in cut.nearest.iter().zip(&cut.outs) {
            let Some(off) = near else { continue };
            for (i, bits) in regions[off + s0..off + s0 + run].iter().enumerate() {
                wt[o + t0 + i] = u8::from(bits & region_bit(Region::WT) != 0);
                tc[o + t0 + i] = u8::from(bits & region_bit(Region::TC) != 0);
                et[o + t0 + i] = u8::from(bits & region_bit(Region::ET) != 0);
            }
        }
    }
}

/// Fills a cut rotated about D or H one whole plane at a time: image values bilinear, labels
/// nearest.
fn fill_planes(case: &PreparedCase, cut: &RotatedCut, image: &mut [f32], target: &mut [u8]) {
    let (n, pn, t0, s0) = (cut.n, cut.pn, cut.t0, cut.s0);
    for t in t0..cut.t1 {
        let base = (s0 + t - t0) * cut.case_stride;
        let tb = t * cut.patch_stride;
        for &c in &cut.copy {
            let chan = &case.image[c * n..(c + 1) * n];
            let dst = &mut image[c * pn..(c + 1) * pn];
            for (cell, o) in cut.corners.iter().zip(&cut.outs) {
                // Corners outside the case have weight 0 and offset 0 (a valid voxel).
                dst[tb + o] = cell[0].1 * chan[base + cell[0].0]
                    + cell[1].1 * chan[base + cell[1].0]
                    + cell[2].1 * chan[base + cell[2].0]
                    + cell[3].1 * chan[base + cell[3].0];
            }
        }
        if let Some(regions) = &case.regions {
            let (wt, rest) = target.split_at_mut(pn);
            let (tc, et) = rest.split_at_mut(pn);
            for (near, o) in cut.nearest.iter().zip(&cut.outs) {
                if let Some(off) = near {
                    let bits = regions[base + off];
                    wt[tb + o] = u8::from(bits & region_bit(Region::WT) != 0);
                    tc[tb + o] = u8::from(bits & region_bit(Region::TC) != 0);
                    et[tb + o] = u8::from(bits & region_bit(Region::ET) != 0);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::patches::extract;
    use crate::data::patches::tests::synthetic_case;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn everything_always() -> AugmentConfig {
        AugmentConfig {
            flip: [1.0; 3],
            rotation: Some(RotationConfig {
                probability: 1.0,
                max_degrees: 10.0,
                axes: [true; 3],
            }),
            scale: Chance {
                probability: 1.0,
                range: (0.5, 1.5),
            },
            shift: Chance {
                probability: 1.0,
                range: (-0.5, 0.5),
            },
            gamma: Chance {
                probability: 1.0,
                range: (0.5, 2.0),
            },
        }
    }

    #[test]
    fn keeps_shapes_zero_channels_and_background() {
        let mut case = synthetic_case([20, 22, 24], Some(([8, 8, 8], [12, 13, 14])));
        // T1 missing: zero channel; background: an all-zero slab in every channel.
        let n = case.voxels();
        case.image[n..2 * n].iter_mut().for_each(|v| *v = 0.0);
        case.available = Availability::from_id(0b1101);
        let slab = 22 * 24;
        for c in 0..4 {
            case.image[c * n..c * n + 3 * slab]
                .iter_mut()
                .for_each(|v| *v = 0.0);
        }
        let cfg = everything_always();
        cfg.check().unwrap();
        let patch_cfg = PatchConfig {
            size: [16, 12, 20],
            foreground_fraction: 0.5,
        };
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for _ in 0..20 {
            let p = sample_augmented(&case, &patch_cfg, &cfg, case.available, &mut rng);
            assert_eq!(p.size, [16, 12, 20]);
            assert_eq!(p.image.len(), 4 * 16 * 12 * 20);
            assert_eq!(p.target.len(), 3 * 16 * 12 * 20);
            let pn = p.voxels();
            assert!(
                p.image[pn..2 * pn].iter().all(|v| *v == 0.0),
                "missing channel changed"
            );
            assert!(p.image.iter().all(|v| v.is_finite()));
            assert!(p.target.iter().all(|v| *v <= 1));
            // Background voxels (zero in FLAIR) are zero in every channel after augmentation:
            // intensity transforms leave zeros alone.
            for c in [2, 3] {
                for i in 0..pn {
                    if p.image[i] == 0.0 {
                        assert_eq!(p.image[c * pn + i], 0.0);
                    }
                }
            }
        }
        // A missing channel is never touched even when the mask says it is present but it is
        // all zero (nothing nonzero to transform).
        let mut rng = ChaCha8Rng::seed_from_u64(4);
        let p = sample_augmented(&case, &patch_cfg, &cfg, Availability::FULL, &mut rng);
        assert!(p.image[p.voxels()..2 * p.voxels()]
            .iter()
            .all(|v| *v == 0.0));
        assert!(AugmentConfig::default().check().is_ok());
        assert!(AugmentConfig::with_rotation().check().is_ok());
        let mut bad = AugmentConfig::default();
        bad.gamma.range = (-1.0, 1.0);
        assert!(bad.check().is_err());
    }

    #[test]
    fn flips_reverse_one_axis_and_undo_themselves() {
        let case = synthetic_case([5, 6, 7], Some(([1, 1, 1], [3, 4, 5])));
        let spec = PatchSpec {
            origin: [0, 0, 0],
            fg_voxel: None,
        };
        let original = extract(&case, [5, 6, 7], spec);
        for axis in 0..3 {
            let mut p = original.clone();
            flip(&mut p, axis);
            assert_ne!(p, original);
            for z in 0..5 {
                for y in 0..6 {
                    for x in 0..7 {
                        let mut q = [z, y, x];
                        q[axis] = [5, 6, 7][axis] - 1 - q[axis];
                        let i = (z * 6 + y) * 7 + x;
                        let j = (q[0] * 6 + q[1]) * 7 + q[2];
                        assert_eq!(p.image[2 * 210 + i], original.image[2 * 210 + j]);
                        assert_eq!(p.target[210 + i], original.target[210 + j]);
                    }
                }
            }
            flip(&mut p, axis);
            assert_eq!(p, original);
        }
    }

    #[test]
    fn rotation_by_zero_is_plain_extraction_and_quarter_turn_permutes() {
        let case = synthetic_case([10, 8, 8], Some(([2, 1, 3], [6, 4, 5])));
        let spec = PatchSpec {
            origin: [1, 0, 0],
            fg_voxel: None,
        };
        let plain = extract(&case, [6, 8, 8], spec);
        for axis in 0..3 {
            let r = extract_rotated(&case, [6, 8, 8], spec, Rotation { axis, radians: 0.0 });
            assert_eq!(r.target, plain.target, "axis {axis}");
            for (x, y) in r.image.iter().zip(&plain.image) {
                assert!((x - y).abs() <= 1e-3 * y.abs().max(1.0), "{x} vs {y}");
            }
        }
        // 90° about D on an 8×8 in-plane patch: out[t][u][v] = in[t][7 − v][u].
        let r = extract_rotated(
            &case,
            [6, 8, 8],
            spec,
            Rotation {
                axis: 0,
                radians: std::f64::consts::FRAC_PI_2,
            },
        );
        for t in 0..6 {
            for u in 0..8 {
                for v in 0..8 {
                    let o = (t * 8 + u) * 8 + v;
                    let i = (t * 8 + (7 - v)) * 8 + u;
                    assert_eq!(r.target[o], plain.target[i]);
                    let (x, y) = (r.image[3 * 384 + o], plain.image[3 * 384 + i]);
                    assert!((x - y).abs() <= 1e-3 * y.abs(), "{x} vs {y}");
                }
            }
        }
        // 90° about W (the contiguous axis) on an 8×8 (D, H) plane: out[u][v][t] = in[7 − v][u][t].
        let case_w = synthetic_case([8, 8, 10], Some(([2, 1, 3], [6, 4, 5])));
        let spec_w = PatchSpec {
            origin: [0, 0, 2],
            fg_voxel: None,
        };
        let plain = extract(&case_w, [8, 8, 6], spec_w);
        let r = extract_rotated(
            &case_w,
            [8, 8, 6],
            spec_w,
            Rotation {
                axis: 2,
                radians: std::f64::consts::FRAC_PI_2,
            },
        );
        for u in 0..8 {
            for v in 0..8 {
                for t in 0..6 {
                    let o = (u * 8 + v) * 6 + t;
                    let i = ((7 - v) * 8 + u) * 6 + t;
                    assert_eq!(r.target[o], plain.target[i]);
                    let (x, y) = (r.image[384 + o], plain.image[384 + i]);
                    assert!((x - y).abs() <= 1e-3 * y.abs(), "{x} vs {y}");
                }
            }
        }
        // A 45° turn leaves the corners of the plane outside the case: zero there.
        let r = extract_rotated(
            &case,
            [10, 8, 8],
            PatchSpec {
                origin: [0, 0, 0],
                fg_voxel: None,
            },
            Rotation {
                axis: 0,
                radians: std::f64::consts::FRAC_PI_4,
            },
        );
        assert_eq!(r.image[0], 0.0);
        assert!(r.image[(5 * 8 + 4) * 8 + 4] > 0.0);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(100))]
        /// Rotated cuts never index outside the case, whatever the shapes (including cases
        /// smaller than the patch and patches hanging off the case), and equal plain cuts at 0°.
        #[test]
        fn rotated_cuts_stay_in_bounds(
            shape in proptest::array::uniform3(1usize..14),
            size in proptest::array::uniform3(1usize..18),
            origin in proptest::array::uniform3(-20isize..20),
            axis in 0usize..3,
            degrees in -180.0f64..180.0,
        ) {
            let case = synthetic_case(shape, Some(([0, 0, 0], shape.map(|s| s / 2))));
            let spec = PatchSpec { origin, fg_voxel: None };
            let r = extract_rotated(&case, size, spec, Rotation { axis, radians: degrees.to_radians() });
            let pn: usize = size.iter().product();
            proptest::prop_assert_eq!(r.image.len(), 4 * pn);
            proptest::prop_assert!(r.image.iter().all(|v| v.is_finite() && *v >= 0.0));
            proptest::prop_assert!(r.target.iter().all(|v| *v <= 1));
            let zero = extract_rotated(&case, size, spec, Rotation { axis, radians: 0.0 });
            let plain = extract(&case, size, spec);
            proptest::prop_assert_eq!(&zero.target, &plain.target);
            for (x, y) in zero.image.iter().zip(&plain.image) {
                proptest::prop_assert!((x - y).abs() <= 1e-3 * y.abs().max(1.0));
            }
        }
    }

    #[test]
    fn gamma_retains_mean_and_std_of_the_brain() {
        let mut ch: Vec<f32> = (0..1000)
            .map(|i| {
                if i % 10 == 0 {
                    0.0
                } else {
                    (i as f32 / 100.0) - 3.0
                }
            })
            .collect();
        let before: Vec<f32> = ch.iter().cloned().filter(|v| *v != 0.0).collect();
        apply_gamma(&mut ch, 1.7);
        let after: Vec<f32> = ch.iter().cloned().filter(|v| *v != 0.0).collect();
        assert_eq!(before.len(), after.len());
        let stats = |v: &[f32]| {
            let m = v.iter().map(|x| *x as f64).sum::<f64>() / v.len() as f64;
            let s =
                (v.iter().map(|x| (*x as f64 - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
            (m, s)
        };
        let ((m0, s0), (m1, s1)) = (stats(&before), stats(&after));
        assert!(
            (m0 - m1).abs() < 1e-3 && (s0 - s1).abs() < 1e-3,
            "{m0} {s0} → {m1} {s1}"
        );
        assert!(
            before.iter().zip(&after).any(|(a, b)| (a - b).abs() > 0.01),
            "gamma did nothing"
        );
        for i in (0..1000).step_by(10) {
            assert_eq!(ch[i], 0.0);
        }
    }
}
