//! Randomness that does not depend on evaluation order: a seeded 3D gradient (Perlin-style)
//! noise with its analytic gradient, used for cortical folding, lesion shapes and textures, and
//! the per-slice Gaussian sampler behind the Rician noise.
//!
//! The gradient noise is a pure function of position and seed (a hashed integer lattice, no
//! tables), so voxels can be computed in any order and on any number of threads with
//! identical results.

use rand::Rng;

/// Seeded 3D gradient noise; values roughly in [-1, 1], zero on every lattice point, one
/// "feature" per unit of input.
#[derive(Debug, Clone, Copy)]
pub struct Noise3 {
    seed: u32,
}

/// The 12 edge directions of a cube (Perlin's improved noise) plus 4 repeats, so a 4-bit hash
/// picks one without bias worth noticing.
const GRADIENTS: [[f32; 3]; 16] = [
    [1.0, 1.0, 0.0],
    [-1.0, 1.0, 0.0],
    [1.0, -1.0, 0.0],
    [-1.0, -1.0, 0.0],
    [1.0, 0.0, 1.0],
    [-1.0, 0.0, 1.0],
    [1.0, 0.0, -1.0],
    [-1.0, 0.0, -1.0],
    [0.0, 1.0, 1.0],
    [0.0, -1.0, 1.0],
    [0.0, 1.0, -1.0],
    [0.0, -1.0, -1.0],
    [1.0, 1.0, 0.0],
    [-1.0, 1.0, 0.0],
    [0.0, -1.0, 1.0],
    [0.0, -1.0, -1.0],
];

impl Noise3 {
    pub fn new(seed: u32) -> Noise3 {
        Noise3 { seed }
    }

    /// A seed drawn from `rng` (one noise field per random choice).
    pub fn from_rng<R: Rng>(rng: &mut R) -> Noise3 {
        Noise3::new(rng.random())
    }

    #[inline]
    fn hash(&self, x: i32, y: i32, z: i32) -> u32 {
        let mut h = self.seed
            ^ (x as u32).wrapping_mul(0x8da6_b343)
            ^ (y as u32).wrapping_mul(0xd816_3841)
            ^ (z as u32).wrapping_mul(0xcb1a_b31f);
        h ^= h >> 15;
        h = h.wrapping_mul(0x2c1b_3c6d);
        h ^= h >> 12;
        h = h.wrapping_mul(0x297a_2d39);
        h ^= h >> 15;
        h
    }

    /// Noise value at `p` (cheaper than [`Noise3::eval_grad`]).
    #[inline]
    pub fn eval(&self, p: [f32; 3]) -> f32 {
        let cell = p.map(fast_floor);
        let base = cell.map(|v| v as i32);
        let f = [p[0] - cell[0], p[1] - cell[1], p[2] - cell[2]];
        let u = f.map(|t| t * t * t * (t * (t * 6.0 - 15.0) + 10.0));
        let corner = |dx: i32, dy: i32, dz: i32| {
            let g = GRADIENTS[(self.hash(base[0] + dx, base[1] + dy, base[2] + dz) >> 28) as usize];
            g[0] * (f[0] - dx as f32) + g[1] * (f[1] - dy as f32) + g[2] * (f[2] - dz as f32)
        };
        let lerp = |a: f32, b: f32, t: f32| a + t * (b - a);
        let x00 = lerp(corner(0, 0, 0), corner(1, 0, 0), u[0]);
        let x10 = lerp(corner(0, 1, 0), corner(1, 1, 0), u[0]);
        let x01 = lerp(corner(0, 0, 1), corner(1, 0, 1), u[0]);
        let x11 = lerp(corner(0, 1, 1), corner(1, 1, 1), u[0]);
        lerp(lerp(x00, x10, u[1]), lerp(x01, x11, u[1]), u[2])
    }

    /// Noise value and its gradient at `p`.
    pub fn eval_grad(&self, p: [f32; 3]) -> (f32, [f32; 3]) {
        let cell = p.map(fast_floor);
        let base = cell.map(|v| v as i32);
        let f = [p[0] - cell[0], p[1] - cell[1], p[2] - cell[2]];
        let fade = f.map(|t| t * t * t * (t * (t * 6.0 - 15.0) + 10.0));
        let dfade = f.map(|t| 30.0 * t * t * (t * (t - 2.0) + 1.0));
        let mut value = 0.0;
        let mut grad = [0.0f32; 3];
        for corner in 0..8u32 {
            let o = [corner & 1, (corner >> 1) & 1, (corner >> 2) & 1];
            let g = GRADIENTS[(self.hash(
                base[0] + o[0] as i32,
                base[1] + o[1] as i32,
                base[2] + o[2] as i32,
            ) >> 28) as usize];
            let d = [f[0] - o[0] as f32, f[1] - o[1] as f32, f[2] - o[2] as f32];
            let dot = g[0] * d[0] + g[1] * d[1] + g[2] * d[2];
            // Weight per axis: fade for the upper corner, 1 - fade for the lower one.
            let mut w = [0.0f32; 3];
            let mut dw = [0.0f32; 3];
            for axis in 0..3 {
                if o[axis] == 1 {
                    w[axis] = fade[axis];
                    dw[axis] = dfade[axis];
                } else {
                    w[axis] = 1.0 - fade[axis];
                    dw[axis] = -dfade[axis];
                }
            }
            let weight = w[0] * w[1] * w[2];
            value += weight * dot;
            grad[0] += dw[0] * w[1] * w[2] * dot + weight * g[0];
            grad[1] += w[0] * dw[1] * w[2] * dot + weight * g[1];
            grad[2] += w[0] * w[1] * dw[2] * dot + weight * g[2];
        }
        (value, grad)
    }

