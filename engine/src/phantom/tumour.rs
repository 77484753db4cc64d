//! Glioma-like lesions drawn as nested, noise-deformed ellipsoids ([`EllipsoidLesion`], the
//! default; [`super::growth`] grows them instead), and what every kind of lesion shares: its
//! depths, its placement in deep white matter and its mass effect.
//!
//! Each ellipsoid lesion has a tumour core (enhancing rim around an optional necrotic centre) surrounded
//! by a margin of oedema that always encloses it, plus oedema fingers that reach further out
//! along white matter (the cortex is largely spared). The core pushes the surrounding anatomy
//! outward (mass effect), so ventricles and sulci near a large tumour are compressed.
//!
//! Depths are approximate signed distances in mm (positive inside), measured along rays from
//! the lesion centre.

use super::anatomy::{TissueMap, WM};
use super::deform::random_rotation;
use super::noise::Noise3;
use rand::Rng;

/// A noise-deformed ellipsoid core with oedema around it, in head coordinates.
#[derive(Debug, Clone)]
pub struct EllipsoidLesion {
    centre: [f32; 3],
    /// Rows: the lesion's local axes in head coordinates.
    axes: [[f32; 3]; 3],
    /// Semi-axes of the tumour core (mm).
    radii: [f32; 3],
    /// Relative amplitude of the core's lumpy outline.
    core_amplitude: f32,
    /// Mean thickness of the enhancing rim (mm).
    rim: f32,
    /// Whether the core has a necrotic centre.
    necrotic: bool,
    /// How far beyond the core the oedema reaches on average (mm).
    edema_extent: f32,
    edema_amplitude: f32,
    edema_frequency: f32,
    /// Oedema that always surrounds the core, whatever the tissue (mm).
    margin: f32,
    /// Radius of tissue displaced by the core (mm).
    mass: f32,
    shape: Noise3,
    /// Intensity texture of this lesion.
    pub texture: Noise3,
    /// Beyond this distance from the centre the lesion has no effect on labels.
    reach: f32,
}

/// Depths of one point relative to the parts of a lesion (mm, positive inside).
#[derive(Debug, Clone, Copy)]
pub struct LesionDepths {
    pub core: f32,
    pub necrosis: f32,
    pub edema: f32,
    pub margin: f32,
}

impl LesionDepths {
    pub const OUTSIDE: LesionDepths = LesionDepths {
        core: -1e3,
        necrosis: -1e3,
        edema: -1e3,
        margin: -1e3,
    };

    /// Union with another lesion's depths.
    pub fn union(self, other: LesionDepths) -> LesionDepths {
        LesionDepths {
            core: self.core.max(other.core),
            necrosis: self.necrosis.max(other.necrosis),
            edema: self.edema.max(other.edema),
            margin: self.margin.max(other.margin),
        }
    }
}

impl EllipsoidLesion {
    /// Draws a lesion whose core mean radius is about `size` mm and places it in deep white
    /// matter of `anatomy` (far enough inside the brain that core and margin stay inside).
    pub fn sample<R: Rng>(
        rng: &mut R,
        anatomy: &dyn TissueMap,
        size: f32,
        voxel: f32,
    ) -> EllipsoidLesion {
        let mut size = size;
        let margin = (2.3 * voxel).max(3.5);
        loop {
            let stretch: [f32; 3] = std::array::from_fn(|_| rng.random_range(0.75..1.25));
            let radii = stretch.map(|s| s * size);
            let core_amplitude = rng.random_range(0.08..0.22);
            let reach_core = radii.iter().fold(0.0f32, |a, b| a.max(*b)) * (1.0 + core_amplitude);
            if let Some(centre) = deep_white_matter_point(rng, anatomy, reach_core + margin + 3.0) {
                let necrotic = rng.random_bool(if size > 9.0 { 0.85 } else { 0.3 });
                let edema_extent = rng.random_range(7.0..32.0);
                let edema_amplitude = rng.random_range(0.2..0.45);
                return EllipsoidLesion {
                    centre,
                    axes: random_rotation(rng),
                    radii,
                    core_amplitude,
                    rim: rng.random_range(1.8f32..4.5).max(1.2 * voxel),
                    necrotic,
                    edema_extent,
                    edema_amplitude,
                    edema_frequency: rng.random_range(1.2..2.4),
                    margin,
                    mass: size * rng.random_range(0.45..0.8),
                    shape: Noise3::from_rng(rng),
                    texture: Noise3::from_rng(rng),
                    reach: (reach_core + edema_extent) * (1.0 + 2.6 * edema_amplitude)
                        + margin
                        + 10.0,
                };
            }
            size *= 0.85;
        }
    }

    /// Where the anatomy shown at `p` comes from (the core's mass effect, [`inflate`]).
    #[inline]
    pub fn displace(&self, p: [f32; 3]) -> [f32; 3] {
        inflate(self.centre, self.mass, p)
    }

