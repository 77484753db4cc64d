//! Domain randomisation (the SynthSeg idea, Billot et al. 2023): with
//! [`super::PhantomConfig::randomise`] every case draws its own scanner and protocol, per
//! sequence, so that a network trained on phantoms cannot lean on one intensity model. The
//! draws come from a stream of their own, so a phantom without randomisation is byte for byte
//! what it was before this mode existed.
//!
//! The knobs, their ranges and why (each range is a constant below):
//!
//! | knob | range | why |
//! |---|---|---|
//! | tissue signal | reference × e^U(±0.35), each sequence's tissue order kept | scanners and protocols move grey/white/CSF contrast a lot, never its order |
//! | tumour signal | oedema and rim × one e^U(±0.25) per sequence, necrosis its own | the rim stays oedema-like off T1ce (the design of [`super::physics`]) |
//! | bias field | 0.2–2.5 × the default amplitude | from modern coils to old 1.5 T body-coil scans |
//! | Rician noise | σ 0.5–8 % of white matter on T1 | from denoised research scans to fast clinical ones |
//! | thick slices | half the sequences: 2–6 mm along one random axis | 2D clinical protocols resampled to 1 mm |
//! | blur | Gaussian σ 0–1 mm | reconstruction filters, registration resampling |
//! | gamma | v^e^U(±0.3) | non-linear display and scanner windowing |
//! | ghosting | one in five sequences: a 2–10 % copy shifted along one axis | motion and pulsation ghosts along the phase-encode axis |
//! | partial volume | always on | tissues are fractions per voxel ([`super::anatomy`]) |
//! | stored values | int16 with 100–3000 for white matter; one case in four z-scored float32 with its background | raw BraTS files and the z-scored copies people re-share |
//!
//! Thick slices, blur, ghosting and gamma act on the generated sequence inside the brain (the
//! skull-stripped mask stays sharp, as in BraTS), before the values are stored.

use super::physics::{Acquisition, Contrast, MODALITIES};
use rand::Rng;

/// Tissue signals are scaled by e^U(−x, x).
pub const TISSUE_LOG_JITTER: f32 = 0.35;
/// Tumour signals are scaled by e^U(−x, x).
pub const TUMOUR_LOG_JITTER: f32 = 0.25;
/// Bias field amplitude relative to the default generator's.
pub const BIAS_SCALE: (f32, f32) = (0.2, 2.5);
/// Rician noise σ relative to white matter on T1.
pub const NOISE_LEVEL: (f32, f32) = (0.005, 0.08);
/// Chance that a sequence was acquired with thick slices, and their thickness (mm).
pub const THICK_SLICE_PROBABILITY: f64 = 0.5;
pub const THICK_SLICE_MM: (f32, f32) = (2.0, 6.0);
/// Isotropic Gaussian blur σ (mm).
pub const BLUR_MM: (f32, f32) = (0.0, 1.0);
/// Gamma exponent e^U(−x, x).
pub const GAMMA_LOG: f32 = 0.3;
/// Chance of a ghost per sequence, and its amplitude relative to the image.
pub const GHOST_PROBABILITY: f64 = 0.2;
pub const GHOST_AMPLITUDE: (f32, f32) = (0.02, 0.1);
/// Stored value of white matter's reference signal (int16 cases).
pub const SCALE: (f32, f32) = (100.0, 3000.0);
/// Chance that a case is stored as z-scored float32 with a non-zero background.
pub const Z_SCORED_PROBABILITY: f64 = 0.25;

/// The per-case draws that act after the voxels are generated.
#[derive(Debug, Clone, PartialEq)]
pub struct Randomisation {
    /// Per sequence: the axis (0 x, 1 y, 2 z) and thickness in mm of thick slices.
    pub thick_slices: [Option<(usize, f32)>; MODALITIES],
    /// Per sequence: isotropic blur σ in mm.
    pub blur_mm: [f32; MODALITIES],
    /// Per sequence: gamma exponent.
    pub gamma: [f32; MODALITIES],
    /// Per sequence: a ghost (axis, shift in voxels, amplitude).
    pub ghost: [Option<(usize, isize, f32)>; MODALITIES],
    /// Store z-scored float32 values with the background z-scored too.
    pub z_scored: bool,
}

