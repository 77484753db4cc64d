//! Surface distances between two binary masks on an anisotropic grid, for HD95.
//!
//! Surface voxels are mask voxels with a 6-neighbour outside the mask (or on the grid's edge).
//! Distances from one surface to the other come from an exact Euclidean distance transform
//! (Felzenszwalb & Huttenlocher's separable lower-envelope algorithm, with voxel spacing),
//! computed on the bounding box of both masks, which is exact: the nearest surface voxel of the
//! other mask always lies inside that box.

/// `(d, h, w)` bounds `[lo, hi)` of the voxels set in either mask, or `None` if both are empty.
fn joint_bounds(a: &[bool], b: &[bool], shape: [usize; 3]) -> Option<[[usize; 2]; 3]> {
    let [_, h, w] = shape;
    let mut bounds: Option<[[usize; 2]; 3]> = None;
    for (i, _) in a.iter().zip(b).enumerate().filter(|(_, (x, y))| **x || **y) {
        let p = [i / (h * w), (i / w) % h, i % w];
        let bb = bounds.get_or_insert([[p[0], p[0] + 1], [p[1], p[1] + 1], [p[2], p[2] + 1]]);
        for axis in 0..3 {
            bb[axis][0] = bb[axis][0].min(p[axis]);
            bb[axis][1] = bb[axis][1].max(p[axis] + 1);
        }
    }
    bounds
}

/// Surface voxels of `mask` (within the box), as a box-sized boolean grid.
fn surface(mask: &[bool], shape: [usize; 3], bb: [[usize; 2]; 3]) -> Vec<bool> {
    let [d, h, w] = shape;
    let dims = bb.map(|[lo, hi]| hi - lo);
    let mut out = vec![false; dims.iter().product()];
    let at = |z: usize, y: usize, x: usize| mask[(z * h + y) * w + x];
    for z in bb[0][0]..bb[0][1] {
        for y in bb[1][0]..bb[1][1] {
            for x in bb[2][0]..bb[2][1] {
                if !at(z, y, x) {
                    continue;
                }
                let edge = z == 0 || y == 0 || x == 0 || z + 1 == d || y + 1 == h || x + 1 == w;
                let border = edge
                    || !at(z - 1, y, x)
                    || !at(z + 1, y, x)
                    || !at(z, y - 1, x)
                    || !at(z, y + 1, x)
                    || !at(z, y, x - 1)
                    || !at(z, y, x + 1);
                if border {
                    let (lz, ly, lx) = (z - bb[0][0], y - bb[1][0], x - bb[2][0]);
                    out[(lz * dims[1] + ly) * dims[2] + lx] = true;
                }
            }
        }
    }
    out
}

/// Squared distance transform along one line (in place): `f` holds squared distances so far
/// (∞ where unknown); `spacing` is the voxel size along the line.
fn transform_line(f: &mut [f64], spacing: f64, v: &mut [usize], z: &mut [f64], out: &mut [f64]) {
    let n = f.len();
    let pos = |q: usize| q as f64 * spacing;
    let mut k = 0usize;
    let first = match f.iter().position(|x| x.is_finite()) {
        Some(i) => i,
        None => return,
    };
    v[0] = first;
    z[0] = f64::NEG_INFINITY;
    z[1] = f64::INFINITY;
    for q in first + 1..n {
        if !f[q].is_finite() {
            continue;
        }
        // z[0] = −∞, so the loop stops at k = 0 at the latest.
        let mut s;
        loop {
            let p = v[k];
            s = ((f[q] + pos(q) * pos(q)) - (f[p] + pos(p) * pos(p))) / (2.0 * (pos(q) - pos(p)));
            if s > z[k] {
                break;
            }
            k -= 1;
        }
        k += 1;
        v[k] = q;
        z[k] = s;
        z[k + 1] = f64::INFINITY;
    }
    let mut k = 0usize;
    for (q, o) in out.iter_mut().enumerate().take(n) {
        while z[k + 1] < pos(q) {
            k += 1;
        }
        let d = pos(q) - pos(v[k]);
        *o = d * d + f[v[k]];
    }
    f.copy_from_slice(&out[..n]);
}

