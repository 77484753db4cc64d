//! Problems found while reading, before the caller has said which file they concern. The reader
//! knows whether a problem lies in the header file or in the voxel file of a `.hdr`/`.img` pair
//! and turns each [`Fault`] into a [`VolumeError`] naming that file.

use super::VolumeError;
use std::io;
use std::path::Path;

#[derive(Debug)]
pub(super) enum Fault {
    NotNifti(String),
    BadHeader(String),
    Unsupported(String),
    Truncated(String),
    Corrupt(String),
    Io(io::Error),
}

impl Fault {
    /// The error for `path`.
    pub(super) fn at(self, path: &Path) -> VolumeError {
        let path = path.to_path_buf();
        match self {
            Fault::NotNifti(reason) => VolumeError::NotNifti { path, reason },
            Fault::BadHeader(reason) => VolumeError::BadHeader { path, reason },
            Fault::Unsupported(reason) => VolumeError::Unsupported { path, reason },
            Fault::Truncated(reason) => VolumeError::Truncated { path, reason },
            Fault::Corrupt(reason) => VolumeError::Corrupt { path, reason },
            Fault::Io(source) => VolumeError::Io { path, source },
        }
    }

    /// An I/O error met while reading `what` (e.g. "the header"), `found` of `expected` bytes
    /// in. A gzip stream that stops early is truncation; one that does not decode is corruption.
    pub(super) fn from_read_error(
        error: io::Error,
        what: &str,
        found: u64,
        expected: u64,
    ) -> Fault {
        match error.kind() {
            io::ErrorKind::UnexpectedEof => Fault::Truncated(format!(
                "the compressed stream ends inside {what}: {found} of {expected} bytes decoded"
            )),
            io::ErrorKind::InvalidData | io::ErrorKind::InvalidInput => {
                Fault::Corrupt(format!("{error} (in {what}, after {found} bytes)"))
            }
            _ => Fault::Io(error),
        }
    }
}
