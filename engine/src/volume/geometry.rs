//! Voxel → world geometry: the 4×4 affine in RAS millimetres, how it is chosen from a NIfTI
//! header (sform when `sform_code > 0`, else qform when `qform_code > 0`, else pixdim scaling),
//! the quaternion ↔ matrix conversions of the NIfTI standard, and orientation codes.

use serde::Serialize;

/// Which header fields the voxel→world affine came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AffineSource {
    Sform,
    Qform,
    Pixdim,
}

impl AffineSource {
    pub fn name(self) -> &'static str {
        match self {
            AffineSource::Sform => "sform",
            AffineSource::Qform => "qform",
            AffineSource::Pixdim => "pixdim",
        }
    }
}

/// A 4×4 homogeneous voxel→world transform, rows first; the last row is `[0, 0, 0, 1]`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine(pub [[f64; 4]; 4]);

impl Affine {
    /// Scaling by voxel sizes with no rotation and no offset (the "pixdim" rule).
    pub fn from_scales(sizes: [f64; 3]) -> Affine {
        let mut m = Affine::identity().0;
        for (axis, size) in sizes.iter().enumerate() {
            m[axis][axis] = *size;
        }
        Affine(m)
    }

    pub fn identity() -> Affine {
        let mut m = [[0.0; 4]; 4];
        for (axis, row) in m.iter_mut().enumerate() {
            row[axis] = 1.0;
        }
        Affine(m)
    }

    /// From the three sform rows `srow_x`, `srow_y`, `srow_z`.
    pub fn from_srows(srow: [[f64; 4]; 3]) -> Affine {
        Affine([srow[0], srow[1], srow[2], [0.0, 0.0, 0.0, 1.0]])
    }

    /// The qform matrix of the NIfTI standard from quaternion `(b, c, d)`, offsets, the three
    /// voxel sizes and `qfac` (`pixdim[0]`; anything but −1 counts as +1).
    pub fn from_quaternion(bcd: [f64; 3], offset: [f64; 3], sizes: [f64; 3], qfac: f64) -> Affine {
        let [b, c, d] = bcd;
        let a = (1.0 - (b * b + c * c + d * d)).max(0.0).sqrt();
        let r = [
            [
                a * a + b * b - c * c - d * d,
                2.0 * (b * c - a * d),
                2.0 * (b * d + a * c),
            ],
            [
                2.0 * (b * c + a * d),
                a * a + c * c - b * b - d * d,
                2.0 * (c * d - a * b),
            ],
            [
                2.0 * (b * d - a * c),
                2.0 * (c * d + a * b),
                a * a + d * d - c * c - b * b,
            ],
        ];
        let qfac = if qfac < 0.0 { -1.0 } else { 1.0 };
        // Voxel sizes in the header may be negative; the standard uses their magnitude.
        let scale = [sizes[0].abs(), sizes[1].abs(), sizes[2].abs() * qfac];
        let mut m = Affine::identity().0;
        for row in 0..3 {
            for col in 0..3 {
                m[row][col] = r[row][col] * scale[col];
            }
            m[row][3] = offset[row];
        }
        Affine(m)
    }

    /// Decomposes the affine into the NIfTI quaternion form: `(bcd, offset, sizes, qfac)`.
    /// Shear is discarded (the rotation is the closest proper one), as nibabel does.
    pub fn to_quaternion(&self) -> ([f64; 3], [f64; 3], [f64; 3], f64) {
        let m = &self.0;
        let sizes = self.voxel_sizes();
        let mut r = [[0.0; 3]; 3];
        for row in 0..3 {
            for col in 0..3 {
                r[row][col] = if sizes[col] > 0.0 {
                    m[row][col] / sizes[col]
                } else {
                    f64::from(u8::from(row == col))
                };
            }
        }
        let det = det3(&r);
        let qfac = if det < 0.0 { -1.0 } else { 1.0 };
        if qfac < 0.0 {
            for row in r.iter_mut() {
                row[2] = -row[2];
            }
        }
        let r = orthonormalise(r);
        let (a, b, c, d) = rotation_to_quaternion(&r);
        let (b, c, d) = if a < 0.0 { (-b, -c, -d) } else { (b, c, d) };
        ([b, c, d], [m[0][3], m[1][3], m[2][3]], sizes, qfac)
    }

