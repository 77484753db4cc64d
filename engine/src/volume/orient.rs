//! Reorientation to the closest RAS axes for display, without resampling.
//!
//! The display grid is the on-disk grid with its axes permuted and flipped so that display axis
//! 0 runs towards Right, 1 towards Anterior and 2 towards Superior. Index mapping is exact both
//! ways, so a click on screen lands on exactly one stored voxel, and the same object stored in
//! RAS or LPS voxel order produces identical slices.
//!
//! Slices come out in the *neurological* convention (patient left on the screen's left, anterior
//! or superior at the top, sagittal with anterior on the left); the viewer mirrors axial and
//! coronal slices horizontally for the radiological convention.

use super::geometry::{closest_world_axes, Affine};

/// The three orthogonal viewing planes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Plane {
    /// Fixed superior–inferior position (S axis).
    Axial,
    /// Fixed anterior–posterior position (A axis).
    Coronal,
    /// Fixed left–right position (R axis).
    Sagittal,
}

impl Plane {
    pub const ALL: [Plane; 3] = [Plane::Axial, Plane::Coronal, Plane::Sagittal];

    /// The RAS display axis held fixed in this plane.
    pub fn normal_axis(self) -> usize {
        match self {
            Plane::Axial => 2,
            Plane::Coronal => 1,
            Plane::Sagittal => 0,
        }
    }

    /// The RAS axes along the screen's columns and rows, and whether each runs against the
    /// screen direction (columns left→right, rows top→bottom).
    fn screen_axes(self) -> [(usize, bool); 2] {
        match self {
            // columns: x (L→R), rows: y from anterior (top) to posterior.
            Plane::Axial => [(0, false), (1, true)],
            // columns: x (L→R), rows: z from superior (top) to inferior.
            Plane::Coronal => [(0, false), (2, true)],
            // columns: y from anterior (left) to posterior, rows: z from superior to inferior.
            Plane::Sagittal => [(1, true), (2, true)],
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Plane::Axial => "Axial",
            Plane::Coronal => "Coronal",
            Plane::Sagittal => "Sagittal",
        }
    }
}

/// A 2D slice in display orientation: `values[row * width + col]`, row 0 at the top.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice<T> {
    pub width: usize,
    pub height: usize,
    pub values: Vec<T>,
}

/// How the on-disk axes map onto the RAS display grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Orientation {
    /// For each display axis (R, A, S): the on-disk axis that runs along it.
    pub disk_axis: [usize; 3],
    /// For each display axis: true when the on-disk axis runs against it (index is mirrored).
    pub flipped: [bool; 3],
    /// On-disk shape `[nx, ny, nz]`.
    pub disk_shape: [usize; 3],
}

impl Orientation {
    pub fn from_affine(affine: &Affine, disk_shape: [usize; 3]) -> Orientation {
        let mut disk_axis = [0; 3];
        let mut flipped = [false; 3];
        for (disk, (world, flip)) in closest_world_axes(affine).into_iter().enumerate() {
            disk_axis[world] = disk;
            flipped[world] = flip;
        }
        Orientation {
            disk_axis,
            flipped,
            disk_shape,
        }
    }

    /// Shape of the display grid `[n_R, n_A, n_S]`.
    pub fn ras_shape(&self) -> [usize; 3] {
        [0, 1, 2].map(|axis| self.disk_shape[self.disk_axis[axis]])
    }

    /// Display index → on-disk index.
    pub fn to_disk(&self, ras: [usize; 3]) -> [usize; 3] {
        let mut disk = [0; 3];
        for (axis, (&d, &flipped)) in self.disk_axis.iter().zip(&self.flipped).enumerate() {
            disk[d] = if flipped {
                self.disk_shape[d] - 1 - ras[axis]
            } else {
                ras[axis]
            };
        }
        disk
    }

    /// On-disk index → display index.
    pub fn to_ras(&self, disk: [usize; 3]) -> [usize; 3] {
        let mut ras = [0; 3];
        for (axis, (&d, &flipped)) in self.disk_axis.iter().zip(&self.flipped).enumerate() {
            ras[axis] = if flipped {
                self.disk_shape[d] - 1 - disk[d]
            } else {
                disk[d]
            };
        }
        ras
    }

    /// Width and height in pixels of a slice in `plane`.
    pub fn slice_size(&self, plane: Plane) -> (usize, usize) {
        let shape = self.ras_shape();
        let [(col_axis, _), (row_axis, _)] = plane.screen_axes();
        (shape[col_axis], shape[row_axis])
    }

    /// Number of slices along the plane's normal.
    pub fn slice_count(&self, plane: Plane) -> usize {
        self.ras_shape()[plane.normal_axis()]
    }

    /// The display index of the voxel shown at `(col, row)` of slice `index` in `plane`.
    pub fn screen_to_ras(&self, plane: Plane, index: usize, col: usize, row: usize) -> [usize; 3] {
        let shape = self.ras_shape();
        let [(col_axis, col_flip), (row_axis, row_flip)] = plane.screen_axes();
        let mut ras = [0; 3];
        ras[plane.normal_axis()] = index;
        ras[col_axis] = if col_flip {
            shape[col_axis] - 1 - col
        } else {
            col
        };
        ras[row_axis] = if row_flip {
            shape[row_axis] - 1 - row
        } else {
            row
        };
        ras
    }

