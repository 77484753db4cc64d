//! Procedural brain anatomy in the head frame (millimetres, origin near the anterior
//! commissure, x right, y anterior, z superior — MNI-like): tissue *fractions* (partial volume)
//! of CSF, cortical and deep grey matter, white matter, choroid plexus and vessels at any point.
//!
//! The shape is built from approximate signed distances ("depths", positive inside):
//! * cerebrum: an egg-shaped ellipsoid with a flattened base, frontal narrowing, occipital and
//!   frontal petalia (asymmetry), temporal lobes bulging below, split by the interhemispheric
//!   fissure everywhere except the corpus callosum / diencephalon bridge;
//! * cortex: a grey ribbon a few mm thick under the pial surface, which dips into sulci — radial
//!   CSF-filled sheets along the zero set of a 3D gradient noise sampled on the brain's
//!   direction sphere (so every case folds differently), plus the Sylvian fissure over the insula;
//! * cerebellum with radial folia (arbor vitae), brainstem, basal cisterns;
//! * butterfly-shaped lateral ventricles (frontal horns, bodies, atria, occipital and temporal
//!   horns), third and fourth ventricles, choroid plexus, caudate, putamen, pallidum, thalamus,
//!   hippocampus and amygdala;
//! * a thin CSF shell around the brain (the skull-stripped mask) with enhancing vessels in it.

use super::noise::{ramp, smax, smin, Noise3};
use rand::{Rng, SeedableRng};

/// Tissue classes of the anatomy, indices into [`Tissue::fractions`].
pub const CSF: usize = 0;
pub const GM: usize = 1;
pub const WM: usize = 2;
pub const DEEP_GM: usize = 3;
pub const CHOROID: usize = 4;
pub const VESSEL: usize = 5;
pub const TISSUE_CLASSES: usize = 6;

/// What the anatomy holds at one point.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tissue {
    /// Volume fraction of each class; they sum to the skull-stripped mask fraction (≤ 1).
    pub fractions: [f32; TISSUE_CLASSES],
    /// Depth below the cerebrum's pial hull in mm (fissure included; sulci not).
    pub cerebrum_depth: f32,
    /// Depth inside the nearest ventricle in mm (negative outside).
    pub ventricle_depth: f32,
}

impl Tissue {
    /// Nothing: outside the head.
    fn outside() -> Tissue {
        Tissue {
            cerebrum_depth: -100.0,
            ventricle_depth: -100.0,
            ..Tissue::default()
        }
    }

    /// Fraction of the point inside the skull-stripped head (brain plus its CSF shell).
    pub fn mask(&self) -> f32 {
        self.fractions.iter().sum()
    }

    /// Fraction of brain tissue (not CSF, not vessels).
    pub fn brain(&self) -> f32 {
        self.fractions[GM] + self.fractions[WM] + self.fractions[DEEP_GM]
    }
}

/// A brain the phantom generator can sample: tissue fractions and depths at head-frame points
/// (mm). The procedural [`Anatomy`] and the ICBM template ([`super::template`]) are two.
pub trait TissueMap: Send + Sync {
    /// Tissue fractions at head point `p` for voxels of size `voxel` mm.
    fn tissue(&self, p: [f32; 3], voxel: f32) -> Tissue;
    /// False when `p` lies more than `margin` mm outside everything the map holds (a cheap
    /// bound that lets the generator skip the background).
    fn may_contain(&self, p: [f32; 3], margin: f32) -> bool;
}

impl TissueMap for Anatomy {
    fn tissue(&self, p: [f32; 3], voxel: f32) -> Tissue {
        Anatomy::tissue(self, p, voxel)
    }

    fn may_contain(&self, p: [f32; 3], margin: f32) -> bool {
        Anatomy::may_contain(p, margin)
    }
}

/// An ellipsoid with optional orientation; `depth` is an approximate signed distance (mm,
/// positive inside) exact on the surface.
#[derive(Debug, Clone, Copy)]
pub struct Ellipsoid {
    centre: [f32; 3],
    radii: [f32; 3],
    /// Rows: the ellipsoid's local axes in head coordinates.
    axes: [[f32; 3]; 3],
}

impl Ellipsoid {
    pub fn new(centre: [f32; 3], radii: [f32; 3]) -> Ellipsoid {
        Ellipsoid {
            centre,
            radii,
            axes: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        }
    }

    /// Rotated about the left–right axis so that its anterior end points `deg` degrees down.
    fn pitched(mut self, deg: f32) -> Ellipsoid {
        let (s, c) = deg.to_radians().sin_cos();
        self.axes[1] = [0.0, c, -s];
        self.axes[2] = [0.0, s, c];
        self
    }

    /// Rotated about the anterior–posterior axis so that its lateral side (towards +x) drops
    /// by `deg` degrees.
    fn tilted(mut self, deg: f32) -> Ellipsoid {
        let (s, c) = deg.to_radians().sin_cos();
        self.axes[0] = [c, 0.0, -s];
        self.axes[2] = [s, 0.0, c];
        self
    }

    /// The mirror image across the mid-sagittal plane.
    fn mirrored(mut self) -> Ellipsoid {
        self.centre[0] = -self.centre[0];
        for row in self.axes.iter_mut() {
            row[0] = -row[0];
        }
        self
    }

    fn scaled(mut self, factor: [f32; 3]) -> Ellipsoid {
        for (r, f) in self.radii.iter_mut().zip(factor) {
            *r *= f;
        }
        self
    }