impl Randomisation {
    /// Draws a case's contrast, acquisition and post-processing from `rng`.
    pub fn draw<R: Rng>(rng: &mut R) -> (Contrast, Acquisition, Randomisation) {
        let contrast = randomised_contrast(rng);
        let bias_scale = rng_range(rng, BIAS_SCALE);
        let acquisition = Acquisition::random_with(rng, bias_scale, NOISE_LEVEL, SCALE);
        let post = Randomisation {
            thick_slices: std::array::from_fn(|_| {
                rng.random_bool(THICK_SLICE_PROBABILITY)
                    .then(|| (rng.random_range(0..3), rng_range(rng, THICK_SLICE_MM)))
            }),
            blur_mm: std::array::from_fn(|_| rng_range(rng, BLUR_MM)),
            gamma: std::array::from_fn(|_| rng.random_range(-GAMMA_LOG..GAMMA_LOG).exp()),
            ghost: std::array::from_fn(|_| {
                rng.random_bool(GHOST_PROBABILITY).then(|| {
                    let shift = rng.random_range(8i64..40) as isize;
                    let shift = if rng.random_bool(0.5) { shift } else { -shift };
                    (
                        rng.random_range(0..2),
                        shift,
                        rng_range(rng, GHOST_AMPLITUDE),
                    )
                })
            }),
            z_scored: rng.random_bool(Z_SCORED_PROBABILITY),
        };
        (contrast, acquisition, post)
    }

    /// Applies thick slices, blur, ghosting and gamma to one sequence (`[nx, ny, nz]`, `x`
    /// fastest, voxels of `voxel_mm`) inside `brain`, then stores it: rounded int16 values, or
    /// z-scored floats whose background is the z-score of 0.
    pub fn apply(
        &self,
        m: usize,
        data: &mut [f32],
        shape: [usize; 3],
        voxel_mm: f32,
        brain: &[bool],
    ) {
        if let Some((axis, thickness)) = self.thick_slices[m] {
            // A slab of `thickness` mm averaged, as a Gaussian of the same FWHM.
            gaussian_blur(data, shape, axis, thickness / 2.355 / voxel_mm);
        }
        for axis in 0..3 {
            gaussian_blur(data, shape, axis, self.blur_mm[m] / voxel_mm);
        }
        if let Some((axis, shift, amplitude)) = self.ghost[m] {
            add_ghost(data, shape, axis, shift, amplitude);
        }
        let top = data
            .iter()
            .zip(brain)
            .filter(|(_, b)| **b)
            .fold(0f32, |a, (v, _)| a.max(*v));
        for (v, b) in data.iter_mut().zip(brain) {
            *v = if *b && top > 0.0 {
                top * (v.max(0.0) / top).powf(self.gamma[m])
            } else {
                0.0
            };
        }
        if self.z_scored {
            z_score(data, brain);
        } else {
            data.iter_mut()
                .for_each(|v| *v = v.round().clamp(0.0, 32767.0));
        }
    }
}

fn rng_range<R: Rng>(rng: &mut R, (low, high): (f32, f32)) -> f32 {
    rng.random_range(low..high)
}

/// The reference contrast with every tissue signal scaled by e^U(±[`TISSUE_LOG_JITTER`]) and
/// re-ordered so each sequence keeps the reference order of CSF, grey, white and deep grey
/// matter; tumour compartments as the module docs say.
fn randomised_contrast<R: Rng>(rng: &mut R) -> Contrast {
    let mut c = Contrast::reference();
    let normal = 4; // CSF, GM, WM, deep GM; choroid and vessels are jittered freely
    for m in 0..MODALITIES {
        let reference: Vec<f32> = (0..normal).map(|t| c.tissue[t][m]).collect();
        let mut drawn: Vec<f32> = reference
            .iter()
            .map(|v| {
                v * rng
                    .random_range(-TISSUE_LOG_JITTER..TISSUE_LOG_JITTER)
                    .exp()
            })
            .collect();
        drawn.sort_by(f32::total_cmp);
        let mut rank: Vec<usize> = (0..normal).collect();
        rank.sort_by(|a, b| reference[*a].total_cmp(&reference[*b]));
        for (r, t) in rank.into_iter().enumerate() {
            c.tissue[t][m] = drawn[r];
        }
        for row in &mut c.tissue[normal..] {
            row[m] *= rng
                .random_range(-TISSUE_LOG_JITTER..TISSUE_LOG_JITTER)
                .exp();
        }
        let tumour = rng
            .random_range(-TUMOUR_LOG_JITTER..TUMOUR_LOG_JITTER)
            .exp();
        c.edema[m] *= tumour;
        c.rim[m] *= tumour;
        c.necrosis[m] *= rng
            .random_range(-TUMOUR_LOG_JITTER..TUMOUR_LOG_JITTER)
            .exp();
    }
    c
}