    /// Applies the transform to a (fractional) voxel index.
    pub fn apply(&self, ijk: [f64; 3]) -> [f64; 3] {
        let m = &self.0;
        let mut out = [0.0; 3];
        for (row, value) in out.iter_mut().enumerate() {
            *value = m[row][0] * ijk[0] + m[row][1] * ijk[1] + m[row][2] * ijk[2] + m[row][3];
        }
        out
    }

    /// Column norms of the 3×3 part: the voxel sizes in mm.
    pub fn voxel_sizes(&self) -> [f64; 3] {
        let m = &self.0;
        let mut sizes = [0.0; 3];
        for (col, size) in sizes.iter_mut().enumerate() {
            *size = (m[0][col].powi(2) + m[1][col].powi(2) + m[2][col].powi(2)).sqrt();
        }
        sizes
    }

    /// Largest absolute difference between two affines' entries.
    pub fn max_abs_diff(&self, other: &Affine) -> f64 {
        let mut worst: f64 = 0.0;
        for row in 0..4 {
            for col in 0..4 {
                worst = worst.max((self.0[row][col] - other.0[row][col]).abs());
            }
        }
        worst
    }

    /// True when the 3×3 part is invertible (a usable geometry).
    pub fn is_invertible(&self) -> bool {
        let m = &self.0;
        let r = [
            [m[0][0], m[0][1], m[0][2]],
            [m[1][0], m[1][1], m[1][2]],
            [m[2][0], m[2][1], m[2][2]],
        ];
        let det = det3(&r);
        det.is_finite() && det.abs() > 1e-12
    }
}

fn det3(r: &[[f64; 3]; 3]) -> f64 {
    r[0][0] * (r[1][1] * r[2][2] - r[1][2] * r[2][1])
        - r[0][1] * (r[1][0] * r[2][2] - r[1][2] * r[2][0])
        + r[0][2] * (r[1][0] * r[2][1] - r[1][1] * r[2][0])
}

/// Gram–Schmidt on the columns, so that a slightly sheared matrix yields a rotation.
fn orthonormalise(r: [[f64; 3]; 3]) -> [[f64; 3]; 3] {
    let col = |m: &[[f64; 3]; 3], c: usize| [m[0][c], m[1][c], m[2][c]];
    let dot = |a: [f64; 3], b: [f64; 3]| a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
    let normalise = |a: [f64; 3]| {
        let n = dot(a, a).sqrt();
        if n > 0.0 {
            [a[0] / n, a[1] / n, a[2] / n]
        } else {
            a
        }
    };
    let x = normalise(col(&r, 0));
    let y0 = col(&r, 1);
    let p = dot(x, y0);
    let y = normalise([y0[0] - p * x[0], y0[1] - p * x[1], y0[2] - p * x[2]]);
    // z = x × y keeps the matrix proper (det +1).
    let z = [
        x[1] * y[2] - x[2] * y[1],
        x[2] * y[0] - x[0] * y[2],
        x[0] * y[1] - x[1] * y[0],
    ];
    [[x[0], y[0], z[0]], [x[1], y[1], z[1]], [x[2], y[2], z[2]]]
}

/// Quaternion `(a, b, c, d)` of a proper rotation matrix (Shepperd's method).
fn rotation_to_quaternion(r: &[[f64; 3]; 3]) -> (f64, f64, f64, f64) {
    let trace = r[0][0] + r[1][1] + r[2][2];
    if trace > 0.0 {
        let s = (trace + 1.0).sqrt() * 2.0;
        (
            0.25 * s,
            (r[2][1] - r[1][2]) / s,
            (r[0][2] - r[2][0]) / s,
            (r[1][0] - r[0][1]) / s,
        )
    } else if r[0][0] > r[1][1] && r[0][0] > r[2][2] {
        let s = (1.0 + r[0][0] - r[1][1] - r[2][2]).sqrt() * 2.0;
        (
            (r[2][1] - r[1][2]) / s,
            0.25 * s,
            (r[0][1] + r[1][0]) / s,
            (r[0][2] + r[2][0]) / s,
        )
    } else if r[1][1] > r[2][2] {
        let s = (1.0 + r[1][1] - r[0][0] - r[2][2]).sqrt() * 2.0;
        (
            (r[0][2] - r[2][0]) / s,
            (r[0][1] + r[1][0]) / s,
            0.25 * s,
            (r[1][2] + r[2][1]) / s,
        )
    } else {
        let s = (1.0 + r[2][2] - r[0][0] - r[1][1]).sqrt() * 2.0;
        (
            (r[1][0] - r[0][1]) / s,
            (r[0][2] + r[2][0]) / s,
            (r[1][2] + r[2][1]) / s,
            0.25 * s,
        )
    }
}

