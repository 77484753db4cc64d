//! NIfTI writing (implemented by the volume-I/O work).

use super::{Volume, VolumeError};
use std::path::Path;

/// Writes `labels` (one frame on `like`'s grid) as a u8 `.nii.gz` carrying `like`'s geometry.
pub fn write_labels(path: &Path, labels: &[u8], like: &Volume) -> Result<(), VolumeError> {
    let _ = (labels, like);
    Err(VolumeError::Write {
        path: path.to_path_buf(),
        reason: "writer not built yet".into(),
    })
}

/// Writes `data` (one frame on `like`'s grid) as an f32 `.nii.gz` carrying `like`'s geometry.
pub fn write_f32(path: &Path, data: &[f32], like: &Volume) -> Result<(), VolumeError> {
    let _ = (data, like);
    Err(VolumeError::Write {
        path: path.to_path_buf(),
        reason: "writer not built yet".into(),
    })
}
