//! Property test of `Volume::read` on hostile input: random bytes, and valid small images with
//! random byte mutations and truncations, as `.nii`, `.nii.gz` and `.hdr`/`.img`. Reading must
//! return `Ok` or `Err`, never panic, and never ask for an absurd allocation: a counting global
//! allocator records the largest single request, which must stay within a few MiB for these
//! inputs of at most a few KiB (the reader's fixed buffers plus what the data can fill).

mod support;

use engine::volume::Volume;
use proptest::prelude::*;
use std::path::Path;
use support::allocation::{largest_request, LargestRequest};
use support::mutation::{mutate, mutations};
use support::{encode, gzip, Spec};

/// Bytes the header-aimed mutations land in: up to the largest test image's data offset (560).
const HEADER: usize = 560;

#[global_allocator]
static ALLOCATOR: LargestRequest = LargestRequest;

/// Largest single allocation a read of these small inputs may request: the 1 MiB chunk buffer
/// (the largest seen), or for gzip at most what 1.5 KiB can inflate to (1032:1), as `f32`.
const ALLOCATION_LIMIT: usize = 16 << 20;

/// Reads `path`; asserts that it returns, that an error names the file (`stem` is enough:
/// a pair's error may concern either half) and that no allocation was absurd.
fn read_survives(path: &Path, stem: &str) -> Result<(), TestCaseError> {
    if let Err(error) = Volume::read(path) {
        let message = error.to_string();
        prop_assert!(
            message.contains(stem),
            "message does not name the file: {message}"
        );
    }
    let largest = largest_request();
    prop_assert!(largest <= ALLOCATION_LIMIT, "a {largest}-byte allocation");
    Ok(())
}

/// A valid 4×3×2 int16 image with scaling, an extension and an sform.
fn valid_image(version: u8, big_endian: bool) -> Vec<u8> {
    let mut spec = Spec::new([4, 3, 2], 4, 16);
    spec.big_endian = big_endian;
    spec.scl_slope = 2.0;
    spec.qform_code = 1;
    spec.extension = vec![7; 16];
    spec.vox_offset = 368.0;
    if version == 2 {
        spec = spec.nifti2();
        spec.vox_offset = 560.0;
    }
    let values: Vec<f64> = (0..24).map(|v| f64::from(v) - 12.0).collect();
    spec.file(&encode(&values, 4, big_endian))
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 300,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_bytes_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..1500),
        looks_like_nifti1 in any::<bool>(),
    ) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut bytes = bytes;
        if looks_like_nifti1 && bytes.len() >= 348 {
            bytes[..4].copy_from_slice(&348i32.to_le_bytes());
            bytes[344..348].copy_from_slice(b"n+1\0");
        }
        let plain = dir.path().join("random.nii");
        std::fs::write(&plain, &bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        read_survives(&plain, "random.nii")?;
        let zipped = dir.path().join("random.nii.gz");
        std::fs::write(&zipped, gzip(&bytes)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        read_survives(&zipped, "random.nii.gz")?;
    }

    #[test]
    fn mutated_images_never_panic(
        version in 1u8..=2,
        big_endian in any::<bool>(),
        (edits, cut) in mutations(),
    ) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let bytes = mutate(valid_image(version, big_endian), HEADER, &edits, cut);
        let plain = dir.path().join("mutated.nii");
        std::fs::write(&plain, &bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        read_survives(&plain, "mutated.nii")?;
        let zipped = dir.path().join("mutated.nii.gz");
        std::fs::write(&zipped, gzip(&bytes)).map_err(|e| TestCaseError::fail(e.to_string()))?;
        read_survives(&zipped, "mutated.nii.gz")?;
    }

    #[test]
    fn mutated_gzip_streams_never_panic((edits, cut) in mutations()) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let zipped = mutate(gzip(&valid_image(1, false)), HEADER, &edits, cut);
        let path = dir.path().join("stream.nii.gz");
        std::fs::write(&path, &zipped).map_err(|e| TestCaseError::fail(e.to_string()))?;
        read_survives(&path, "stream.nii.gz")?;
    }

    #[test]
    fn mutated_pairs_never_panic((edits, cut) in mutations(), image_cut in 0usize..64) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut spec = Spec::new([4, 3, 2], 2, 8);
        spec.vox_offset = 0.0;
        let header = mutate(spec.header_bytes(false), HEADER, &edits, cut);
        let image: Vec<u8> = (0..image_cut as u8).collect();
        std::fs::write(dir.path().join("pair.hdr"), &header)
            .and_then(|()| std::fs::write(dir.path().join("pair.img"), &image))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        read_survives(&dir.path().join("pair.hdr"), "pair.")?;
    }
}