/// For each on-disk axis, the world axis (0 = x/R, 1 = y/A, 2 = z/S) it runs closest to and
/// whether it runs against it. Axes are assigned greedily by the largest absolute direction
/// cosine, so the result is always a permutation (nibabel's `io_orientation` without shear).
pub fn closest_world_axes(affine: &Affine) -> [(usize, bool); 3] {
    let m = &affine.0;
    let sizes = affine.voxel_sizes();
    let mut cosines = [[0.0f64; 3]; 3]; // [disk axis][world axis]
    for disk in 0..3 {
        for world in 0..3 {
            cosines[disk][world] = if sizes[disk] > 0.0 {
                m[world][disk] / sizes[disk]
            } else {
                0.0
            };
        }
    }
    let mut result = [(usize::MAX, false); 3];
    let mut world_taken = [false; 3];
    for _ in 0..3 {
        let mut best: Option<(usize, usize, f64)> = None;
        for disk in 0..3 {
            if result[disk].0 != usize::MAX {
                continue;
            }
            for world in 0..3 {
                if world_taken[world] {
                    continue;
                }
                let c = cosines[disk][world].abs();
                if best.is_none_or(|(_, _, b)| c > b) {
                    best = Some((disk, world, c));
                }
            }
        }
        if let Some((disk, world, _)) = best {
            result[disk] = (world, cosines[disk][world] < 0.0);
            world_taken[world] = true;
        }
    }
    result
}

/// Orientation codes of the on-disk axes (the letter each axis points towards), e.g. `LPS`.
pub fn axcodes(affine: &Affine) -> [char; 3] {
    const POSITIVE: [char; 3] = ['R', 'A', 'S'];
    const NEGATIVE: [char; 3] = ['L', 'P', 'I'];
    let axes = closest_world_axes(affine);
    let mut codes = ['?'; 3];
    for (disk, (world, flipped)) in axes.iter().enumerate() {
        codes[disk] = if *flipped {
            NEGATIVE[*world]
        } else {
            POSITIVE[*world]
        };
    }
    codes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quaternion_round_trip_recovers_matrix_with_qfac() {
        // A rotation of 30° about z with a left-handed third axis (qfac -1).
        let (s, c) = (30f64.to_radians().sin(), 30f64.to_radians().cos());
        let m = Affine([
            [-c * 2.0, -s * 1.5, 0.0, 10.0],
            [-s * 2.0, c * 1.5, 0.0, -20.0],
            [0.0, 0.0, -3.0, 5.0],
            [0.0, 0.0, 0.0, 1.0],
        ]);
        let (bcd, offset, sizes, qfac) = m.to_quaternion();
        let back = Affine::from_quaternion(bcd, offset, sizes, qfac);
        assert!(back.max_abs_diff(&m) < 1e-9, "{back:?} vs {m:?}");
    }

    #[test]
    fn axcodes_of_common_layouts() {
        assert_eq!(
            axcodes(&Affine::from_scales([1.0, 1.0, 1.0])),
            ['R', 'A', 'S']
        );
        assert_eq!(
            axcodes(&Affine::from_scales([-1.0, -1.0, 1.0])),
            ['L', 'P', 'S']
        );
        // Coronal acquisition: disk axes (x, z, y) with y flipped → L S A-ish.
        let m = Affine([
            [-1.0, 0.0, 0.0, 0.0],
            [0.0, 0.0, 1.0, 0.0],
            [0.0, 1.0, 0.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ]);
        assert_eq!(axcodes(&m), ['L', 'S', 'A']);
    }

    #[test]
    fn pixdim_affine_is_diagonal() {
        let a = Affine::from_scales([0.5, 2.0, 3.0]);
        assert_eq!(a.apply([2.0, 1.0, 1.0]), [1.0, 2.0, 3.0]);
        assert_eq!(a.voxel_sizes(), [0.5, 2.0, 3.0]);
    }
}