/// Squared Euclidean distance (mm²) from every voxel of a `dims` grid to the nearest `true`.
fn squared_distance_to(features: &[bool], dims: [usize; 3], spacing: [f64; 3]) -> Vec<f64> {
    let mut grid: Vec<f64> = features
        .iter()
        .map(|f| if *f { 0.0 } else { f64::INFINITY })
        .collect();
    let longest = *dims.iter().max().unwrap_or(&1);
    let (mut line, mut out) = (vec![0.0; longest], vec![0.0; longest]);
    let (mut v, mut z) = (vec![0usize; longest], vec![0.0; longest + 1]);
    let stride = [dims[1] * dims[2], dims[2], 1];
    for axis in [2usize, 1, 0] {
        let n = dims[axis];
        let others: Vec<usize> = (0..3).filter(|a| *a != axis).collect();
        for i in 0..dims[others[0]] {
            for j in 0..dims[others[1]] {
                let base = i * stride[others[0]] + j * stride[others[1]];
                for q in 0..n {
                    line[q] = grid[base + q * stride[axis]];
                }
                transform_line(&mut line[..n], spacing[axis], &mut v, &mut z, &mut out);
                for q in 0..n {
                    grid[base + q * stride[axis]] = line[q];
                }
            }
        }
    }
    grid
}

/// The symmetric 95th-percentile Hausdorff distance in mm (the larger of the two directed
/// 95th percentiles, as MedPy and the BraTS tools compute it). `None` if either mask is empty.
pub fn hd95(a: &[bool], b: &[bool], shape: [usize; 3], spacing: [f64; 3]) -> Option<f64> {
    if !a.iter().any(|x| *x) || !b.iter().any(|x| *x) {
        return None;
    }
    let bb = joint_bounds(a, b, shape)?;
    let dims = bb.map(|[lo, hi]| hi - lo);
    let (sa, sb) = (surface(a, shape, bb), surface(b, shape, bb));
    let directed = |from: &[bool], to: &[bool]| -> f64 {
        let field = squared_distance_to(to, dims, spacing);
        let mut d: Vec<f64> = from
            .iter()
            .zip(&field)
            .filter(|(f, _)| **f)
            .map(|(_, d)| d.sqrt())
            .collect();
        percentile(&mut d, 95.0)
    };
    Some(directed(&sa, &sb).max(directed(&sb, &sa)))
}

/// Linear-interpolated percentile (NumPy's default) of a non-empty list.
fn percentile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    let rank = q / 100.0 * (values.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    values[lo] + (values[hi] - values[lo]) * (rank - lo as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brute_force_sq(features: &[bool], dims: [usize; 3], spacing: [f64; 3]) -> Vec<f64> {
        let idx = |i: usize| {
            [
                i / (dims[1] * dims[2]),
                (i / dims[2]) % dims[1],
                i % dims[2],
            ]
        };
        (0..features.len())
            .map(|i| {
                let p = idx(i);
                features
                    .iter()
                    .enumerate()
                    .filter(|(_, f)| **f)
                    .map(|(j, _)| {
                        let q = idx(j);
                        (0..3)
                            .map(|a| ((p[a] as f64 - q[a] as f64) * spacing[a]).powi(2))
                            .sum::<f64>()
                    })
                    .fold(f64::INFINITY, f64::min)
            })
            .collect()
    }

    #[test]
    fn distance_transform_matches_brute_force() {
        let dims = [5, 7, 6];
        let spacing = [2.0, 1.0, 0.5];
        let features: Vec<bool> = (0..210).map(|i| (i * 37 + 11) % 23 == 0).collect();
        let fast = squared_distance_to(&features, dims, spacing);
        let slow = brute_force_sq(&features, dims, spacing);
        for (f, s) in fast.iter().zip(&slow) {
            assert!((f - s).abs() < 1e-9, "{f} vs {s}");
        }
    }

    #[test]
    fn hd95_of_shifted_cubes_is_the_shift() {
        let shape = [12, 12, 12];
        let cube = |o: usize| -> Vec<bool> {
            (0..1728)
                .map(|i| {
                    let (z, y, x) = (i / 144, (i / 12) % 12, i % 12);
                    (2..6).contains(&z) && (2..6).contains(&y) && (o..o + 4).contains(&x)
                })
                .collect()
        };
        let a = cube(2);
        assert_eq!(hd95(&a, &a, shape, [1.0; 3]), Some(0.0));
        let d = hd95(&a, &cube(5), shape, [1.0, 1.0, 2.0]).unwrap();
        assert!((d - 6.0).abs() < 1e-9, "{d}");
        assert_eq!(hd95(&a, &vec![false; 1728], shape, [1.0; 3]), None);
    }
}
