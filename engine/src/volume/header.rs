//! NIfTI header types: element data types, the NIfTI version, and the raw spatial fields that are
//! carried verbatim into files written with a source image's geometry.

use super::geometry::Affine;
use serde::Serialize;

/// Element type of the stored voxels (NIfTI `datatype` codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DataType {
    U8,
    I8,
    I16,
    U16,
    I32,
    U32,
    I64,
    U64,
    F32,
    F64,
}

impl DataType {
    /// The NIfTI `datatype` code.
    pub fn code(self) -> i16 {
        match self {
            DataType::U8 => 2,
            DataType::I16 => 4,
            DataType::I32 => 8,
            DataType::F32 => 16,
            DataType::F64 => 64,
            DataType::I8 => 256,
            DataType::U16 => 512,
            DataType::U32 => 768,
            DataType::I64 => 1024,
            DataType::U64 => 1280,
        }
    }

    /// The type with NIfTI `datatype` code `code`, if it is one of the supported ones.
    pub fn from_code(code: i16) -> Option<DataType> {
        Some(match code {
            2 => DataType::U8,
            4 => DataType::I16,
            8 => DataType::I32,
            16 => DataType::F32,
            64 => DataType::F64,
            256 => DataType::I8,
            512 => DataType::U16,
            768 => DataType::U32,
            1024 => DataType::I64,
            1280 => DataType::U64,
            _ => return None,
        })
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DataType::U8 | DataType::I8 => 1,
            DataType::I16 | DataType::U16 => 2,
            DataType::I32 | DataType::U32 | DataType::F32 => 4,
            DataType::I64 | DataType::U64 | DataType::F64 => 8,
        }
    }

    /// Lower-case name as used by `metakd info` (`"int16"`, `"float32"`, …).
    pub fn name(self) -> &'static str {
        match self {
            DataType::U8 => "uint8",
            DataType::I8 => "int8",
            DataType::I16 => "int16",
            DataType::U16 => "uint16",
            DataType::I32 => "int32",
            DataType::U32 => "uint32",
            DataType::I64 => "int64",
            DataType::U64 => "uint64",
            DataType::F32 => "float32",
            DataType::F64 => "float64",
        }
    }
}

/// Which header layout the file used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum NiftiVersion {
    Nifti1,
    Nifti2,
}

/// The header fields that define where voxels sit in space. A file written "like" a source image
/// copies these exactly, so it opens aligned in every viewer.
#[derive(Debug, Clone, PartialEq)]
pub struct SpatialHeader {
    /// `pixdim[0..8]`; `pixdim[0]` is qfac, `pixdim[1..4]` the voxel sizes.
    pub pixdim: [f64; 8],
    pub qform_code: i32,
    pub sform_code: i32,
    /// `quatern_b`, `quatern_c`, `quatern_d`.
    pub quatern: [f64; 3],
    /// `qoffset_x`, `qoffset_y`, `qoffset_z`.
    pub qoffset: [f64; 3],
    /// `srow_x`, `srow_y`, `srow_z`.
    pub srow: [[f64; 4]; 3],
    /// Spatial and temporal units (`xyzt_units`).
    pub xyzt_units: i32,
}

impl SpatialHeader {
    /// Header fields for a volume built in memory with the given voxel→world affine: the sform
    /// (code 1, scanner) holds the affine exactly, the qform (code 1) its rigid part, and
    /// `pixdim` the voxel sizes. Units are millimetres and seconds.
    pub fn from_affine(affine: &Affine) -> SpatialHeader {
        let (quatern, qoffset, sizes, qfac) = affine.to_quaternion();
        let m = affine.0;
        SpatialHeader {
            pixdim: [qfac, sizes[0], sizes[1], sizes[2], 0.0, 0.0, 0.0, 0.0],
            qform_code: 1,
            sform_code: 1,
            quatern,
            qoffset,
            srow: [m[0], m[1], m[2]],
            xyzt_units: 2 | 8,
        }
    }

    /// The voxel→world affine by the NIfTI rule: the sform when `sform_code > 0`, else the
    /// qform when `qform_code > 0`, else scaling by `pixdim[1..4]`.
    pub fn chosen_affine(&self) -> (Affine, super::AffineSource) {
        use super::AffineSource;
        let sizes = [self.pixdim[1], self.pixdim[2], self.pixdim[3]];
        if self.sform_code > 0 {
            (Affine::from_srows(self.srow), AffineSource::Sform)
        } else if self.qform_code > 0 {
            (
                Affine::from_quaternion(self.quatern, self.qoffset, sizes, self.pixdim[0]),
                AffineSource::Qform,
            )
        } else {
            (
                Affine::from_scales(sizes.map(|s| if s == 0.0 { 1.0 } else { s.abs() })),
                AffineSource::Pixdim,
            )
        }
    }

    /// The chosen affine if it is usable (finite and invertible); otherwise the next rule down
    /// the sform → qform → pixdim chain that is. `None` when no rule gives a usable geometry.
    pub fn usable_affine(&self) -> Option<(Affine, super::AffineSource)> {
        let without_sform = SpatialHeader {
            sform_code: 0,
            ..self.clone()
        };
        let pixdim_only = SpatialHeader {
            qform_code: 0,
            ..without_sform.clone()
        };
        let usable = [self, &without_sform, &pixdim_only]
            .into_iter()
            .map(SpatialHeader::chosen_affine)
            .find(|(affine, _)| {
                affine.0.iter().flatten().all(|v| v.is_finite()) && affine.is_invertible()
            });
        usable
    }
}
