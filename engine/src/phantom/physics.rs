//! Modality physics: relative signal of each tissue and tumour compartment in FLAIR, T1, T1ce
//! and T2 (order of [`crate::study::Modality::ALL`]), jittered per case; the scanner's smooth
//! multiplicative bias field; Rician noise (magnitude of complex Gaussian noise); the per-case
//! intensity scale and rounding to integer values as stored in BraTS (int16).
//!
//! Reference contrasts (white matter on T1 = 1): T1 WM 1.0 > GM 0.6 > CSF 0.15;
//! T2 CSF 1.0 > GM 0.55 > WM 0.4; FLAIR GM 0.6 > WM 0.45 > CSF 0.05 (fluid suppressed);
//! T1ce = T1 plus enhancement of vessels, choroid plexus and the tumour rim.
//!
//! Tumour compartments are made modality-specific on purpose:
//! * the enhancing rim stands out only on T1ce; on the other sequences it has the signal of
//!   oedema, so without T1ce it cannot be told from oedema and core;
//! * the necrotic centre is dark on T1 and T1ce, bright (fluid-like) on T2, dark-ish on FLAIR;
//! * oedema is brightest of all on FLAIR with a sharp edge; on T2 it sits between grey matter
//!   and CSF and fades out gradually (see `EDEMA_SOFT_WIDTH` in the generator), on T1 it is a
//!   little darker than white matter.

use super::anatomy::TISSUE_CLASSES;
use super::noise::normal_pair;
use rand::Rng;

/// Number of modalities (FLAIR, T1, T1ce, T2).
pub const MODALITIES: usize = 4;
pub const FLAIR: usize = 0;
pub const T1: usize = 1;
pub const T1CE: usize = 2;
pub const T2: usize = 3;

/// Relative signal of every compartment in each modality.
#[derive(Debug, Clone)]
pub struct Contrast {
    /// Indexed `[tissue class][modality]` (classes of [`super::anatomy`]).
    pub tissue: [[f32; MODALITIES]; TISSUE_CLASSES],
    pub edema: [f32; MODALITIES],
    pub rim: [f32; MODALITIES],
    pub necrosis: [f32; MODALITIES],
}

impl Contrast {
    /// The reference contrasts (see the module documentation).
    pub fn reference() -> Contrast {
        Contrast {
            //        FLAIR   T1    T1ce   T2
            tissue: [
                [0.05, 0.15, 0.17, 1.00], // CSF
                [0.60, 0.60, 0.62, 0.55], // cortical grey matter
                [0.45, 1.00, 1.00, 0.40], // white matter
                [0.55, 0.76, 0.78, 0.47], // deep grey matter
                [0.45, 0.55, 1.45, 0.65], // choroid plexus (enhances)
                [0.10, 0.30, 1.50, 0.15], // vessels: enhance on T1ce, flow void on T2
            ],
            edema: [0.98, 0.8, 0.8, 0.76],
            rim: [0.92, 0.74, 1.65, 0.79],
            necrosis: [0.40, 0.32, 0.35, 0.94],
        }
    }

    /// The reference with every value scaled by up to ±`jitter` (a different scanner and
    /// protocol per case).
    pub fn jittered<R: Rng>(rng: &mut R, jitter: f32) -> Contrast {
        let mut c = Contrast::reference();
        let mut shake = |v: &mut f32| *v *= 1.0 + rng.random_range(-jitter..jitter);
        for row in c.tissue.iter_mut() {
            row.iter_mut().for_each(&mut shake);
        }
        c.edema.iter_mut().for_each(&mut shake);
        c.rim.iter_mut().for_each(&mut shake);
        c.necrosis.iter_mut().for_each(&mut shake);
        c
    }
}

/// Scanner effects of one case: bias field, noise level and output scale per modality.
#[derive(Debug, Clone)]
pub struct Acquisition {
    /// Quadratic log-bias coefficients per modality: x, y, z, x², y², z², xy, xz, yz.
    bias: [[f32; 9]; MODALITIES],
    /// Noise standard deviation relative to white matter on T1.
    pub sigma: [f32; MODALITIES],
    /// Stored value of a relative signal of 1.
    pub scale: [f32; MODALITIES],
}

