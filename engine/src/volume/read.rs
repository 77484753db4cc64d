//! NIfTI reading (implemented by the volume-I/O work).

use super::{Volume, VolumeError};
use std::path::Path;

pub(crate) fn read_volume(path: &Path) -> Result<Volume, VolumeError> {
    Err(VolumeError::Unsupported {
        path: path.to_path_buf(),
        reason: "reader not built yet".into(),
    })
}