    #[inline]
    pub fn depth(&self, p: [f32; 3]) -> f32 {
        let d = [
            p[0] - self.centre[0],
            p[1] - self.centre[1],
            p[2] - self.centre[2],
        ];
        let a = &self.axes;
        let local = [
            a[0][0] * d[0] + a[0][1] * d[1] + a[0][2] * d[2],
            a[1][0] * d[0] + a[1][1] * d[1] + a[1][2] * d[2],
            a[2][0] * d[0] + a[2][1] * d[1] + a[2][2] * d[2],
        ];
        ellipsoid_depth(local, self.radii)
    }
}

/// Approximate inside-positive distance to an axis-aligned ellipsoid centred at the origin.
#[inline]
fn ellipsoid_depth(q: [f32; 3], r: [f32; 3]) -> f32 {
    let k0 = ((q[0] / r[0]).powi(2) + (q[1] / r[1]).powi(2) + (q[2] / r[2]).powi(2)).sqrt();
    let k1 = ((q[0] / (r[0] * r[0])).powi(2)
        + (q[1] / (r[1] * r[1])).powi(2)
        + (q[2] / (r[2] * r[2])).powi(2))
    .sqrt();
    if k1 < 1e-9 {
        return r[0].min(r[1]).min(r[2]);
    }
    -(k0 * (k0 - 1.0) / k1)
}

