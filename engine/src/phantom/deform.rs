//! Per-case placement of the head: a random similarity-plus-scale transform (small rotation,
//! per-axis scale, shift) and a smooth random warp, mapping world millimetres (RAS) to the
//! "head" frame in which the anatomy is defined (origin near the anterior commissure, axes
//! right, anterior, superior, as in MNI space).

use super::lattice::trilinear_corners;
use rand::Rng;

/// One sinusoidal component of the smooth warp along one axis.
#[derive(Debug, Clone, Copy)]
struct WarpMode {
    /// Spatial frequency vector (radians per mm).
    k: [f32; 3],
    phase: f32,
    /// Amplitude in mm.
    amplitude: f32,
}

/// Where the head's origin sits in world coordinates before the random shift: the brain's
/// bounding box (cerebrum top to cerebellum bottom) is then roughly centred on world 0.
const HEAD_ORIGIN_IN_WORLD: [f32; 3] = [0.0, 16.0, -4.0];

/// World → head mapping of one case.
#[derive(Debug, Clone)]
pub struct Deformation {
    /// `(R·S)⁻¹`: world offsets → head coordinates.
    inverse: [[f32; 3]; 3],
    /// World position of the head origin.
    origin: [f32; 3],
    /// Three modes per axis.
    modes: [[WarpMode; 3]; 3],
    /// The warp's displacement tabulated on a coarse grid over the head (trilinear lookup is
    /// much cheaper than nine sines per voxel; the field is smooth, so the error is ~0.1 mm).
    table: Vec<[f32; 3]>,
}

/// The tabulated region of the head frame and its spacing (mm).
const TABLE_MIN: [f32; 3] = [-96.0, -138.0, -114.0];
const TABLE_STEP: f32 = 6.0;
const TABLE_SIZE: [usize; 3] = [33, 42, 38];

impl Deformation {
    /// No rotation, scaling or warp: head coordinates are world coordinates shifted by the
    /// fixed head origin.
    pub fn identity() -> Deformation {
        let zero = WarpMode {
            k: [0.0; 3],
            phase: 0.0,
            amplitude: 0.0,
        };
        Deformation {
            inverse: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
            origin: HEAD_ORIGIN_IN_WORLD,
            modes: [[zero; 3]; 3],
            table: Vec::new(),
        }
        .tabulated()
    }

    /// A random placement: rotations up to about ±7° (pitch), ±4° (roll), ±5° (yaw), global
    /// scale 0.88–0.99 (the head frame is MNI-sized, larger than an average brain) with ±3 %
    /// per axis, shifts of a few mm, and a warp of about 2–4 mm.
    pub fn random<R: Rng>(rng: &mut R) -> Deformation {
        let deg = std::f32::consts::PI / 180.0;
        let pitch = rng.random_range(-7.0..7.0) * deg;
        let roll = rng.random_range(-4.0..4.0) * deg;
        let yaw = rng.random_range(-5.0..5.0) * deg;
        let global = rng.random_range(0.88..0.99);
        let scale: [f32; 3] = std::array::from_fn(|_| global * rng.random_range(0.97..1.03));
        let shift = [
            rng.random_range(-4.0..4.0),
            rng.random_range(-6.0..6.0),
            rng.random_range(-3.0..2.0),
        ];
        let rotation = matmul(
            rot_z(yaw),
            matmul(rot_y(roll), rot_x(pitch)), // applied right to left
        );
        // (R·S)⁻¹ = S⁻¹·Rᵀ.
        let mut inverse = [[0.0f32; 3]; 3];
        for (row, out) in inverse.iter_mut().enumerate() {
            for (col, value) in out.iter_mut().enumerate() {
                *value = rotation[col][row] / scale[row];
            }
        }
        let modes = std::array::from_fn(|_| {
            std::array::from_fn(|_| {
                let wavelength: f32 = rng.random_range(55.0..120.0);
                let dir = random_unit(rng);
                let k = dir.map(|d| d * std::f32::consts::TAU / wavelength);
                WarpMode {
                    k,
                    phase: rng.random_range(0.0..std::f32::consts::TAU),
                    amplitude: rng.random_range(-1.6..1.6),
                }
            })
        });
        Deformation {
            inverse,
            origin: [
                HEAD_ORIGIN_IN_WORLD[0] + shift[0],
                HEAD_ORIGIN_IN_WORLD[1] + shift[1],
                HEAD_ORIGIN_IN_WORLD[2] + shift[2],
            ],
            modes,
            table: Vec::new(),
        }
        .tabulated()
    }

    fn tabulated(mut self) -> Deformation {
        let [nx, ny, nz] = TABLE_SIZE;
        let mut table = Vec::with_capacity(nx * ny * nz);
        for k in 0..nz {
            for j in 0..ny {
                for i in 0..nx {
                    let h = [
                        TABLE_MIN[0] + i as f32 * TABLE_STEP,
                        TABLE_MIN[1] + j as f32 * TABLE_STEP,
                        TABLE_MIN[2] + k as f32 * TABLE_STEP,
                    ];
                    table.push(self.displacement(h));
                }
            }
        }
        self.table = table;
        self
    }

