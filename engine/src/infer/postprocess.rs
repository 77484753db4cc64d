//! Post-processing of thresholded region masks, after the released MetaKD/LCKD code
//! (`methods.md` §2.8, `postprocess.py`):
//!
//! 1. Connected components (18-neighbourhood) of the tumour mask (any region); components
//!    smaller than `min(2000, 0.1 × largest)` voxels are removed from every region.
//!    Components lying entirely within the 26 most inferior slices of the volume go too (the
//!    released code's rule against false positives at the bottom of the field of view; applied
//!    only when the third voxel axis runs inferior→superior, as in BraTS files). The largest
//!    component is always kept, so a low tumour is never removed whole.
//! 2. Enhancing-tumour suppression: when fewer than 500 voxels are ET in all, they become
//!    necrosis (TC without ET), as BraTS scores a false-positive ET on a case without ET harshly.
//!
//! Left out on purpose: the released code's "edema → core" k-means relabelling, which reads the
//! T1ce image even when T1ce is among the missing modalities.

use std::collections::VecDeque;

/// Post-processing settings; the defaults are the released code's.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PostProcess {
    /// Components below `min(min_component_voxels, min_component_fraction × largest)` go.
    pub min_component_voxels: usize,
    pub min_component_fraction: f64,
    /// Components entirely within this many inferior slices of the source volume go.
    pub inferior_slices: usize,
    /// Fewer ET voxels than this in all: relabelled as necrosis (`None`: never).
    pub min_enhancing_voxels: Option<usize>,
}

impl Default for PostProcess {
    fn default() -> Self {
        PostProcess {
            min_component_voxels: 2000,
            min_component_fraction: 0.1,
            inferior_slices: 26,
            min_enhancing_voxels: Some(500),
        }
    }
}

impl PostProcess {
    /// Applies both steps to `[3, D, H, W]` region masks (WT, TC, ET; 0/1) in place. `bottom`:
    /// where the grid's slice 0 lies in the source volume counted from its most inferior slice
    /// (`None` when the D axis does not run inferior→superior).
    pub fn apply(&self, regions: &mut [u8], shape: [usize; 3], bottom: Option<usize>) {
        let voxels: usize = shape.iter().product();
        assert_eq!(regions.len(), 3 * voxels, "three region masks on the grid");
        let tumour: Vec<bool> = (0..voxels)
            .map(|i| regions[i] | regions[voxels + i] | regions[2 * voxels + i] != 0)
            .collect();
        let (component, sizes) = components(&tumour, shape);
        let largest = (0..sizes.len()).max_by_key(|c| sizes[*c]);
        let threshold = (self.min_component_voxels as f64)
            .min(self.min_component_fraction * largest.map_or(0, |c| sizes[c]) as f64);
        // Highest slice of each component, to find those entirely at the bottom.
        let plane = shape[1] * shape[2];
        let mut top = vec![0usize; sizes.len()];
        for (i, c) in component.iter().enumerate() {
            if let Some(c) = c {
                top[*c] = top[*c].max(i / plane);
            }
        }
        let low = |c: usize| bottom.is_some_and(|b| top[c] + b < self.inferior_slices);
        for (i, c) in component.iter().enumerate() {
            if let Some(c) = *c {
                if Some(c) != largest && ((sizes[c] as f64) < threshold || low(c)) {
                    for r in 0..3 {
                        regions[r * voxels + i] = 0;
                    }
                }
            }
        }
        if let Some(min) = self.min_enhancing_voxels {
            let enhancing = regions[2 * voxels..].iter().filter(|v| **v != 0).count();
            if enhancing < min {
                for i in 0..voxels {
                    if regions[2 * voxels + i] != 0 {
                        regions[2 * voxels + i] = 0;
                        regions[voxels + i] = 1;
                        regions[i] = 1;
                    }
                }
            }
        }
    }
}

/// The 18-neighbourhood offsets (faces and edges of the voxel's cube).
fn neighbours() -> Vec<[isize; 3]> {
    let mut out = Vec::with_capacity(18);
    for dz in -1isize..=1 {
        for dy in -1isize..=1 {
            for dx in -1isize..=1 {
                let n = dz.abs() + dy.abs() + dx.abs();
                if n == 1 || n == 2 {
                    out.push([dz, dy, dx]);
                }
            }
        }
    }
    out
}