/// Inside-positive distance to a capsule (a segment `a`–`b` thickened by `radius`).
#[inline]
fn capsule_depth(p: [f32; 3], a: [f32; 3], b: [f32; 3], radius: f32) -> f32 {
    let ab = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
    let ap = [p[0] - a[0], p[1] - a[1], p[2] - a[2]];
    let len2 = ab[0] * ab[0] + ab[1] * ab[1] + ab[2] * ab[2];
    let t = ((ap[0] * ab[0] + ap[1] * ab[1] + ap[2] * ab[2]) / len2).clamp(0.0, 1.0);
    let d = [ap[0] - t * ab[0], ap[1] - t * ab[1], ap[2] - t * ab[2]];
    radius - (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt()
}

/// Centre of the cerebrum's hull (and of the folding pattern's direction sphere).
const CEREBRUM_CENTRE: [f32; 3] = [0.0, -17.0, 12.0];
/// Radius of the sphere on which the folding pattern is sampled (mm).
const FOLD_SPHERE: f32 = 70.0;
/// Wavelength of the folding pattern's plane waves on that sphere (mm); sulci come about every
/// half wavelength.
const FOLD_WAVELENGTH: f32 = 20.0;
/// Number of plane waves in the folding pattern.
const FOLD_WAVES: usize = 14;

/// The folding pattern: a sum of plane waves of one wavelength in random directions (a
/// "random wave" field). Its zero set on a sphere is a labyrinth of evenly spaced, meandering,
/// branching lines — the layout of sulci between gyri of similar width.
#[derive(Debug, Clone)]
struct FoldWaves {
    /// Wave vectors (radians per mm), phases and amplitudes.
    waves: Vec<([f32; 3], f32, f32)>,
}

impl FoldWaves {
    fn random<R: Rng>(rng: &mut R, wavelength: f32) -> FoldWaves {
        let k = std::f32::consts::TAU / wavelength;
        let mut waves = Vec::with_capacity(FOLD_WAVES);
        while waves.len() < FOLD_WAVES {
            let v: [f32; 3] = std::array::from_fn(|_| rng.random_range(-1.0..1.0));
            let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
            if !(0.1..=1.0).contains(&n) {
                continue;
            }
            let phase = rng.random_range(0.0..std::f32::consts::TAU);
            let amplitude = rng.random_range(0.7..1.3);
            waves.push((v.map(|c| c * k / n), phase, amplitude));
        }
        let norm = (waves.iter().map(|w| w.2 * w.2).sum::<f32>() / 2.0).sqrt();
        for w in waves.iter_mut() {
            w.2 /= norm;
        }
        FoldWaves { waves }
    }

    /// Value (about unit variance) and gradient at `x` (mm).
    #[inline]
    fn eval_grad(&self, x: [f32; 3]) -> (f32, [f32; 3]) {
        let mut value = 0.0;
        let mut grad = [0.0f32; 3];
        for (k, phase, amplitude) in &self.waves {
            let arg = k[0] * x[0] + k[1] * x[1] + k[2] * x[2] + phase;
            let (sin, cos) = arg.sin_cos();
            value += amplitude * cos;
            for axis in 0..3 {
                grad[axis] -= amplitude * sin * k[axis];
            }
        }
        (value, grad)
    }
}

/// A branching tube of varying radius (the lateral ventricle), evaluated with its vertical
/// axis stretched by `TUBE_FLATTEN` so that its cross-sections are flattened ellipses.
#[derive(Debug, Clone, Default)]
struct Tube {
    /// Polylines of (x, y, z, radius).
    segments: Vec<Vec<[f32; 4]>>,
}

const TUBE_FLATTEN: f32 = 1.45;

impl Tube {
    #[inline]
    fn depth(&self, p: [f32; 3]) -> f32 {
        let q = [p[0], p[1], p[2] * TUBE_FLATTEN];
        let mut best = -1e3f32;
        for line in &self.segments {
            for pair in line.windows(2) {
                let (a, b) = (pair[0], pair[1]);
                let a3 = [a[0], a[1], a[2] * TUBE_FLATTEN];
                let b3 = [b[0], b[1], b[2] * TUBE_FLATTEN];
                let ab = [b3[0] - a3[0], b3[1] - a3[1], b3[2] - a3[2]];
                let aq = [q[0] - a3[0], q[1] - a3[1], q[2] - a3[2]];
                let len2 = ab[0] * ab[0] + ab[1] * ab[1] + ab[2] * ab[2];
                let t = ((aq[0] * ab[0] + aq[1] * ab[1] + aq[2] * ab[2]) / len2).clamp(0.0, 1.0);
                let d = [aq[0] - t * ab[0], aq[1] - t * ab[1], aq[2] - t * ab[2]];
                let radius = a[3] + t * (b[3] - a[3]);
                let depth = radius - (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt();
                best = smax(best, depth, 1.5);
            }
        }
        best
    }
}

/// How grey each deep nucleus looks (the rest of its signal is white matter), in the order of
/// the nuclei list: caudate head, caudate body, putamen, globus pallidus, thalamus.
const NUCLEUS_GREY: [f32; 5] = [0.95, 0.9, 0.9, 0.5, 0.6];

/// Box around the basal cisterns (under the diencephalon, around the brainstem).
#[inline]
fn near_basal_cisterns(p: [f32; 3]) -> bool {
    p[0].abs() < 32.0 && (-44.0..16.0).contains(&p[1]) && p[2] < 0.0
}

/// Box around the medial temporal lobes (hippocampus and amygdala) on both sides.
#[inline]
fn near_medial_temporal_lobes(p: [f32; 3]) -> bool {
    p[2] < 0.0 && p[0].abs() > 12.0 && p[1] < 12.0
}

/// Below and behind the central region, where the fourth ventricle lies.
#[inline]
fn near_fourth_ventricle(p: [f32; 3]) -> bool {
    p[1] < -30.0 && p[2] < -15.0
}

/// The per-case anatomy: fixed layout plus random folding, sizes and asymmetries.
#[derive(Debug, Clone)]
pub struct Anatomy {
    cerebrum: Ellipsoid,
    /// Extra half-width (fraction) of the right frontal and left occipital lobes.
    petalia: f32,
    temporal: [Ellipsoid; 2],
    cerebellum: [Ellipsoid; 3],
    cistern: Ellipsoid,
    /// Region where sulci may not reach (callosum, ventricles, basal ganglia).
    central: Ellipsoid,
    /// Right and left lateral ventricles.
    lateral_ventricles: [Tube; 2],
    /// Third and fourth ventricles.
    ventricles: Vec<Ellipsoid>,
    choroid: [Ellipsoid; 2],
    nuclei: Vec<Ellipsoid>,
    /// Caudate nuclei (head and body, both sides), which indent the lateral ventricles.
    caudate: Vec<Ellipsoid>,
    medial_temporal: Vec<Ellipsoid>,
    fold: FoldWaves,
    variation: Noise3,
    vessels: Noise3,
    /// Mean depth of sulci (mm).
    sulcal_depth: f32,
    /// Half-width of the CSF in a sulcus (mm), larger in an atrophic brain.
    sulcal_halfwidth: f32,
    sylvian_halfwidth: f32,
    cortex_thickness: f32,
    /// Thickness of the CSF shell around the brain (mm).
    csf_shell: f32,
    fissure_halfwidth: f32,
    fissure_amplitude: f32,
    fissure_phase: f32,
    /// Base of the cerebrum (mm, head z) under the frontal and parietal lobes.
    base_height: f32,
    /// Number of cerebellar folia per radian.
    folia: f32,
}

impl Anatomy {
    /// The average anatomy with a fixed folding pattern (used for tests and placement).
    pub fn standard() -> Anatomy {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x5eed);
        Anatomy::build(
            1.0,
            [1.0, 1.0],
            FoldWaves::random(&mut rng, FOLD_WAVELENGTH),
            Noise3::new(0xf01d),
            Noise3::new(0x7e55),
            AnatomyKnobs::default(),
        )
    }

    /// A random individual: folding pattern, ventricle size and asymmetry, sulcal width
    /// (atrophy), cortical thickness, CSF shell, fissure wander, petalia.
    pub fn random<R: Rng>(rng: &mut R) -> Anatomy {
        let ventricle_scale = rng.random_range(0.8..1.45);
        let asym = rng.random_range(-0.12..0.12);
        let knobs = AnatomyKnobs {
            atrophy: rng.random_range(0.0..1.0),
            cortex_thickness: rng.random_range(2.6..3.3),
            csf_shell: rng.random_range(1.5..3.2),
            fissure_amplitude: rng.random_range(0.0..2.0),
            fissure_phase: rng.random_range(0.0..std::f32::consts::TAU),
            petalia: rng.random_range(0.0..0.04),
            folia: rng.random_range(18.0..22.0),
        };
        let wavelength = FOLD_WAVELENGTH * rng.random_range(0.9..1.1);
        Anatomy::build(
            ventricle_scale,
            [1.0 + asym, 1.0 - asym],
            FoldWaves::random(rng, wavelength),
            Noise3::from_rng(rng),
            Noise3::from_rng(rng),
            knobs,
        )
    }

    fn build(
        ventricle_scale: f32,
        side_scale: [f32; 2],
        fold: FoldWaves,
        variation: Noise3,
        vessels: Noise3,
        knobs: AnatomyKnobs,
    ) -> Anatomy {
        let e = Ellipsoid::new;
        let (lateral_ventricles, choroid) =
            Anatomy::lateral_ventricles_and_choroid(ventricle_scale, side_scale);
        let vs = ventricle_scale;
        let ventricles = vec![
            e([0.0, -9.0, 2.0], [1.5 + 1.3 * vs, 13.0, 9.0]), // third ventricle
            e([0.0, -44.0, -33.0], [5.5, 3.5, 7.0]).pitched(-30.0), // fourth ventricle
        ];

        let nuclei_r = [
            e([15.5, 13.0, 8.0], [5.5, 9.0, 8.0]), // caudate head
            e([18.0, -6.0, 11.5], [3.5, 12.0, 3.5]).tilted(20.0), // caudate body
            e([24.5, 2.0, 0.0], [5.5, 14.0, 9.5]), // putamen
            e([18.0, -2.0, -1.0], [3.5, 8.0, 5.5]), // globus pallidus
            e([10.5, -18.0, 5.0], [8.0, 13.5, 8.5]), // thalamus
        ];
        let mtl_r = [
            e([27.0, -24.0, -13.0], [5.0, 15.0, 5.0]).pitched(20.0), // hippocampus
            e([22.0, -4.0, -18.0], [7.0, 7.0, 7.0]),                 // amygdala
        ];
        let both = |list: &[Ellipsoid]| -> Vec<Ellipsoid> {
            list.iter()
                .copied()
                .chain(list.iter().map(|x| x.mirrored()))
                .collect()
        };
        let temporal_r = e([44.0, -14.0, -16.0], [23.0, 42.0, 22.0]).pitched(12.0);
        let atrophy = knobs.atrophy;
        Anatomy {
            cerebrum: e(CEREBRUM_CENTRE, [67.0, 86.0, 65.0]),
            petalia: knobs.petalia,
            temporal: [temporal_r, temporal_r.mirrored()],
            cerebellum: [
                e([24.0, -61.0, -31.0], [28.0, 27.0, 20.0]),
                e([-24.0, -61.0, -31.0], [28.0, 27.0, 20.0]),
                e([0.0, -58.0, -27.0], [10.0, 24.0, 19.0]),
            ],
            cistern: e([0.0, -14.0, -22.0], [24.0, 22.0, 13.0]),
            central: e([0.0, -10.0, 5.0], [31.0, 46.0, 25.0]),
            lateral_ventricles,
            ventricles,
            choroid,
            nuclei: both(&nuclei_r),
            caudate: both(&nuclei_r[..2]),
            medial_temporal: both(&mtl_r),
            fold,
            variation,
            vessels,
            sulcal_depth: 13.0 + 3.0 * atrophy,
            sulcal_halfwidth: 0.45 + 0.9 * atrophy,
            sylvian_halfwidth: 1.2 + 1.6 * atrophy,
            cortex_thickness: knobs.cortex_thickness,
            csf_shell: knobs.csf_shell + 1.0 * atrophy,
            fissure_halfwidth: 0.9 + 0.8 * atrophy,
            fissure_amplitude: knobs.fissure_amplitude,
            fissure_phase: knobs.fissure_phase,
            base_height: -21.0,
            folia: knobs.folia,
        }
    }

    /// The right and left lateral ventricles as tubes, and the choroid plexus in their atria,
    /// grown by `ventricle_scale` times each side's `side_scale`.
    fn lateral_ventricles_and_choroid(
        ventricle_scale: f32,
        side_scale: [f32; 2],
    ) -> ([Tube; 2], [Ellipsoid; 2]) {
        // Right lateral ventricle (x > 0) as a tube: (x, y, z, radius) along its centreline,
        // from the frontal horn through the body and atrium to the occipital horn, and the
        // temporal horn branching from the atrium forward and down.
        let main_path: [[f32; 4]; 8] = [
            [6.5, 30.0, 5.0, 3.5],
            [8.5, 22.0, 10.0, 8.0],
            [9.5, 10.0, 14.0, 9.0],
            [10.0, -4.0, 16.5, 8.5],
            [12.0, -18.0, 17.5, 7.5],
            [19.0, -32.0, 13.5, 7.0],
            [19.0, -46.0, 8.0, 4.0],
            [15.5, -58.0, 4.0, 1.8],
        ];
        let temporal_path: [[f32; 4]; 4] = [
            [20.0, -32.0, 13.0, 5.0],
            [27.0, -30.0, 2.0, 4.0],
            [31.0, -18.0, -10.0, 3.0],
            [30.0, -5.0, -18.0, 2.0],
        ];
        let choroid_piece = Ellipsoid::new([20.5, -33.0, 11.5], [2.6, 4.5, 2.6]);
        let mut lateral_ventricles = [Tube::default(), Tube::default()];
        let mut choroid = [choroid_piece; 2];
        for (side, scale) in side_scale.iter().enumerate() {
            let s = ventricle_scale * scale;
            // Larger ventricles are wider and spread apart a little; the left is the mirror.
            let sign = if side == 0 { 1.0 } else { -1.0 };
            let grow = |pt: [f32; 4]| {
                [
                    sign * (pt[0] + (s - 1.0) * (0.5 * pt[3] + 0.15 * pt[0])),
                    pt[1] * (1.0 + 0.08 * (s - 1.0)),
                    pt[2],
                    pt[3] * s,
                ]
            };
            lateral_ventricles[side] = Tube {
                segments: vec![
                    main_path.iter().copied().map(grow).collect(),
                    temporal_path.iter().copied().map(grow).collect(),
                ],
            };
            let mut c = choroid_piece.scaled([s, s, s]);
            c.centre[0] = sign * (c.centre[0] + (s - 1.0) * 5.0);
            choroid[side] = c;
        }
        (lateral_ventricles, choroid)
    }

    /// The cerebrum's outer hull (no fissure, no sulci), with the gap to the cerebellum.
    #[inline]
    fn cerebrum_hull(&self, p: [f32; 3], cerebellum: f32) -> f32 {
        // Petalia: right frontal and left occipital lobes slightly wider; the frontal lobes
        // narrow towards the pole.
        let front = ((p[1] - CEREBRUM_CENTRE[1]) / 86.0).clamp(-1.0, 1.0);
        let side = if p[0] > 0.0 { 1.0 } else { -1.0 };
        let widen = 1.0 + self.petalia * side * front - 0.09 * front.max(0.0).powi(2);
        let q = [p[0] / widen, p[1], p[2]];
        let main = smin(self.cerebrum.depth(q), p[2] - self.base_height, 10.0);
        // (Far from the temporal lobes their depth cannot matter; skip the evaluation.)
        let temporal = if p[2] < 30.0 && p[0].abs() > 10.0 {
            self.temporal[0].depth(p).max(self.temporal[1].depth(p))
        } else {
            -100.0
        };
        let hull = smax(main, temporal, 10.0);
        smin(hull, -cerebellum - 2.5, 4.0)
    }

    #[inline]
    fn cerebellum_depth(&self, p: [f32; 3]) -> f32 {
        // More than 30 mm away it neither shapes the tentorial gap nor holds tissue.
        if p[0].abs() > 82.0 || !(-118.0..-4.0).contains(&p[1]) || !(-81.0..19.0).contains(&p[2]) {
            return -100.0;
        }
        let [a, b, c] = &self.cerebellum;
        smax(smax(a.depth(p), b.depth(p), 8.0), c.depth(p), 6.0)
    }

    #[inline]
    fn brainstem_depth(&self, p: [f32; 3]) -> f32 {
        if p[0].abs() > 25.0 || !(-55.0..0.0).contains(&p[1]) || p[2] > 15.0 {
            return -100.0;
        }
        let midbrain = capsule_depth(p, [0.0, -20.0, -2.0], [0.0, -22.0, -20.0], 10.5);
        let pons = capsule_depth(p, [0.0, -22.0, -25.0], [0.0, -27.0, -38.0], 12.5);
        let medulla = capsule_depth(p, [0.0, -29.0, -42.0], [0.0, -40.0, -95.0], 8.0);
        smax(smax(midbrain, pons, 5.0), medulla, 5.0)
    }

    /// Depth in the corpus callosum / diencephalon bridge, where the hemispheres join.
    #[inline]
    fn bridge_depth(p: [f32; 3]) -> f32 {
        let q = [0.0, p[1] + 6.0, p[2] - 1.0];
        ellipsoid_depth(q, [1.0, 34.0, 22.0])
    }

    /// Depth below the walls of the sulcus pattern read at `x` (mm): `normal` is the surface
    /// normal there, `per_unit` pattern units per mm along the surface, `depth` the depth below
    /// the surface, `limit_base` the deepest a sulcus may reach, `outside` how far the point
    /// lies beyond the region of this pattern (rounds off the sulci that end there).
    #[inline]
    fn sulcus(
        &self,
        x: [f32; 3],
        normal: [f32; 3],
        per_unit: f32,
        depth: f32,
        limit_base: f32,
        outside: f32,
    ) -> f32 {
        // Sulci meander along the surface and bend as they deepen: a low-frequency warp of the
        // pattern's domain that grows with depth.
        let low = x.map(|v| v / 40.0);
        let mut bend = [
            self.variation.eval([low[0] + 1.7, low[1], low[2]]),
            self.variation.eval([low[0], low[1] + 5.3, low[2]]),
            self.variation.eval([low[0], low[1], low[2] + 9.1]),
        ];
        let along = bend[0] * normal[0] + bend[1] * normal[1] + bend[2] * normal[2];
        for axis in 0..3 {
            bend[axis] -= along * normal[axis];
        }
        let amount = 4.0 + 0.9 * depth.clamp(0.0, 20.0);
        let x = [
            x[0] + amount * bend[0],
            x[1] + amount * bend[1],
            x[2] + amount * bend[2],
        ];
        let (n, g) = self.fold.eval_grad(x);
        let radial = g[0] * normal[0] + g[1] * normal[1] + g[2] * normal[2];
        let gt = [
            g[0] - radial * normal[0],
            g[1] - radial * normal[1],
            g[2] - radial * normal[2],
        ];
        let gt_norm = (gt[0] * gt[0] + gt[1] * gt[1] + gt[2] * gt[2]).sqrt();
        let per_mm = (gt_norm * per_unit).max(0.01);
        let distance = n.abs() / per_mm;
        // Depth varies along each sulcus: deep fissures next to shallow dimples.
        let depth_var = self
            .variation
            .eval([x[0] / 12.0 + 31.0, x[1] / 12.0, x[2] / 12.0]);
        let limit = (self.sulcal_depth * (0.9 + 1.3 * depth_var))
            .clamp(4.0, 1.7 * self.sulcal_depth)
            .min(limit_base);
        let beyond = (depth - limit).max(0.0);
        // The sulcus opens up a little at the surface (rounded gyral crowns).
        let opening = ramp(1.0 - depth, 3.0);
        (distance * distance + beyond * beyond + outside * outside).sqrt()
            - self.sulcal_halfwidth
            - opening
    }

    /// Depth below the nearest sulcal wall (mm) — distance to the nearest sulcal CSF sheet
    /// minus its half-width — or `f32::MAX` where no sulcus reaches.
    #[inline]
    fn sulcal_depth_at(&self, p: [f32; 3], hull: f32, medial: f32) -> f32 {
        let cerebrum = hull.min(medial);
        let central = self.central.depth(p);
        let limit_base = -central - 2.0;
        if cerebrum > 32.0 || limit_base <= 0.0 {
            return f32::MAX;
        }
        // Sulci of the convexity are read from the direction from the centre (they run
        // radially inward); sulci of the medial surface from the sagittal position (they run
        // straight in from the fissure). Each set fades out with a rounded end where the other
        // surface is nearer.
        let mut sulcus = f32::MAX;
        const OVERLAP: f32 = 6.0;
        if hull < medial + OVERLAP {
            let rel = [
                p[0] - CEREBRUM_CENTRE[0],
                p[1] - CEREBRUM_CENTRE[1],
                p[2] - CEREBRUM_CENTRE[2],
            ];
            let r = (rel[0] * rel[0] + rel[1] * rel[1] + rel[2] * rel[2])
                .sqrt()
                .max(1.0);
            let dir = rel.map(|v| v / r);
            let x = dir.map(|v| v * FOLD_SPHERE);
            let outside = (hull - medial).max(0.0);
            sulcus = sulcus.min(self.sulcus(x, dir, FOLD_SPHERE / r, hull, limit_base, outside));
        }
        if medial < hull + OVERLAP {
            let side = if p[0] >= 0.0 { 30.0 } else { -30.0 };
            let outside = (medial - hull).max(0.0);
            let x = [side, p[1], p[2]];
            sulcus = sulcus.min(self.sulcus(x, [1.0, 0.0, 0.0], 1.0, medial, limit_base, outside));
        }

        // The Sylvian fissure: a stem rising posteriorly from the lateral surface in to the
        // insula, separating the temporal lobe from the frontal and parietal opercula, and the
        // insular cistern running along the insula's surface (a "T" in coronal section, an
        // antero-posterior line in axial section).
        let x = p[0].abs();
        let wave = 2.5
            * self
                .variation
                .eval([p[0] / 15.0 + 3.0, p[1] / 15.0, p[2] / 15.0]);
        let zs = -4.0 - 0.45 * p[1] + wave;
        let dz = (p[2] - zs) * 0.9;
        let dy = (p[1] - 14.0).max(-38.0 - p[1]).max(0.0);
        let dx = (35.5 - x).max(0.0);
        let stem = (dz * dz + dy * dy + dx * dx).sqrt() - self.sylvian_halfwidth;
        let insula_y = (p[1] - 12.0).max(-30.0 - p[1]).max(0.0);
        let insula_z = (p[2] - zs - 13.0).max(zs - 9.0 - p[2]).max(0.0);
        let insula_x = x - 36.5 - 0.6 * wave;
        let cistern = (insula_x * insula_x + insula_y * insula_y + insula_z * insula_z).sqrt()
            - 0.7 * self.sylvian_halfwidth;
        let sylvian = stem.min(cistern);
        sulcus.min(sylvian)
    }

    /// False when `p` lies more than `margin` mm outside a cheap bound of everything the
    /// anatomy holds (brain and CSF shell): an ellipsoid around the cerebrum and a box around
    /// cerebellum and brainstem.
    #[inline]
    pub fn may_contain(p: [f32; 3], margin: f32) -> bool {
        let e = [
            p[0] / (84.0 + margin),
            (p[1] - CEREBRUM_CENTRE[1]) / (100.0 + margin),
            (p[2] - CEREBRUM_CENTRE[2]) / (82.0 + margin),
        ];
        if e[0] * e[0] + e[1] * e[1] + e[2] * e[2] <= 1.0 {
            return true;
        }
        p[0].abs() <= 60.0 + margin
            && (-96.0 - margin..=-5.0 + margin).contains(&p[1])
            && (-110.0 - margin..=-5.0 + margin).contains(&p[2])
    }

    /// Tissue fractions at head point `p` for voxels of size `voxel` mm.
    pub fn tissue(&self, p: [f32; 3], voxel: f32) -> Tissue {
        // The random shell is up to ~3 mm thicker than the standard one the bound was checked on.
        if !Anatomy::may_contain(p, 3.0) {
            return Tissue::outside();
        }
        self.tissue_unbounded(p, voxel)
    }

    /// [`Anatomy::tissue`] without the quick bound check.
    fn tissue_unbounded(&self, p: [f32; 3], voxel: f32) -> Tissue {
        let mut out = Tissue::outside();
        let cerebellum = self.cerebellum_depth(p);
        let brainstem = self.brainstem_depth(p);
        let hull = self.cerebrum_hull(p, cerebellum);
        let cistern = if near_basal_cisterns(p) {
            self.cistern.depth(p)
        } else {
            -100.0
        };
        let outer = hull.max(cerebellum).max(brainstem).max(cistern);
        if outer + 1.3 * self.csf_shell + voxel < 0.0 {
            return out;
        }
        let shell = self.csf_shell * (1.0 + 0.3 * self.variation.eval(p.map(|v| v / 23.0)));
        let mask = ramp(outer + shell, voxel);
        if mask <= 0.0 {
            return out;
        }

        // Interhemispheric fissure, closed by the callosum/diencephalon bridge.
        let midline = self.fissure_amplitude * (p[1] / 45.0 + self.fissure_phase).sin();
        let medial = (p[0] - midline).abs() - self.fissure_halfwidth;
        let medial = medial.max(Anatomy::bridge_depth(p));
        let cerebrum = hull.min(medial);
        out.cerebrum_depth = cerebrum;

        let mut f = [0.0f32; TISSUE_CLASSES];
        if brainstem >= cerebrum.max(cerebellum) {
            let tissue = ramp(brainstem, voxel);
            f[WM] = 0.7 * tissue;
            f[DEEP_GM] = 0.3 * tissue;
        } else if cerebellum > cerebrum {
            self.fill_cerebellum(p, voxel, cerebellum, &mut f);
        } else if cerebrum > -voxel {
            self.fill_cerebrum(p, voxel, hull, medial, cerebrum, &mut f);
        }

        // Ventricles (CSF) with choroid plexus in the atria.
        if self.central.depth(p) > -14.0 || near_fourth_ventricle(p) {
            out.ventricle_depth = self.fill_ventricles(p, voxel, &mut f);
        }

        // The rest of the mask is CSF; vessels run through the sulcal and surface CSF.
        self.fill_csf_and_vessels(p, voxel, mask, out.ventricle_depth, &mut f);
        out.fractions = f;
        out
    }

    /// Grey and white matter of the cerebellum at `p` (`cerebellum` mm inside its hull), into
    /// `f`: a cortex cut by folia around the branching white matter of the arbor vitae.
    #[inline]
    fn fill_cerebellum(
        &self,
        p: [f32; 3],
        voxel: f32,
        cerebellum: f32,
        f: &mut [f32; TISSUE_CLASSES],
    ) {
        // Folia: fissures radiating from the centre in the sagittal plane.
        let y = p[1] + 58.0;
        let z = p[2] + 29.0;
        let rho = (y * y + z * z).sqrt().max(1.0);
        let wobble = 0.14 * self.variation.fbm([p[0] / 14.0, y / 14.0, z / 14.0], 2);
        let theta = z.atan2(y) + wobble;
        let phase = self.folia * theta;
        let distance = phase.sin().abs() / self.folia * rho;
        // Every third fissure cuts deep, splitting the cerebellum into lobules whose white
        // matter branches out into the folia (the arbor vitae).
        let lobule = (phase / 3.0).cos().abs().powi(6);
        let reach =
            6.0 + 8.0 * lobule + 1.5 * self.variation.eval([p[0] / 9.0 + 50.0, y / 9.0, z / 9.0]);
        // Fissures are cut from the surface inward in the sagittal plane, so their depth is
        // measured in that plane (the narrow vermis would otherwise be cut through).
        let sagittal = self
            .cerebellum
            .iter()
            .fold(-100.0f32, |d, e| d.max(e.depth([e.centre[0], p[1], p[2]])));
        let beyond = (sagittal - reach).max(0.0);
        let fissure = (distance * distance + beyond * beyond).sqrt() - 0.45;
        let pial = cerebellum.min(fissure);
        let tissue = ramp(pial, voxel);
        // White matter: the central body, and one branch along the middle of each lobule
        // (halfway between its deep fissures) reaching out towards the folia.
        let lobules = self.folia / 3.0;
        let branch = (phase / 3.0).cos().abs() / lobules * rho;
        let body = ramp(sagittal - 14.5, voxel);
        let limb = ramp(1.2 - branch, voxel) * ramp(pial - 2.5, voxel);
        let white = body.max(limb).min(tissue);
        f[GM] = tissue - white;
        f[WM] = white;
    }

    /// Cortex, white matter, deep grey nuclei and medial temporal grey of the cerebrum at `p`
    /// (`cerebrum` mm below its hull and fissure), into `f`.
    #[inline]
    fn fill_cerebrum(
        &self,
        p: [f32; 3],
        voxel: f32,
        hull: f32,
        medial: f32,
        cerebrum: f32,
        f: &mut [f32; TISSUE_CLASSES],
    ) {
        let sulcal = self.sulcal_depth_at(p, hull, medial);
        let pial = cerebrum.min(sulcal);
        let thickness =
            self.cortex_thickness * (1.0 + 0.2 * self.variation.eval(p.map(|v| v / 17.0 + 5.0)));
        let tissue = ramp(pial, voxel);
        let white = ramp(pial - thickness, voxel);
        f[GM] = tissue - white;
        f[WM] = white;
        if self.central.depth(p) > -12.0 {
            // The deepest-reaching nucleus decides; its edge is soft (a couple of mm) and
            // the pallidum and thalamus are paler (more myelinated) than the striatum.
            let (depth, grey) =
                self.nuclei
                    .iter()
                    .enumerate()
                    .fold((-100.0f32, 0.0f32), |(best, grey), (i, e)| {
                        let d = e.depth(p);
                        if d > best {
                            (d, NUCLEUS_GREY[i % NUCLEUS_GREY.len()])
                        } else {
                            (best, grey)
                        }
                    });
            let deep = ramp(depth, voxel.max(2.0)) * grey;
            f[DEEP_GM] = deep * tissue;
            f[GM] *= 1.0 - deep;
            f[WM] *= 1.0 - deep;
        }
        if near_medial_temporal_lobes(p) {
            let mtl = self
                .medial_temporal
                .iter()
                .fold(-100.0f32, |d, e| d.max(e.depth(p)));
            let grey = ramp(mtl, voxel);
            f[GM] += f[WM] * grey;
            f[WM] *= 1.0 - grey;
        }
    }

    /// Ventricle depth at `p` (mm); turns the tissue in `f` inside the ventricles into fluid
    /// and adds the choroid plexus there.
    #[inline]
    fn fill_ventricles(&self, p: [f32; 3], voxel: f32, f: &mut [f32; TISSUE_CLASSES]) -> f32 {
        let tube = if p[0] >= 0.0 {
            &self.lateral_ventricles[0]
        } else {
            &self.lateral_ventricles[1]
        };
        // The caudate indents the lateral wall; the septum pellucidum separates the two.
        let caudate = self
            .caudate
            .iter()
            .fold(-100.0f32, |d, e| d.max(e.depth(p)));
        let mut v = tube.depth(p).min(-caudate - 0.3).min(p[0].abs() - 1.0);
        for e in &self.ventricles {
            v = smax(v, e.depth(p), 2.0);
        }
        let fluid = ramp(v, voxel);
        if fluid > 0.0 {
            for t in [GM, WM, DEEP_GM] {
                f[t] *= 1.0 - fluid;
            }
            let plexus = ramp(
                self.choroid[0].depth(p).max(self.choroid[1].depth(p)),
                voxel,
            );
            f[CHOROID] = fluid * plexus;
        }
        v
    }

    /// Fills the rest of the mask in `f` with CSF (scaling the tissue down where it overfills the
    /// mask) and runs vessels through that CSF outside the ventricles.
    #[inline]
    fn fill_csf_and_vessels(
        &self,
        p: [f32; 3],
        voxel: f32,
        mask: f32,
        ventricle_depth: f32,
        f: &mut [f32; TISSUE_CLASSES],
    ) {
        let solid: f32 = f[GM] + f[WM] + f[DEEP_GM] + f[CHOROID];
        if solid > mask {
            let k = mask / solid;
            f.iter_mut().for_each(|v| *v *= k);
        }
        let csf = (mask - f[GM] - f[WM] - f[DEEP_GM] - f[CHOROID]).max(0.0);
        f[CSF] = csf;
        run_vessels(&self.vessels, p, voxel, ventricle_depth, f);
    }
}

/// Runs enhancing vessels (thin tubes along the zero set of `vessels`, in the parts of space
/// where a second, coarser reading of it is positive) through the CSF of `f` outside the
/// ventricles: the vessel takes up to 90 % of the CSF it crosses. Shared by the procedural
/// and the template anatomy, so that both show the T1ce-bright surface vessels real scans have.
#[inline]
pub(super) fn run_vessels(
    vessels: &Noise3,
    p: [f32; 3],
    voxel: f32,
    ventricle_depth: f32,
    f: &mut [f32; TISSUE_CLASSES],
) {
    let csf = f[CSF];
    if csf > 0.25 && ventricle_depth < -1.0 {
        let (n, g) = vessels.eval_grad(p.map(|v| v / 21.0));
        let gn = (g[0] * g[0] + g[1] * g[1] + g[2] * g[2]).sqrt().max(0.05) / 21.0;
        let distance = n.abs() / gn;
        let sparse = vessels.eval([p[0] / 40.0 + 7.0, p[1] / 40.0, p[2] / 40.0]);
        if sparse > 0.1 {
            let vessel = ramp(0.7 - distance, voxel) * csf * 0.9;
            f[VESSEL] = vessel;
            f[CSF] -= vessel;
        }
    }
}

/// The scalar knobs of an individual anatomy.
#[derive(Debug, Clone, Copy)]
struct AnatomyKnobs {
    /// 0 (young, tight sulci) to 1 (older, wide sulci and CSF).
    atrophy: f32,
    cortex_thickness: f32,
    csf_shell: f32,
    fissure_amplitude: f32,
    fissure_phase: f32,
    petalia: f32,
    folia: f32,
}

impl Default for AnatomyKnobs {
    fn default() -> Self {
        AnatomyKnobs {
            atrophy: 0.4,
            cortex_thickness: 2.6,
            csf_shell: 2.2,
            fissure_amplitude: 1.0,
            fissure_phase: 0.5,
            petalia: 0.02,
            folia: 20.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(t: &Tissue) -> usize {
        (0..TISSUE_CLASSES)
            .max_by(|a, b| t.fractions[*a].total_cmp(&t.fractions[*b]))
            .unwrap_or(CSF)
    }

    #[test]
    fn landmarks_have_the_expected_tissue() {
        let a = Anatomy::standard();
        let at = |p: [f32; 3]| a.tissue(p, 1.0);
        // Centrum semiovale: white matter.
        assert_eq!(class(&at([25.0, -10.0, 35.0])), WM);
        // Lateral ventricle body: CSF.
        assert_eq!(class(&at([9.0, 0.0, 15.0])), CSF);
        // Thalamus: deep grey.
        assert_eq!(class(&at([11.0, -18.0, 5.0])), DEEP_GM);
        // Far outside: nothing.
        assert_eq!(at([0.0, 0.0, 100.0]).mask(), 0.0);
        // Just inside the vertex: cortex or CSF, not white matter.
        let top = class(&at([20.0, -20.0, 70.0]));
        assert!(top == GM || top == CSF, "{top}");
    }

    #[test]
    fn the_quick_bound_holds_everything() {
        let a = Anatomy::standard();
        for i in 0..200_000 {
            let p = [
                ((i * 37) % 200) as f32 - 100.0,
                ((i * 53) % 260) as f32 - 140.0,
                ((i * 71) % 240) as f32 - 130.0,
            ];
            if !Anatomy::may_contain(p, 0.0) {
                // Evaluate as if there were no bound: the bound check is the first thing in
                // `tissue`, so step just inside it to compare.
                let t = a.tissue_unbounded(p, 1.0);
                assert_eq!(t.mask(), 0.0, "{p:?} is outside the bound but has tissue");
            }
        }
    }

    #[test]
    fn fractions_sum_to_the_mask() {
        let a = Anatomy::standard();
        for i in 0..2000 {
            let p = [
                ((i * 37) % 150) as f32 - 75.0,
                ((i * 53) % 200) as f32 - 110.0,
                ((i * 71) % 160) as f32 - 80.0,
            ];
            let t = a.tissue(p, 1.0);
            let m = t.mask();
            assert!((0.0..=1.0 + 1e-5).contains(&m), "{p:?} {m}");
            assert!(t.fractions.iter().all(|f| *f >= 0.0), "{p:?} {t:?}");
        }
    }
}