    /// The `(col, row)` at which display voxel `ras` appears in its slice of `plane`.
    pub fn ras_to_screen(&self, plane: Plane, ras: [usize; 3]) -> (usize, usize) {
        let shape = self.ras_shape();
        let [(col_axis, col_flip), (row_axis, row_flip)] = plane.screen_axes();
        let col = if col_flip {
            shape[col_axis] - 1 - ras[col_axis]
        } else {
            ras[col_axis]
        };
        let row = if row_flip {
            shape[row_axis] - 1 - ras[row_axis]
        } else {
            ras[row_axis]
        };
        (col, row)
    }

    /// Extracts slice `index` of `plane` from one frame of on-disk voxels (`i` fastest).
    /// `index` is clamped to the valid range.
    pub fn slice<T: Copy>(&self, frame: &[T], plane: Plane, index: usize) -> Slice<T> {
        let (width, height) = self.slice_size(plane);
        let index = index.min(self.slice_count(plane).saturating_sub(1));
        let [nx, ny, _] = self.disk_shape;
        let mut values = Vec::with_capacity(width * height);
        for row in 0..height {
            for col in 0..width {
                let [i, j, k] = self.to_disk(self.screen_to_ras(plane, index, col, row));
                values.push(frame[i + nx * (j + ny * k)]);
            }
        }
        Slice {
            width,
            height,
            values,
        }
    }

    /// Millimetres per column and per row of a slice, from the on-disk voxel sizes.
    pub fn pixel_spacing(&self, plane: Plane, voxel_sizes: [f64; 3]) -> (f64, f64) {
        let [(col_axis, _), (row_axis, _)] = plane.screen_axes();
        (
            voxel_sizes[self.disk_axis[col_axis]],
            voxel_sizes[self.disk_axis[row_axis]],
        )
    }

    /// Orientation letters at the left, right, top and bottom edges of a slice (neurological).
    pub fn edge_letters(plane: Plane) -> [char; 4] {
        match plane {
            Plane::Axial => ['L', 'R', 'A', 'P'],
            Plane::Coronal => ['L', 'R', 'S', 'I'],
            Plane::Sagittal => ['A', 'P', 'S', 'I'],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3×4×5 object whose value encodes its RAS position, stored in RAS order.
    fn ras_object() -> (Orientation, Vec<f32>) {
        let shape = [3, 4, 5];
        let mut data = Vec::new();
        for k in 0..5 {
            for j in 0..4 {
                for i in 0..3 {
                    data.push((100 * i + 10 * j + k) as f32);
                }
            }
        }
        (
            Orientation::from_affine(&Affine::from_scales([1.0, 1.0, 1.0]), shape),
            data,
        )
    }

    /// The same object stored in LPS order: disk i runs R→L, j runs A→P.
    fn lps_object() -> (Orientation, Vec<f32>) {
        let shape = [3, 4, 5];
        let mut data = Vec::new();
        for k in 0..5 {
            for j in 0..4 {
                for i in 0..3 {
                    let (x, y) = (2 - i, 3 - j);
                    data.push((100 * x + 10 * y + k) as f32);
                }
            }
        }
        let affine = Affine([
            [-1.0, 0.0, 0.0, 2.0],
            [0.0, -1.0, 0.0, 3.0],
            [0.0, 0.0, 1.0, 0.0],
            [0.0, 0.0, 0.0, 1.0],
        ]);
        (Orientation::from_affine(&affine, shape), data)
    }

    #[test]
    fn ras_and_lps_storage_display_identically() {
        let (ras, ras_data) = ras_object();
        let (lps, lps_data) = lps_object();
        for plane in Plane::ALL {
            for index in 0..ras.slice_count(plane) {
                assert_eq!(
                    ras.slice(&ras_data, plane, index),
                    lps.slice(&lps_data, plane, index),
                    "{plane:?} {index}"
                );
            }
        }
    }

    #[test]
    fn index_mapping_is_exact_both_ways() {
        let (lps, _) = lps_object();
        for i in 0..3 {
            for j in 0..4 {
                for k in 0..5 {
                    assert_eq!(lps.to_disk(lps.to_ras([i, j, k])), [i, j, k]);
                }
            }
        }
        assert_eq!(lps.to_ras([0, 0, 0]), [2, 3, 0]);
    }

    #[test]
    fn axial_slice_has_anterior_at_top_and_left_at_left() {
        let (ras, data) = ras_object();
        let slice = ras.slice(&data, Plane::Axial, 2);
        assert_eq!((slice.width, slice.height), (3, 4));
        // Top-left: x = 0 (leftmost), y = 3 (most anterior), z = 2.
        assert_eq!(slice.values[0], 32.0);
        let (col, row) = ras.ras_to_screen(Plane::Axial, [0, 3, 2]);
        assert_eq!((col, row), (0, 0));
        assert_eq!(ras.screen_to_ras(Plane::Axial, 2, col, row), [0, 3, 2]);
    }
}