impl Acquisition {
    /// No bias, no noise, scale 1000.
    pub fn ideal() -> Acquisition {
        Acquisition {
            bias: [[0.0; 9]; MODALITIES],
            sigma: [0.0; MODALITIES],
            scale: [1000.0; MODALITIES],
        }
    }

    /// The default generator's scanner: bias as below, noise σ 1.5–4 %, scale 300–1400.
    pub fn random<R: Rng>(rng: &mut R) -> Acquisition {
        Acquisition::random_with(rng, 1.0, (0.015, 0.04), (300.0, 1400.0))
    }

    /// A scanner with the bias field's amplitude times `bias_scale`, a noise σ drawn from
    /// `noise` (relative to white matter on T1) and a stored scale drawn from `scale`.
    pub fn random_with<R: Rng>(
        rng: &mut R,
        bias_scale: f32,
        (noise_low, noise_high): (f32, f32),
        (scale_low, scale_high): (f32, f32),
    ) -> Acquisition {
        // One receive coil: a shared field plus a smaller per-sequence part.
        let shared: [f32; 9] = std::array::from_fn(|i| {
            let amplitude = bias_scale * if i < 3 { 0.12 } else { 0.08 };
            rng.random_range(-amplitude..amplitude)
        });
        let bias = std::array::from_fn(|_| {
            std::array::from_fn(|i| {
                shared[i] + rng.random_range(-0.04 * bias_scale..0.04 * bias_scale)
            })
        });
        let level = rng.random_range(noise_low..noise_high);
        Acquisition {
            bias,
            sigma: std::array::from_fn(|_| level * rng.random_range(0.8..1.25)),
            scale: std::array::from_fn(|_| rng.random_range(scale_low..scale_high)),
        }
    }

    /// Multiplicative bias of modality `m` at world point `w` (mm).
    #[inline]
    pub fn bias(&self, m: usize, w: [f32; 3]) -> f32 {
        let [x, y, z] = w.map(|v| v / 100.0);
        let c = &self.bias[m];
        let log = c[0] * x
            + c[1] * y
            + c[2] * z
            + c[3] * x * x
            + c[4] * y * y
            + c[5] * z * z
            + c[6] * x * y
            + c[7] * x * z
            + c[8] * y * z;
        log.exp()
    }

    /// The stored value for relative signal `signal` of modality `m`: Rician noise, scale,
    /// rounding to an integer, clamped to the int16 range.
    #[inline]
    pub fn store<R: Rng>(&self, m: usize, signal: f32, rng: &mut R) -> f32 {
        let sigma = self.sigma[m];
        let magnitude = if sigma > 0.0 {
            let (a, b) = normal_pair(rng);
            let re = signal + sigma * a;
            let im = sigma * b;
            (re * re + im * im).sqrt()
        } else {
            signal
        };
        (magnitude * self.scale[m]).round().clamp(0.0, 32767.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phantom::anatomy::{CSF, GM, WM};

    #[test]
    fn reference_contrasts_are_ordered() {
        let c = Contrast::reference();
        let t = &c.tissue;
        assert!(t[WM][T1] > t[GM][T1] && t[GM][T1] > t[CSF][T1]);
        assert!(t[CSF][T2] > t[GM][T2] && t[GM][T2] > t[WM][T2]);
        assert!(t[CSF][FLAIR] < t[WM][FLAIR] && t[WM][FLAIR] < t[GM][FLAIR]);
        assert!(c.rim[T1CE] > 1.5 * c.edema[T1CE]);
        // Without T1ce the rim looks like oedema (within 10 %).
        for m in [FLAIR, T1, T2] {
            assert!((c.rim[m] / c.edema[m] - 1.0).abs() < 0.1, "{m}");
        }
    }

    #[test]
    fn stored_values_are_integers() {
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let a = Acquisition::random(&mut rng);
        for s in [0.0, 0.3, 1.7] {
            let v = a.store(T1, s, &mut rng);
            assert_eq!(v.fract(), 0.0);
            assert!(v >= 0.0);
        }
    }
}
