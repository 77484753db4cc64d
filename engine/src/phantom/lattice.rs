//! Trilinear interpolation on a regular 3D grid (`i` fastest): the corners of a point and
//! their weights, shared by the tabulated warp ([`super::deform`]) and the template's tissue
//! maps ([`super::template`]).

/// Calls `visit(index, weight)` for each of the 8 grid corners around grid position `g` that
/// lie inside a grid of `shape`, in a fixed order (x fastest), with the trilinear weight
/// `wx · wy · wz`. Corners outside the grid are left out (their weight is lost, as for values
/// of 0 outside).
#[inline]
pub fn trilinear_corners(shape: [usize; 3], g: [f32; 3], mut visit: impl FnMut(usize, f32)) {
    let base = g.map(f32::floor);
    let t = [g[0] - base[0], g[1] - base[1], g[2] - base[2]];
    for corner in 0..8 {
        let step = [corner & 1, (corner >> 1) & 1, (corner >> 2) & 1];
        let mut weight = 1.0;
        let mut index = 0;
        let mut stride = 1;
        let mut inside = true;
        for a in 0..3 {
            let at = base[a] as isize + step[a] as isize;
            inside &= at >= 0 && (at as usize) < shape[a];
            index += at.max(0) as usize * stride;
            stride *= shape[a];
            weight *= if step[a] == 1 { t[a] } else { 1.0 - t[a] };
        }
        if inside {
            visit(index, weight);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inside the grid the weights sum to 1 and reproduce a linear function exactly; at the
    /// edge the corners outside are left out.
    #[test]
    fn corners_interpolate_a_linear_field_and_stop_at_the_edge() {
        let shape = [4, 3, 5];
        let field: Vec<f32> = (0..60)
            .map(|i| {
                let (x, y, z) = (i % 4, (i / 4) % 3, i / 12);
                1.0 + 2.0 * x as f32 - 0.5 * y as f32 + 0.25 * z as f32
            })
            .collect();
        let g = [1.25, 0.5, 3.75];
        let (mut sum, mut weights) = (0.0, 0.0);
        trilinear_corners(shape, g, |i, w| {
            sum += w * field[i];
            weights += w;
        });
        assert!((weights - 1.0f32).abs() < 1e-6);
        assert!((sum - (1.0 + 2.5 - 0.25 + 0.9375)).abs() < 1e-5, "{sum}");
        let mut visited = 0;
        trilinear_corners(shape, [3.5, 0.0, 0.0], |_, _| visited += 1);
        assert_eq!(visited, 4, "x = 4 is outside");
    }
}