    /// The warp's displacement at unwarped head point `h`, exactly.
    fn displacement(&self, h: [f32; 3]) -> [f32; 3] {
        let mut out = [0.0; 3];
        for (axis, modes) in self.modes.iter().enumerate() {
            for mode in modes {
                let arg = mode.k[0] * h[0] + mode.k[1] * h[1] + mode.k[2] * h[2] + mode.phase;
                out[axis] += mode.amplitude * arg.sin();
            }
        }
        out
    }

    /// The affine part only: world → unwarped head coordinates.
    #[inline]
    pub fn affine_to_head(&self, world: [f32; 3]) -> [f32; 3] {
        let d = [
            world[0] - self.origin[0],
            world[1] - self.origin[1],
            world[2] - self.origin[2],
        ];
        let m = &self.inverse;
        [
            m[0][0] * d[0] + m[0][1] * d[1] + m[0][2] * d[2],
            m[1][0] * d[0] + m[1][1] * d[1] + m[1][2] * d[2],
            m[2][0] * d[0] + m[2][1] * d[1] + m[2][2] * d[2],
        ]
    }

    /// Adds the smooth warp to unwarped head coordinates.
    #[inline]
    pub fn warp(&self, h: [f32; 3]) -> [f32; 3] {
        let g = [0, 1, 2].map(|a| (h[a] - TABLE_MIN[a]) / TABLE_STEP);
        let inside = (0..3).all(|a| g[a] >= 0.0 && g[a] < (TABLE_SIZE[a] - 1) as f32);
        if !inside || self.table.is_empty() {
            let d = self.displacement(h);
            return [h[0] + d[0], h[1] + d[1], h[2] + d[2]];
        }
        let mut out = h;
        trilinear_corners(TABLE_SIZE, g, |i, w| {
            let d = self.table[i];
            for axis in 0..3 {
                out[axis] += w * d[axis];
            }
        });
        out
    }
}

fn random_unit<R: Rng>(rng: &mut R) -> [f32; 3] {
    loop {
        let v: [f32; 3] = std::array::from_fn(|_| rng.random_range(-1.0..1.0));
        let n = (v[0] * v[0] + v[1] * v[1] + v[2] * v[2]).sqrt();
        if n > 0.1 && n <= 1.0 {
            return v.map(|c| c / n);
        }
    }
}

fn matmul(a: [[f32; 3]; 3], b: [[f32; 3]; 3]) -> [[f32; 3]; 3] {
    std::array::from_fn(|r| std::array::from_fn(|c| (0..3).map(|i| a[r][i] * b[i][c]).sum()))
}

fn rot_x(t: f32) -> [[f32; 3]; 3] {
    let (s, c) = t.sin_cos();
    [[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]]
}

fn rot_y(t: f32) -> [[f32; 3]; 3] {
    let (s, c) = t.sin_cos();
    [[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]]
}

fn rot_z(t: f32) -> [[f32; 3]; 3] {
    let (s, c) = t.sin_cos();
    [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]
}

/// A random rotation matrix (uniform axis, angle in full range) for lesion orientation.
pub fn random_rotation<R: Rng>(rng: &mut R) -> [[f32; 3]; 3] {
    let a = rng.random_range(0.0..std::f32::consts::TAU);
    let b = rng.random_range(0.0..std::f32::consts::TAU);
    let c = rng.random_range(0.0..std::f32::consts::TAU);
    matmul(rot_z(a), matmul(rot_y(b), rot_x(c)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn identity_only_moves_the_origin() {
        let d = Deformation::identity();
        let h = d.warp(d.affine_to_head([10.0, 20.0, 30.0]));
        assert_eq!(h, [10.0, 4.0, 34.0]);
    }

    #[test]
    fn tabulated_warp_matches_the_exact_one() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let d = Deformation::random(&mut rng);
        for i in 0..1000 {
            let h = [
                (i * 37 % 170) as f32 - 85.0,
                (i * 53 % 220) as f32 - 120.0,
                (i * 71 % 190) as f32 - 100.0,
            ];
            let table = d.warp(h);
            let e = d.displacement(h);
            for a in 0..3 {
                assert!((table[a] - h[a] - e[a]).abs() < 0.2, "{h:?}");
            }
        }
    }

    #[test]
    fn random_placement_is_small() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        for _ in 0..20 {
            let d = Deformation::random(&mut rng);
            let world = [30.0, -40.0, 20.0];
            let plain = Deformation::identity().affine_to_head(world);
            let h = d.warp(d.affine_to_head(world));
            let dist = (0..3)
                .map(|a| (h[a] - plain[a]).powi(2))
                .sum::<f32>()
                .sqrt();
            assert!(dist < 20.0, "{dist}");
        }
    }
}