    /// Fractal sum of `octaves` octaves (each at twice the frequency and half the amplitude).
    pub fn fbm(&self, p: [f32; 3], octaves: u32) -> f32 {
        let mut sum = 0.0;
        let mut amplitude = 1.0;
        let mut q = p;
        for octave in 0..octaves {
            // Offset each octave so lattice zeros do not line up.
            let shift = 17.31 * octave as f32;
            sum += amplitude * self.eval([q[0] + shift, q[1] - shift, q[2] + 0.5 * shift]);
            amplitude *= 0.5;
            q = q.map(|v| v * 2.0);
        }
        sum
    }
}

/// `floor` without a library call (inputs are far inside the `i32` range).
#[inline]
fn fast_floor(v: f32) -> f32 {
    let t = v as i32 as f32;
    if t > v {
        t - 1.0
    } else {
        t
    }
}

/// Two independent standard normal samples (Box–Muller).
pub fn normal_pair<R: Rng>(rng: &mut R) -> (f32, f32) {
    // `random::<f32>()` is in [0, 1); 1 - u is in (0, 1], so the logarithm is finite.
    let u1: f32 = 1.0 - rng.random::<f32>();
    let u2: f32 = rng.random::<f32>();
    let radius = (-2.0 * u1.ln()).sqrt();
    let angle = std::f32::consts::TAU * u2;
    (radius * angle.cos(), radius * angle.sin())
}

/// Piecewise-linear partial-volume ramp: the fraction of a voxel of width `width` (mm) that
/// lies inside a boundary at signed depth `depth` (mm, positive inside).
#[inline]
pub fn ramp(depth: f32, width: f32) -> f32 {
    (0.5 + depth / width).clamp(0.0, 1.0)
}

/// Smooth maximum (union of inside-positive depths) with blend radius `k` mm.
#[inline]
pub fn smax(a: f32, b: f32, k: f32) -> f32 {
    let h = (k - (a - b).abs()).max(0.0) / k;
    a.max(b) + h * h * k * 0.25
}

/// Smooth minimum (intersection of inside-positive depths) with blend radius `k` mm.
#[inline]
pub fn smin(a: f32, b: f32, k: f32) -> f32 {
    -smax(-a, -b, k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn value_only_matches_value_with_gradient() {
        let noise = Noise3::new(77);
        for i in 0..500 {
            let p = [
                i as f32 * 0.37 - 90.0,
                i as f32 * -0.11 + 4.0,
                (i % 13) as f32 * 0.93,
            ];
            assert!((noise.eval(p) - noise.eval_grad(p).0).abs() < 1e-5, "{p:?}");
        }
    }

    #[test]
    fn gradient_matches_finite_differences() {
        let noise = Noise3::new(12345);
        let h = 1e-3;
        for p in [[0.3, 1.7, -2.2], [5.5, -0.25, 0.9], [-3.1, 2.05, 7.7]] {
            let (_, g) = noise.eval_grad(p);
            for axis in 0..3 {
                let mut a = p;
                let mut b = p;
                a[axis] += h;
                b[axis] -= h;
                let fd = (noise.eval(a) - noise.eval(b)) / (2.0 * h);
                assert!(
                    (fd - g[axis]).abs() < 2e-2,
                    "{p:?} axis {axis}: {fd} vs {}",
                    g[axis]
                );
            }
        }
    }

    #[test]
    fn noise_is_bounded_seeded_and_varied() {
        let a = Noise3::new(1);
        let b = Noise3::new(2);
        let mut differ = false;
        let mut spread = (f32::MAX, f32::MIN);
        for i in 0..1000 {
            let p = [
                i as f32 * 0.173,
                i as f32 * 0.071 - 3.0,
                (i % 37) as f32 * 0.29,
            ];
            let v = a.eval(p);
            assert!(v.abs() <= 1.5, "{v}");
            assert_eq!(v, Noise3::new(1).eval(p));
            differ |= v != b.eval(p);
            spread = (spread.0.min(v), spread.1.max(v));
        }
        assert!(differ);
        assert!(spread.0 < -0.3 && spread.1 > 0.3, "{spread:?}");
    }

    #[test]
    fn normals_have_unit_variance() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        let n = 20000;
        let (mut sum, mut sq) = (0.0f64, 0.0f64);
        for _ in 0..n {
            let (a, b) = normal_pair(&mut rng);
            sum += f64::from(a + b);
            sq += f64::from(a * a + b * b);
        }
        let mean = sum / (2 * n) as f64;
        let var = sq / (2 * n) as f64 - mean * mean;
        assert!(
            mean.abs() < 0.03 && (var - 1.0).abs() < 0.05,
            "{mean} {var}"
        );
    }
}