/// Labels the 18-connected components of `mask` on a `[D, H, W]` grid: the component of each
/// voxel (`None` outside the mask) and the size of each component.
pub fn components(mask: &[bool], shape: [usize; 3]) -> (Vec<Option<usize>>, Vec<usize>) {
    let [d, h, w] = shape;
    let offsets = neighbours();
    let mut label = vec![None; mask.len()];
    let mut sizes = Vec::new();
    let mut queue = VecDeque::new();
    for start in 0..mask.len() {
        if !mask[start] || label[start].is_some() {
            continue;
        }
        let id = sizes.len();
        let mut size = 0;
        label[start] = Some(id);
        queue.push_back(start);
        while let Some(i) = queue.pop_front() {
            size += 1;
            let (z, y, x) = (i / (h * w), (i / w) % h, i % w);
            for [dz, dy, dx] in &offsets {
                let (nz, ny, nx) = (z as isize + dz, y as isize + dy, x as isize + dx);
                if nz < 0 || ny < 0 || nx < 0 {
                    continue;
                }
                let (nz, ny, nx) = (nz as usize, ny as usize, nx as usize);
                if nz >= d || ny >= h || nx >= w {
                    continue;
                }
                let j = (nz * h + ny) * w + nx;
                if mask[j] && label[j].is_none() {
                    label[j] = Some(id);
                    queue.push_back(j);
                }
            }
        }
        sizes.push(size);
    }
    (label, sizes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eighteen_connectivity_joins_edges_but_not_corners() {
        let shape = [2, 2, 2];
        // (0,0,0) and (0,1,1) share an edge; (1,1,1) touches (0,0,0) only at a corner.
        let mut mask = vec![false; 8];
        mask[0] = true;
        mask[3] = true;
        let (_, sizes) = components(&mask, shape);
        assert_eq!(sizes, [2]);
        let mut corner = vec![false; 8];
        corner[0] = true;
        corner[7] = true;
        let (label, sizes) = components(&corner, shape);
        assert_eq!(sizes, [1, 1]);
        assert_ne!(label[0], label[7]);
    }

    /// A large lesion survives, a small far island goes from every region, and a small ET
    /// becomes necrosis.
    #[test]
    fn removes_small_islands_and_suppresses_a_tiny_enhancing_core() {
        let shape = [10, 10, 10];
        let n = 1000;
        let mut regions = vec![0u8; 3 * n];
        let at = |z: usize, y: usize, x: usize| (z * 10 + y) * 10 + x;
        for z in 0..5 {
            for y in 0..5 {
                for x in 0..5 {
                    regions[at(z, y, x)] = 1; // WT: 125 voxels
                }
            }
        }
        regions[n + at(2, 2, 2)] = 1; // TC
        regions[2 * n + at(2, 2, 2)] = 1; // ET, one voxel
        regions[at(9, 9, 9)] = 1; // an island of one voxel: 1 < 0.1 × 125
        regions[2 * n + at(9, 9, 9)] = 1;
        PostProcess::default().apply(&mut regions, shape, None);
        assert_eq!(regions[..n].iter().filter(|v| **v != 0).count(), 125);
        assert_eq!(regions[at(9, 9, 9)], 0);
        assert_eq!(regions[2 * n + at(9, 9, 9)], 0);
        assert!(regions[2 * n..].iter().all(|v| *v == 0), "ET suppressed");
        assert_eq!(regions[n + at(2, 2, 2)], 1, "… as necrosis (TC)");

        // Without ET suppression the core keeps its ET.
        let mut kept = vec![0u8; 3 * n];
        kept[at(0, 0, 0)] = 1;
        kept[n + at(0, 0, 0)] = 1;
        kept[2 * n + at(0, 0, 0)] = 1;
        PostProcess {
            min_enhancing_voxels: None,
            ..PostProcess::default()
        }
        .apply(&mut kept, shape, None);
        assert_eq!(
            kept[2 * n + at(0, 0, 0)],
            1,
            "the largest component always stays"
        );
    }

    /// A component entirely in the lowest 26 source slices goes (when the axis runs upwards);
    /// one reaching above them, and the largest, stay.
    #[test]
    fn components_at_the_bottom_of_the_volume_go() {
        let shape = [40, 4, 4];
        let n = 40 * 16;
        let mut regions = vec![0u8; 3 * n];
        let at = |z: usize, x: usize| z * 16 + x;
        for z in 20..40 {
            regions[at(z, 0)] = 1; // the lesion, slices 20..40 (largest)
        }
        for z in 0..10 {
            regions[at(z, 3)] = 1; // low, 10 voxels: above the size threshold (2)
        }
        regions[at(2, 15)] = 1; // one voxel, corner
        regions[at(12, 15)] = 1;
        let size = PostProcess {
            min_component_voxels: 1,
            min_enhancing_voxels: None,
            ..PostProcess::default()
        };
        let mut low = regions.clone();
        size.apply(&mut low, shape, Some(0));
        assert_eq!(low[..n].iter().filter(|v| **v != 0).count(), 20);
        // Cropped 20 slices above the volume's bottom: slices 0..10 of the crop are source
        // slices 20..30, not all below 26, so the low component stays; the voxel at crop slice
        // 2 (source 22) goes.
        let mut cropped = regions.clone();
        size.apply(&mut cropped, shape, Some(20));
        assert_eq!(cropped[..n].iter().filter(|v| **v != 0).count(), 31);
        assert_eq!(cropped[at(12, 15)], 1);
        // Orientation unknown: the rule is off.
        let mut unknown = regions;
        size.apply(&mut unknown, shape, None);
        assert_eq!(unknown[..n].iter().filter(|v| **v != 0).count(), 32);
    }
}
