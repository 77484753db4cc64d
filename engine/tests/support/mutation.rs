//! Byte mutations of valid files for the fuzz tests: a few overwrites, half of them aimed at
//! the file's header, then an optional truncation.

use proptest::prelude::*;

/// Byte overwrites (position, aimed at the header?, value) and an optional truncation point.
pub type Mutations = (Vec<(usize, bool, u8)>, Option<usize>);

/// Up to 12 byte overwrites, then a truncation three times in ten.
pub fn mutations() -> impl Strategy<Value = Mutations> {
    (
        prop::collection::vec((any::<usize>(), any::<bool>(), any::<u8>()), 1..12),
        prop::option::weighted(0.3, any::<usize>()),
    )
}

/// Applies `edits` to `bytes` (those aimed at the header land in its first `head` bytes),
/// then cuts it at `cut` modulo its length plus one.
pub fn mutate(
    mut bytes: Vec<u8>,
    head: usize,
    edits: &[(usize, bool, u8)],
    cut: Option<usize>,
) -> Vec<u8> {
    let head = head.min(bytes.len());
    for &(position, in_head, value) in edits {
        let range = if in_head { head } else { bytes.len() };
        if range > 0 {
            bytes[position % range] = value;
        }
    }
    if let Some(cut) = cut {
        bytes.truncate(cut % (bytes.len() + 1));
    }
    bytes
}
