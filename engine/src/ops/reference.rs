//! Plain f64 CPU reference of the three convolution primitives (NCDHW, cubic kernel, isotropic
//! stride and padding), written as direct loops straight from the definition
//! `y[n,co,o] = sum_{ci,k} x[n,ci,o*s-p+k] * w[co,ci,k]`. Used by the tests; slow by design.

/// Shapes of one convolution: `x [n, ci, d, h, w]`, `w [co, ci, k, k, k]`.
#[derive(Clone, Copy, Debug)]
pub struct Geometry {
    pub n: usize,
    pub ci: usize,
    pub co: usize,
    pub input: [usize; 3],
    pub k: usize,
    pub stride: usize,
    pub padding: usize,
}

impl Geometry {
    /// Output spatial size.
    pub fn output(&self) -> [usize; 3] {
        self.input
            .map(|s| (s + 2 * self.padding - self.k) / self.stride + 1)
    }

    /// Visit every (n, co, ci, output voxel, tap) with the matching input voxel inside the volume:
    /// `f(x_index, w_index, y_index)`.
    fn for_each(&self, mut f: impl FnMut(usize, usize, usize)) {
        let [d, h, w] = self.input;
        let [od, oh, ow] = self.output();
        let k = self.k;
        let at = |o: usize, t: usize, size: usize| -> Option<usize> {
            let c = (o * self.stride + t) as isize - self.padding as isize;
            (c >= 0 && (c as usize) < size).then_some(c as usize)
        };
        for n in 0..self.n {
            for co in 0..self.co {
                for ci in 0..self.ci {
                    for z in 0..od {
                        for y in 0..oh {
                            for x in 0..ow {
                                let yi = (((n * self.co + co) * od + z) * oh + y) * ow + x;
                                for kd in 0..k {
                                    let Some(sz) = at(z, kd, d) else { continue };
                                    for kh in 0..k {
                                        let Some(sy) = at(y, kh, h) else { continue };
                                        for kw in 0..k {
                                            let Some(sx) = at(x, kw, w) else { continue };
                                            let xi =
                                                (((n * self.ci + ci) * d + sz) * h + sy) * w + sx;
                                            let wi =
                                                (((co * self.ci + ci) * k + kd) * k + kh) * k + kw;
                                            f(xi, wi, yi);
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    fn y_len(&self) -> usize {
        let [a, b, c] = self.output();
        self.n * self.co * a * b * c
    }
}

/// `y = conv3d(x, w)`.
pub fn forward(g: &Geometry, x: &[f32], w: &[f32]) -> Vec<f64> {
    let mut y = vec![0.0; g.y_len()];
    g.for_each(|xi, wi, yi| y[yi] += x[xi] as f64 * w[wi] as f64);
    y
}

/// `dx` for the output gradient `dy`.
pub fn input_grad(g: &Geometry, dy: &[f32], w: &[f32]) -> Vec<f64> {
    let [d, h, ww] = g.input;
    let mut dx = vec![0.0; g.n * g.ci * d * h * ww];
    g.for_each(|xi, wi, yi| dx[xi] += dy[yi] as f64 * w[wi] as f64);
    dx
}

/// `dw` for the input `x` and output gradient `dy`.
pub fn weight_grad(g: &Geometry, x: &[f32], dy: &[f32]) -> Vec<f64> {
    let mut dw = vec![0.0; g.co * g.ci * g.k * g.k * g.k];
    g.for_each(|xi, wi, yi| dw[wi] += x[xi] as f64 * dy[yi] as f64);
    dw
}
