//! Writing files so that a crash or a full disk never leaves a half-written file under the
//! final name: write a temporary file in the same folder, then rename it into place.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// A unique hidden temporary name next to `path` (same folder, so the rename is atomic).
pub fn temporary_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let unique = COUNTER.fetch_add(1, Ordering::Relaxed);
    path.with_file_name(format!(".{name}.{}-{unique}.tmp", std::process::id()))
}

/// Writes `bytes` to `path` atomically; on failure `path` is left as it was.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temporary = temporary_path(path);
    let result = fs::write(&temporary, bytes).and_then(|()| fs::rename(&temporary, path));
    if result.is_err() {
        // The temporary file may not exist (creation failed); nothing else to do then.
        let _ = fs::remove_file(&temporary);
    }
    result
}
