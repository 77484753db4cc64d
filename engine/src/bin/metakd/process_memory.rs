//! The benchmarks' view of this process's resident memory (Linux `/proc/self`; `None`
//! elsewhere).

/// The resident-memory high-water mark and current size, in bytes.
pub fn memory_bytes() -> Option<(u64, u64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
            .map(|kb| kb * 1024)
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// Resets the kernel's record of the high-water mark (Linux ≥ 4.0), so the next
/// [`memory_bytes`] reports the peak from now on.
pub fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}
