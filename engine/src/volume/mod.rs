//! `engine::volume` owns a single NIfTI image in memory: its voxels as scaled `f32`, the raw
//! spatial header fields (so a saved file carries the source geometry exactly), the chosen
//! voxel→world affine (RAS mm), reading (`.nii`, `.nii.gz`, `.hdr`+`.img`, NIfTI-1 and -2) and
//! writing (`.nii.gz`), and reorientation to the closest RAS axes for display.
//!
//! Voxel layout: on-disk order, `i` fastest, then `j`, `k`, then frame `t`:
//! `index = i + nx * (j + ny * (k + nz * t))`.

mod decode;
mod error;
mod fault;
mod geometry;
mod header;
mod intensity;
mod layout;
mod orient;
mod parse;
mod read;
mod write;

pub use error::VolumeError;
pub use geometry::{axcodes, Affine, AffineSource};
pub use header::{DataType, NiftiVersion, SpatialHeader};
pub use intensity::{background_value, percentile_range};
pub use orient::{Orientation, Plane, Slice};
pub use write::{write_f32, write_i16, write_labels, write_volume};

use std::path::{Path, PathBuf};

/// One NIfTI image: voxels (scaled to `f32`) plus everything needed to place them in space and
/// to write a result back with the same geometry.
#[derive(Debug, Clone)]
pub struct Volume {
    /// The file it was read from (for messages); `None` for volumes built in memory.
    pub source: Option<PathBuf>,
    /// Spatial shape in on-disk order `[nx, ny, nz]` (2D images have `nz == 1`).
    pub shape: [usize; 3],
    /// Number of frames (the 4th dimension; 1 for a 3D image).
    pub frames: usize,
    /// Scaled voxel values, `raw * scl_slope + scl_inter` when the slope is finite and non-zero.
    pub data: Vec<f32>,
    /// Element type on disk.
    pub datatype: DataType,
    /// NIfTI-1 or NIfTI-2 header.
    pub version: NiftiVersion,
    /// `scl_slope` as stored in the header.
    pub scl_slope: f64,
    /// `scl_inter` as stored in the header.
    pub scl_inter: f64,
    /// Raw geometry fields of the header, copied verbatim into files written "like" this one.
    pub spatial: SpatialHeader,
    /// The voxel→world (RAS mm) affine chosen by the sform → qform → pixdim rule.
    pub affine: Affine,
    /// Which header fields `affine` came from.
    pub affine_source: AffineSource,
}

impl Volume {
    /// Reads a NIfTI file (`.nii`, `.nii.gz`, `.hdr`/`.img` pair, NIfTI-1 or -2).
    pub fn read(path: &Path) -> Result<Volume, VolumeError> {
        read::read_volume(path)
    }

    /// Number of voxels in one frame.
    pub fn voxels_per_frame(&self) -> usize {
        self.shape[0] * self.shape[1] * self.shape[2]
    }

    /// The voxels of frame `t` (panics only on an out-of-range `t`, a programming error).
    pub fn frame(&self, t: usize) -> &[f32] {
        let n = self.voxels_per_frame();
        &self.data[t * n..(t + 1) * n]
    }

    /// Linear index of voxel `[i, j, k]` in frame 0, or `None` when outside the grid.
    pub fn index(&self, ijk: [usize; 3]) -> Option<usize> {
        let [nx, ny, nz] = self.shape;
        (ijk[0] < nx && ijk[1] < ny && ijk[2] < nz).then(|| ijk[0] + nx * (ijk[1] + ny * ijk[2]))
    }

    /// Value at voxel `[i, j, k]` of frame `t`, or `None` when outside the grid.
    pub fn value(&self, ijk: [usize; 3], t: usize) -> Option<f32> {
        if t >= self.frames {
            return None;
        }
        self.index(ijk)
            .map(|i| self.data[t * self.voxels_per_frame() + i])
    }

    /// World position (RAS mm) of a (possibly fractional) voxel index.
    pub fn voxel_to_world(&self, ijk: [f64; 3]) -> [f64; 3] {
        self.affine.apply(ijk)
    }

    /// Voxel sizes in mm along the on-disk axes (column norms of the affine).
    pub fn voxel_sizes(&self) -> [f64; 3] {
        self.affine.voxel_sizes()
    }

    /// Orientation codes of the on-disk axes, e.g. `['L', 'P', 'S']`.
    pub fn axcodes(&self) -> [char; 3] {
        axcodes(&self.affine)
    }

    /// Volume of one voxel in mL.
    pub fn voxel_volume_ml(&self) -> f64 {
        let [a, b, c] = self.voxel_sizes();
        a * b * c / 1000.0
    }

    /// The mapping between on-disk indices and the closest RAS-aligned display grid.
    pub fn orientation(&self) -> Orientation {
        Orientation::from_affine(&self.affine, self.shape)
    }

    /// A 3D f32 volume built in memory (phantoms, results, tests): the sform (and the qform's
    /// rigid part) hold `affine`. `data.len()` must equal the voxel count of `shape`.
    pub fn in_memory(shape: [usize; 3], affine: Affine, data: Vec<f32>) -> Volume {
        Volume {
            source: None,
            shape,
            frames: 1,
            data,
            datatype: DataType::F32,
            version: NiftiVersion::Nifti1,
            scl_slope: 1.0,
            scl_inter: 0.0,
            spatial: SpatialHeader::from_affine(&affine),
            affine,
            affine_source: AffineSource::Sform,
        }
    }

    /// A new 3D volume on the same grid and geometry as `self` holding `data`
    /// (datatype f32, no scaling). `data.len()` must equal `voxels_per_frame()`.
    pub fn like(&self, data: Vec<f32>) -> Volume {
        debug_assert_eq!(data.len(), self.voxels_per_frame());
        Volume {
            source: None,
            frames: 1,
            data,
            datatype: DataType::F32,
            scl_slope: 1.0,
            scl_inter: 0.0,
            ..self.clone_geometry()
        }
    }

    fn clone_geometry(&self) -> Volume {
        Volume {
            source: self.source.clone(),
            shape: self.shape,
            frames: self.frames,
            data: Vec::new(),
            datatype: self.datatype,
            version: self.version,
            scl_slope: self.scl_slope,
            scl_inter: self.scl_inter,
            spatial: self.spatial.clone(),
            affine: self.affine,
            affine_source: self.affine_source,
        }
    }
}
