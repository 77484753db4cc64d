//! MetaKD's meta step on a toy problem whose answer is known: only FLAIR carries the tumour
//! (bright inside a ball, dark outside); T1, T1ce and T2 are noise. A `tiny` network trained
//! on it relies on FLAIR, so a meta step that learns modality importance should move weight
//! toward FLAIR.
//!
//! **Finding, so the test is ignored**: the meta step does not do so reliably. Over device
//! seeds 21–28 (`TOY_SEED`) the default gate proxy (which scales each modality's bottleneck
//! feature by its weight and descends the segmentation loss on meta-validation patches) gave
//! FLAIR the largest gain in 2 runs of 8, and in 1 of 8 when the toy network had also been
//! trained with MetaKD's modality dropout; the one-step look-ahead (`LOOKAHEAD=1`) lowered
//! FLAIR's weight slightly for each of seeds 21–24. Gates that move a modality's feature
//! towards the imputation it gets when missing did better (up to 6 of 8) but not reliably.
//! Raw output and commands: docs/measurements/metakd-toy-2026-12-05/ and
//! docs/measurements/metakd-toy-2026-12-07/. The test cannot be made to pass by a stronger
//! assertion; it stays, ignored, as the check a corrected meta step must pass (it does fail
//! today, for seed 22 for instance):
//! `TOY_SEED=22 cargo test --workspace --test metakd_meta_step -- --ignored --nocapture`.

use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::tensor::Device;
use engine::data::augment::AugmentConfig;
use engine::data::loader::{make_batch, LoaderConfig, SubsetScope};
use engine::data::patches::PatchConfig;
use engine::data::subsets::SubsetSampler;
use engine::model::{MetaKdNet, ModelConfig, Preset};
use engine::prepare::{region_bit, PreparedCase};
use engine::study::{Availability, LabelConvention, Region};
use engine::train::batch::TensorBatch;
use engine::train::config::Method;
use engine::train::loss::segmentation;
use engine::train::metakd::{MetaKd, VirtualSteps};
use engine::train::modality_weights::ModalityWeights;
use engine::train::strategy::Strategy;
use engine::train::TrainConfig;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::sync::Arc;

const SIDE: usize = 24;

/// A case whose tumour (a ball, all three regions) shows only in FLAIR.
fn flair_only_case(seed: u64) -> PreparedCase {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = SIDE * SIDE * SIDE;
    let centre = [
        rng.random_range(8.0..16.0),
        rng.random_range(8.0..16.0),
        rng.random_range(8.0..16.0),
    ];
    let inside: Vec<bool> = (0..n)
        .map(|i| {
            let p = [i / (SIDE * SIDE), (i / SIDE) % SIDE, i % SIDE];
            let d2: f64 = (0..3).map(|a| (p[a] as f64 - centre[a]).powi(2)).sum();
            d2 < 25.0
        })
        .collect();
    let mut image = vec![0f32; 4 * n];
    for (i, &tumour) in inside.iter().enumerate() {
        image[i] = if tumour { 1.5 } else { -0.5 } + rng.random_range(-0.2..0.2);
        for c in 1..4 {
            image[c * n + i] = rng.random_range(-1.0..1.0);
        }
    }
    let all = Region::ALL.iter().map(|r| region_bit(*r)).sum::<u8>();
    let regions: Vec<u8> = inside.iter().map(|&t| if t { all } else { 0 }).collect();
    let foreground = (0..n as u32).filter(|&i| inside[i as usize]).collect();
    PreparedCase {
        name: format!("toy{seed}"),
        shape: [SIDE; 3],
        image,
        regions: Some(regions),
        foreground,
        offset: [0; 3],
        source_shape: [SIDE; 3],
        spacing: [1.0; 3],
        available: Availability::FULL,
        inferior_first: true,
        convention: LabelConvention::Brats2021,
    }
}

/// Full-modality 16³ patches, half centred on the tumour, no augmentation.
fn loader(seed: u64, batch_size: usize) -> LoaderConfig {
    LoaderConfig {
        batch_size,
        workers: 0,
        prefetch: 1,
        patch: PatchConfig {
            size: [16; 3],
            foreground_fraction: 0.5,
        },
        augment: AugmentConfig::none(),
        subsets: SubsetSampler::Full,
        scope: SubsetScope::Batch,
        seed,
        batches: None,
    }
}

/// A `tiny` network trained with all four modalities on the toy cases.
fn trained_network(cases: &[Arc<PreparedCase>], device: &Device) -> MetaKdNet {
    let mut net = MetaKdNet::new(&ModelConfig::preset(Preset::Tiny), device).unwrap();
    let mut optim: ModuleOptimizer = AdamConfig::new().init();
    let config = loader(1, 2);
    for step in 0..200 {
        let batch = TensorBatch::new(&make_batch(&cases.into(), &config, step).unwrap(), device);
        let output = net.forward(batch.images, &batch.availability, None);
        let (loss, _) = segmentation(output.logits, batch.targets);
        let grads = GradientsParams::from_grads(loss.backward(), &net);
        net = optim.step(3e-3, net, grads);
    }
    net
}

#[test]
#[ignore = "finding: the meta step does not reliably favour the informative modality (module docs)"]
fn meta_step_moves_weight_toward_the_modality_with_the_signal() {
    let device = Device::flex().autodiff();
    let toy_seed = std::env::var("TOY_SEED").map_or(21, |s| s.parse().unwrap());
    device.seed(toy_seed);
    let cases: Vec<Arc<PreparedCase>> = (0..3).map(|s| Arc::new(flair_only_case(s))).collect();
    let net = trained_network(&cases, &device);

    let mut config = TrainConfig::new(Method::Metakd, Preset::Tiny).metakd;
    config.meta_steps = 20;
    config.meta_learning_rate = 0.02;
    let seed = 5;
    let before = ModalityWeights::new(seed, &device).values();
    let meta_cases = vec![Arc::new(flair_only_case(9))];
    let lookahead_wanted = std::env::var("LOOKAHEAD").is_ok();
    let lookahead = lookahead_wanted.then(|| VirtualSteps {
        cases: cases.clone().into(),
        loader: loader(3, 2),
        learning_rate: Box::new(|_| 3e-3),
    });
    let mut metakd = MetaKd::new(
        config,
        seed,
        meta_cases.into(),
        loader(2, 1),
        lookahead,
        &device,
    );
    metakd.before_iteration(0, &net).unwrap();
    let after = metakd.modality_weights().unwrap();
    let step = if lookahead_wanted {
        "one-step look-ahead"
    } else {
        "gate proxy"
    };
    println!("{step}, seed {toy_seed}: modality weights before {before:?}, after {after:?}");
    assert!(
        after[0] > before[0],
        "FLAIR's weight did not grow: {before:?} -> {after:?}"
    );
    for m in 1..4 {
        assert!(
            after[0] - before[0] > after[m] - before[m],
            "FLAIR gained less than modality {m}: {before:?} -> {after:?}"
        );
    }
}
