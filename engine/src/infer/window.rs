//! Sliding-window geometry: where windows start along an axis, and how much each voxel of a
//! window counts.

use super::Weighting;

/// Window starts along an axis of `size` voxels: every `window · (1 − overlap)` voxels
/// (rounded, at least 1), the last one flush with the end; `[0]` when the axis is no longer
/// than the window (the window then hangs over the end and is zero-padded).
pub fn window_starts(size: usize, window: usize, overlap: f64) -> Vec<usize> {
    if size <= window {
        return vec![0];
    }
    let step = ((window as f64 * (1.0 - overlap)).round() as usize).max(1);
    let last = size - window;
    let mut starts: Vec<usize> = (0..last).step_by(step).collect();
    starts.push(last);
    starts
}

/// Per-voxel weights of a window, `[D, H, W]`.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightMap {
    pub values: Vec<f32>,
}

impl WeightMap {
    pub fn new(window: [usize; 3], weighting: Weighting) -> WeightMap {
        let voxels = window.iter().product();
        let values = match weighting {
            Weighting::Uniform => vec![1.0; voxels],
            Weighting::Gaussian => {
                let axis = |n: usize| -> Vec<f32> {
                    let sigma = n as f32 / 8.0;
                    let centre = (n as f32 - 1.0) / 2.0;
                    (0..n)
                        .map(|i| (-((i as f32 - centre).powi(2)) / (2.0 * sigma * sigma)).exp())
                        .collect()
                };
                let (gz, gy, gx) = (axis(window[0]), axis(window[1]), axis(window[2]));
                let mut values = Vec::with_capacity(voxels);
                for z in &gz {
                    for y in &gy {
                        for x in &gx {
                            // A floor keeps voxels only a window's corner covers defined.
                            values.push((z * y * x).max(1e-3));
                        }
                    }
                }
                values
            }
        };
        WeightMap { values }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_cover_the_axis_and_end_flush() {
        assert_eq!(window_starts(10, 16, 0.5), vec![0]);
        assert_eq!(window_starts(16, 16, 0.5), vec![0]);
        assert_eq!(window_starts(40, 16, 0.5), vec![0, 8, 16, 24]);
        assert_eq!(window_starts(41, 16, 0.5), vec![0, 8, 16, 24, 25]);
        assert_eq!(window_starts(100, 64, 0.0), vec![0, 36]);
    }

    #[test]
    fn gaussian_weights_peak_in_the_centre() {
        let map = WeightMap::new([8, 8, 8], Weighting::Gaussian);
        let at = |z: usize, y: usize, x: usize| map.values[(z * 8 + y) * 8 + x];
        assert!(at(4, 4, 4) > at(0, 4, 4));
        assert!(at(0, 0, 0) >= 1e-3);
        assert_eq!(
            WeightMap::new([2, 2, 2], Weighting::Uniform).values,
            vec![1.0; 8]
        );
    }
}
