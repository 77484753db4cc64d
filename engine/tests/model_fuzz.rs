//! Property test of model files and checkpoints on hostile input: a valid tiny model file and a
//! valid checkpoint (taken after one real Adam step, so the optimiser state is not empty) with
//! random byte overwrites and truncations, and model headers with random field values (huge
//! widths, depths, patches, non-finite weights). Reading (and, for model files that parse,
//! building and loading the network) must return `Ok` or `Err`, never panic; every error must
//! name the file; and no single allocation may be absurd (a counting global allocator records
//! the largest request: a header asking for a ten-million-channel network must be refused
//! before the network is built, not by running out of memory).
//!
//! `FUZZ_CASES` sets the cases per property (default 64, kept small for the suite);
//! docs/measurements/ records a long run.

mod support;

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::{Device, Tensor, TensorData};
use engine::model::file::ModelMeta;
use engine::model::{MetaKdNet, ModelConfig, ModelFile, Preset};
use engine::study::Availability;
use engine::train::checkpoint;
use proptest::prelude::*;
use std::path::Path;
use std::sync::OnceLock;
use support::allocation::{largest_request, LargestRequest};
use support::mutation::{mutate, mutations};

#[global_allocator]
static ALLOCATOR: LargestRequest = LargestRequest;

/// Largest single allocation these inputs may cause: the files are about 100 KB, and a header
/// may describe a network at most a small multiple of the weights it carries.
const ALLOCATION_LIMIT: usize = 64 << 20;

fn cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64)
}

fn tiny_meta() -> ModelMeta {
    ModelMeta {
        config: ModelConfig::preset(Preset::Tiny),
        method: "metakd".into(),
        iterations: 1,
        modality_weights: Some([0.25; 4]),
        patch: [16; 3],
    }
}

/// A tiny network after one Adam step on a fixed batch, with its optimiser.
fn stepped_network() -> (MetaKdNet, ModuleOptimizer) {
    let device = Device::flex().autodiff();
    device.seed(4);
    let net = MetaKdNet::new(&ModelConfig::preset(Preset::Tiny), &device).unwrap();
    let x: Vec<f32> = (0..4 * 4096).map(|i| (i % 13) as f32 / 6.0 - 1.0).collect();
    let input = Tensor::<5>::from_data(TensorData::new(x, [1, 4, 16, 16, 16]), &device);
    let loss = net
        .forward(input, &[Availability::FULL], None)
        .logits
        .powi_scalar(2)
        .mean();
    let grads = GradientsParams::from_grads(loss.backward(), &net);
    let mut optim: ModuleOptimizer = AdamConfig::new().init();
    let net = optim.step(1e-3, net, grads);
    (net, optim)
}

/// A valid model file's bytes and a valid checkpoint's bytes, made once.
fn valid_files() -> &'static (Vec<u8>, Vec<u8>) {
    static FILES: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    FILES.get_or_init(|| {
        let (net, optim) = stepped_network();
        let model = ModelFile::from_net(&net, tiny_meta()).unwrap().to_bytes();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoint.bin");
        checkpoint::save(&path, 1, "metakd", &net, &optim, &[1, 2, 3]).unwrap();
        (model, std::fs::read(&path).unwrap())
    })
}

/// Reads `bytes` as the model file `name`, builds and loads the network when it parses, and
/// checks that the outcome is sane; returns the header of a model that loaded.
fn model_survives(
    dir: &Path,
    name: &str,
    bytes: &[u8],
) -> Result<Option<ModelMeta>, TestCaseError> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let outcome = ModelFile::read(&path)
        .and_then(|file| file.load(&path, &Device::flex()).map(|_| file.meta));
    if let Err(error) = &outcome {
        let message = error.to_string();
        prop_assert!(
            message.contains(name),
            "message does not name the file: {message}"
        );
    }
    allocations_were_sane()?;
    Ok(outcome.ok())
}

/// Reads `bytes` as the checkpoint `name` into a fresh tiny network and optimiser.
fn checkpoint_survives(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), TestCaseError> {
    let path = dir.join(name);
    std::fs::write(&path, bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let net = MetaKdNet::new(&ModelConfig::preset(Preset::Tiny), &Device::flex()).unwrap();
    if let Err(error) = checkpoint::load(&path, net, AdamConfig::new().init()) {
        let message = error.to_string();
        prop_assert!(
            message.contains(name),
            "message does not name the file: {message}"
        );
    }
    allocations_were_sane()
}

fn allocations_were_sane() -> Result<(), TestCaseError> {
    let largest = largest_request();
    prop_assert!(largest <= ALLOCATION_LIMIT, "a {largest}-byte allocation");
    Ok(())
}

/// The header's end: 16 bytes of signature and length, then the JSON.
fn header_end(bytes: &[u8]) -> usize {
    16 + u64::from_le_bytes(bytes[8..16].try_into().unwrap()) as usize
}

/// Mostly `usual` (values a buildable header would hold), sometimes anything.
fn mostly(usual: std::ops::RangeInclusive<u64>) -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        8 => usual.prop_map(serde_json::Value::from),
        1 => wild_number(),
    ]
}

/// Numbers from small to absurd, as JSON values.
fn wild_number() -> impl Strategy<Value = serde_json::Value> {
    prop_oneof![
        (0u64..80).prop_map(serde_json::Value::from),
        (1u64..=1024).prop_map(serde_json::Value::from),
        (0u64..20_000_000).prop_map(serde_json::Value::from),
        any::<u64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        Just(serde_json::Value::from(-1)),
    ]
}