/// In-place Gaussian blur of σ `sigma` voxels along `axis` (none below 0.05 voxel or along an
/// axis of one voxel), edges clamped.
fn gaussian_blur(data: &mut [f32], [nx, ny, nz]: [usize; 3], axis: usize, sigma: f32) {
    if sigma < 0.05 {
        return;
    }
    let radius = (3.0 * sigma).ceil() as isize;
    let weights: Vec<f32> = (-radius..=radius)
        .map(|d| (-(d * d) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let total: f32 = weights.iter().sum();
    let (len, stride) = match axis {
        0 => (nx, 1),
        1 => (ny, nx),
        _ => (nz, nx * ny),
    };
    if len < 2 {
        return;
    }
    let lines: Vec<usize> = (0..nx * ny * nz)
        .filter(|i| (i / stride) % len == 0)
        .collect();
    let mut line = vec![0f32; len];
    for start in lines {
        for (p, slot) in line.iter_mut().enumerate() {
            *slot = data[start + p * stride];
        }
        for p in 0..len {
            let mut sum = 0.0;
            for (w, d) in weights.iter().zip(-radius..=radius) {
                let q = (p as isize + d).clamp(0, len as isize - 1) as usize;
                sum += w * line[q];
            }
            data[start + p * stride] = sum / total;
        }
    }
}

/// Adds `amplitude` × the image shifted by `shift` voxels (wrapping) along `axis`.
fn add_ghost(
    data: &mut [f32],
    [nx, ny, nz]: [usize; 3],
    axis: usize,
    shift: isize,
    amplitude: f32,
) {
    let source = data.to_vec();
    let dims = [nx, ny, nz];
    let len = dims[axis] as isize;
    for z in 0..nz {
        for y in 0..ny {
            for x in 0..nx {
                let mut p = [x, y, z];
                p[axis] = (p[axis] as isize - shift).rem_euclid(len) as usize;
                data[x + nx * (y + ny * z)] += amplitude * source[p[0] + nx * (p[1] + ny * p[2])];
            }
        }
    }
}

/// `(v − mean) / std` over the brain voxels, applied to every voxel.
fn z_score(data: &mut [f32], brain: &[bool]) {
    let (mut n, mut sum, mut sq) = (0f64, 0f64, 0f64);
    for (v, _) in data.iter().zip(brain).filter(|(_, b)| **b) {
        n += 1.0;
        sum += f64::from(*v);
        sq += f64::from(*v) * f64::from(*v);
    }
    if n == 0.0 {
        return;
    }
    let mean = sum / n;
    let std = (sq / n - mean * mean).max(1e-12).sqrt();
    for v in data.iter_mut() {
        *v = ((f64::from(*v) - mean) / std) as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn blur_keeps_the_mean_and_spreads_a_point() {
        let shape = [9, 1, 1];
        let mut data = vec![0.0; 9];
        data[4] = 9.0;
        gaussian_blur(&mut data, shape, 0, 1.0);
        let sum: f32 = data.iter().sum();
        assert!((sum - 9.0).abs() < 1e-3, "{sum}");
        assert!(data[4] < 9.0 && data[3] > 0.5 && data[3] == data[5]);
        let untouched = data.clone();
        gaussian_blur(&mut data, shape, 1, 1.0); // a line of one voxel along y
        assert_eq!(data, untouched);
    }

    #[test]
    fn ghost_adds_a_shifted_copy() {
        let mut data = vec![0.0, 10.0, 0.0, 0.0];
        add_ghost(&mut data, [4, 1, 1], 0, 2, 0.1);
        assert_eq!(data, vec![0.0, 10.0, 0.0, 1.0]);
    }

    #[test]
    fn contrast_keeps_each_sequences_tissue_order() {
        let reference = Contrast::reference();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for _ in 0..200 {
            let c = randomised_contrast(&mut rng);
            for m in 0..MODALITIES {
                for a in 0..4 {
                    for b in 0..4 {
                        if reference.tissue[a][m] < reference.tissue[b][m] {
                            assert!(c.tissue[a][m] <= c.tissue[b][m], "{m}: {a} vs {b}");
                        }
                    }
                }
                let ratio = c.rim[m] / c.edema[m];
                assert!((ratio - reference.rim[m] / reference.edema[m]).abs() < 1e-5);
            }
        }
    }
}