    /// Depths of `p` (head coordinates, before displacement) in the lesion's parts.
    pub fn depths(&self, p: [f32; 3]) -> LesionDepths {
        let d = [
            p[0] - self.centre[0],
            p[1] - self.centre[1],
            p[2] - self.centre[2],
        ];
        let dist2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
        if dist2 > self.reach * self.reach {
            return LesionDepths::OUTSIDE;
        }
        let a = &self.axes;
        let q = [
            a[0][0] * d[0] + a[0][1] * d[1] + a[0][2] * d[2],
            a[1][0] * d[0] + a[1][1] * d[1] + a[1][2] * d[2],
            a[2][0] * d[0] + a[2][1] * d[1] + a[2][2] * d[2],
        ];
        let len = dist2.sqrt();
        if len < 1e-3 {
            let r = self.radii.iter().fold(f32::MAX, |m, v| m.min(*v));
            return LesionDepths {
                core: r,
                necrosis: if self.necrotic { r - self.rim } else { -1e3 },
                edema: r + self.edema_extent,
                margin: r + self.margin,
            };
        }
        let u = q.map(|v| v / len);
        let ray = |radii: [f32; 3]| {
            let rho =
                ((q[0] / radii[0]).powi(2) + (q[1] / radii[1]).powi(2) + (q[2] / radii[2]).powi(2))
                    .sqrt();
            (rho, len / rho)
        };
        let (rho, along) = ray(self.radii);
        let lump = 1.0 + self.core_amplitude * self.shape.fbm(u.map(|v| v * 1.7), 2);
        let core = (lump - rho) * along;
        let necrosis = if self.necrotic {
            let rim = self.rim * (1.0 + 0.6 * self.shape.eval(u.map(|v| v * 2.4 + 40.0)));
            core - rim.max(1.0)
        } else {
            -1e3
        };
        let edema_radii = self.radii.map(|r| r + self.edema_extent);
        let (rho_e, along_e) = ray(edema_radii);
        let f = self.edema_frequency;
        // A lumpy outline plus outward-only protrusions: oedema reaching out in fingers.
        let lumps = self.shape.fbm(u.map(|v| v * f + 80.0), 3);
        let protrusions = self.shape.eval(u.map(|v| v * 1.7 * f - 60.0)).max(0.0);
        let fingers = 1.0 + self.edema_amplitude * (0.7 * lumps + 1.1 * protrusions);
        let edema = (fingers - rho_e) * along_e;
        LesionDepths {
            core,
            necrosis,
            edema,
            margin: core + self.margin,
        }
    }
}

/// A point in deep cerebral white matter of `anatomy`, at least `clearance` mm below the
/// cerebrum's hull and away from the ventricles; `None` when 400 draws find none.
pub fn deep_white_matter_point<R: Rng>(
    rng: &mut R,
    anatomy: &dyn TissueMap,
    clearance: f32,
) -> Option<[f32; 3]> {
    for _ in 0..400 {
        let centre = [
            rng.random_range(-55.0..55.0),
            rng.random_range(-75.0..55.0),
            rng.random_range(-20.0..60.0),
        ];
        let tissue = anatomy.tissue(centre, 1.0);
        let clear = tissue.cerebrum_depth - clearance;
        if tissue.fractions[WM] > 0.95 && clear > 0.0 && tissue.ventricle_depth < -3.0 {
            return Some(centre);
        }
    }
    None
}

/// Mass effect: where the anatomy shown at `p` comes from when a lesion at `centre` has pushed
/// tissue outwards, as if a ball of radius `mass` had been inflated there.
#[inline]
pub fn inflate(centre: [f32; 3], mass: f32, p: [f32; 3]) -> [f32; 3] {
    let d = [p[0] - centre[0], p[1] - centre[1], p[2] - centre[2]];
    let r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
    if r2 <= mass * mass {
        return centre;
    }
    let k = ((r2 - mass * mass) / r2).sqrt();
    [
        centre[0] + d[0] * k,
        centre[1] + d[1] * k,
        centre[2] + d[2] * k,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phantom::anatomy::Anatomy;
    use rand::SeedableRng;

    #[test]
    fn parts_are_nested() {
        let anatomy = Anatomy::standard();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for _ in 0..5 {
            let lesion = EllipsoidLesion::sample(&mut rng, &anatomy, 14.0, 1.0);
            for i in 0..3000 {
                let t = i as f32 * 0.731;
                let p = [
                    lesion.centre[0] + 40.0 * (t * 1.3).sin(),
                    lesion.centre[1] + 40.0 * (t * 0.7).cos(),
                    lesion.centre[2] + 40.0 * (t * 2.1).sin() * (t * 0.3).cos(),
                ];
                let d = lesion.depths(p);
                assert!(d.necrosis <= d.core && d.core <= d.margin, "{d:?}");
            }
        }
    }

    #[test]
    fn mass_effect_is_monotone_and_fades() {
        let anatomy = Anatomy::standard();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(8);
        let lesion = EllipsoidLesion::sample(&mut rng, &anatomy, 15.0, 1.0);
        let mut last = -1.0f32;
        for step in 1..200 {
            let r = step as f32 * 0.5;
            let p = [lesion.centre[0] + r, lesion.centre[1], lesion.centre[2]];
            let moved = lesion.displace(p)[0] - lesion.centre[0];
            assert!(moved >= last && moved <= r, "{r} {moved}");
            last = moved;
        }
        assert!(100.0 - last < 2.0, "{last}");
    }
}