/// A model header with random fields and the valid file's weights after it.
fn wild_model_file(
    channels: Vec<serde_json::Value>,
    extra_convs: serde_json::Value,
    patch: Vec<serde_json::Value>,
    weight: serde_json::Value,
    flags: (bool, bool, u8),
) -> Vec<u8> {
    let (shared_encoder, dynamic_sharing, preset) = flags;
    let preset = ["tiny", "desktop", "desktop", "paper"][usize::from(preset % 4)];
    let meta = serde_json::json!({
        "config": {
            "preset": preset,
            "channels": channels,
            "extra_convs": extra_convs,
            "shared_encoder": shared_encoder,
            "fusion": if dynamic_sharing { "dynamic_sharing" } else { "concat" },
        },
        "method": "metakd",
        "iterations": 1,
        "modality_weights": [weight, 0.25, 0.25, 0.25],
        "patch": patch,
    });
    let json = serde_json::to_vec(&meta).unwrap();
    let valid = &valid_files().0;
    let weights = &valid[header_end(valid)..];
    let mut out = b"METAKD\x00\x01".to_vec();
    out.extend_from_slice(&(json.len() as u64).to_le_bytes());
    out.extend_from_slice(&json);
    out.extend_from_slice(weights);
    out
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: cases(),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn mutated_model_files_never_panic((edits, cut) in mutations()) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let valid = &valid_files().0;
        let bytes = mutate(valid.clone(), header_end(valid), &edits, cut);
        model_survives(dir.path(), "mutated.metakd", &bytes)?;
    }

    #[test]
    fn wild_network_headers_never_panic(
        channels in prop::collection::vec(mostly(1..=1024), 1..8),
        extra_convs in mostly(0..=3),
        flags in (any::<bool>(), any::<bool>(), any::<u8>()),
    ) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let patch = vec![serde_json::Value::from(16); 3];
        let bytes = wild_model_file(channels, extra_convs, patch, 0.25.into(), flags);
        model_survives(dir.path(), "wild.metakd", &bytes)?;
    }

    /// A model that loads has a patch the sliding window can use and finite weights.
    #[test]
    fn loaded_models_have_usable_patches_and_weights(
        patch in prop::collection::vec(mostly(16..=16), 3),
        weight in prop_oneof![3 => Just(serde_json::Value::from(0.25)), 1 => wild_number()],
    ) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let tiny = ModelConfig::preset(Preset::Tiny);
        let channels = tiny.channels.iter().map(|&c| c.into()).collect();
        let bytes = wild_model_file(channels, 0.into(), patch, weight, (true, false, 0));
        if let Some(meta) = model_survives(dir.path(), "patch.metakd", &bytes)? {
            let multiple = tiny.size_multiple();
            prop_assert!(
                meta.patch.iter().zip(multiple).all(|(&p, m)| (1..=256).contains(&p) && p % m == 0),
                "accepted patch {:?}",
                meta.patch
            );
            let weights = meta.modality_weights.unwrap_or_default();
            prop_assert!(weights.iter().all(|w| w.is_finite()), "accepted {weights:?}");
        }
    }

    #[test]
    fn mutated_checkpoints_never_panic((edits, cut) in mutations()) {
        let dir = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
        let valid = &valid_files().1;
        let bytes = mutate(valid.clone(), header_end(valid), &edits, cut);
        checkpoint_survives(dir.path(), "checkpoint.bin", &bytes)?;
    }
}

/// The unmutated files load, and a header asking for a ten-million-channel network is refused
/// by its header check, naming the file, before any network is built.
#[test]
fn valid_files_load_and_huge_headers_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (model, ck) = valid_files();
    let path = dir.path().join("ok.metakd");
    std::fs::write(&path, model).unwrap();
    let file = ModelFile::read(&path).unwrap();
    assert_eq!(file.meta, tiny_meta());
    file.load(&path, &Device::flex()).unwrap();
    let ck_path = dir.path().join("checkpoint.bin");
    std::fs::write(&ck_path, ck).unwrap();
    let net = MetaKdNet::new(&ModelConfig::preset(Preset::Tiny), &Device::flex()).unwrap();
    let restored = checkpoint::load(&ck_path, net, AdamConfig::new().init()).unwrap();
    assert_eq!(
        (restored.iteration, restored.strategy_state),
        (1, vec![1, 2, 3])
    );

    let ten_million = serde_json::Value::from(10_000_000u64);
    let huge = wild_model_file(
        vec![ten_million.clone(), ten_million],
        serde_json::Value::from(0),
        vec![serde_json::Value::from(16); 3],
        0.25.into(),
        (true, false, 0),
    );
    let huge_path = dir.path().join("huge.metakd");
    std::fs::write(&huge_path, huge).unwrap();
    let error = ModelFile::read(&huge_path).unwrap_err().to_string();
    assert!(
        error.contains("huge.metakd") && error.contains("1 to 1024 channels"),
        "{error}"
    );
    // Within the width bounds but far more weights than the file holds.
    let wide = wild_model_file(
        vec![serde_json::Value::from(1024); 4],
        serde_json::Value::from(2),
        vec![serde_json::Value::from(16); 3],
        0.25.into(),
        (true, false, 0),
    );
    let wide_path = dir.path().join("wide.metakd");
    std::fs::write(&wide_path, wide).unwrap();
    let error = ModelFile::read(&wide_path).unwrap_err().to_string();
    assert!(
        error.contains("wide.metakd") && error.contains("bytes of weights follow"),
        "{error}"
    );
}
