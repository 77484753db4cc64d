//! GMD and its Dynamic Sharing backbone: the batch-pooled soft Dice, the backbone's branch
//! independence and per-modality norm parameters, GMD's step against a plain backward pass,
//! and short training runs on both backbones (burn's CPU backend).

use burn::module::{Module, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor, TensorData};
use engine::model::{Fusion, MetaKdNet, ModelConfig, ModelFile, Preset};
use engine::phantom::{write_dataset, PhantomConfig, PhantomSize};
use engine::study::{Availability, Modality};
use engine::train::batch::TensorBatch;
use engine::train::config::{GmdConfig, Method, TrainConfig};
use engine::train::gmd::Gmd;
use engine::train::loss::{batch_soft_dice, scalar};
use engine::train::strategy::Strategy;
use engine::train::{train, TrainEvent, TrainOutcome};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;

fn t5(values: Vec<f32>, shape: [usize; 5], device: &Device) -> Tensor<5> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec().unwrap()
}

fn dynamic_sharing() -> ModelConfig {
    ModelConfig {
        fusion: Fusion::DynamicSharing,
        ..ModelConfig::preset(Preset::Tiny)
    }
}

/// Deterministic inputs in [−1, 1].
fn input(shape: [usize; 5], salt: usize) -> Vec<f32> {
    let n: usize = shape.iter().product();
    (0..n)
        .map(|i| ((i * 37 + salt * 11) % 101) as f32 / 50.0 - 1.0)
        .collect()
}

#[test]
fn batch_soft_dice_pools_the_batch() {
    let device = Device::flex();
    // Two samples of one voxel, one channel: logits 0 and ln 3 → p = 0.5, 0.75; targets 1, 0.
    let logits = t5(vec![0.0, 3f32.ln()], [2, 1, 1, 1, 1], &device);
    let targets = t5(vec![1.0, 0.0], [2, 1, 1, 1, 1], &device);
    // Pooled: (2·0.5 + 1) / (1.25 + 1 + 1) = 2 / 3.25.
    let loss = scalar(&batch_soft_dice(logits, targets));
    assert!((loss - (1.0 - 2.0 / 3.25)).abs() < 1e-6, "{loss}");
    // Two channels are averaged: a perfect empty channel scores (0 + 1) / (0 + 0 + 1) = 1.
    let logits = t5(vec![0.0, -1e4], [1, 2, 1, 1, 1], &device);
    let targets = t5(vec![1.0, 0.0], [1, 2, 1, 1, 1], &device);
    let loss = scalar(&batch_soft_dice(logits, targets));
    let expected = 1.0 - (2.0 / 2.5 + 1.0) / 2.0;
    assert!((loss - expected).abs() < 1e-6, "{loss} vs {expected}");
}

/// Each sample's logits are the mean of its available modalities' branches: a missing
/// modality's input has no effect, and one modality alone gives the same logits whatever the
/// batch's other samples have.
#[test]
fn dynamic_sharing_branches_are_independent() {
    let device = Device::flex();
    device.seed(4);
    let net = MetaKdNet::new(&dynamic_sharing(), &device).unwrap();
    let shape = [2, 4, 16, 16, 16];
    let x = t5(input(shape, 1), shape, &device);
    let available = [Availability::from_id(0b0101), Availability::from_id(0b0010)];
    let out = net.forward(x.clone(), &available, None);
    assert_eq!(out.logits.dims(), [2, 3, 16, 16, 16]);
    assert_eq!(out.bottlenecks.dims(), [2, 4, 32, 2, 2, 2]);
    // Changing the channels of modalities a sample lacks changes nothing of that sample.
    let mut changed = input(shape, 1);
    let per_channel = 16 * 16 * 16;
    for (sample, missing) in [(0usize, [1usize, 3]), (1, [0, 2])] {
        for m in missing {
            let start = (sample * 4 + m) * per_channel;
            changed[start..start + per_channel]
                .iter_mut()
                .for_each(|v| *v = -*v * 3.0 + 0.5);
        }
    }
    let again = net.forward(t5(changed, shape, &device), &available, None);
    let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5);
    assert!(close(&values(out.logits.clone()), &values(again.logits)));
    // Sample 1 (T1 only) alone in a batch gets the logits it got beside sample 0.
    let alone = net.forward(x.narrow(0, 1, 1), &[Availability::from_id(0b0010)], None);
    let beside = values(out.logits.narrow(0, 1, 1));
    assert!(close(&values(alone.logits), &beside));
    // Bottlenecks of modalities no sample has are zeros.
    let flair_only = net.forward(
        t5(input([1, 4, 16, 16, 16], 2), [1, 4, 16, 16, 16], &device),
        &[Availability::from_id(0b0001)],
        None,
    );
    let b = values(flair_only.bottlenecks);
    let per_modality = 32 * 8;
    assert!(b[per_modality..].iter().all(|v| *v == 0.0));
    assert!(b[..per_modality].iter().any(|v| *v != 0.0));
}

/// Which parameters a loss reaches: (rank, reached) in module order.
struct Reached<'a> {
    grads: &'a burn::tensor::Gradients,
    seen: Vec<(usize, bool)>,
}

impl ModuleVisitor for Reached<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.seen.push((D, param.val().grad(self.grads).is_some()));
    }
}

/// The shared convolutions learn from every modality; a modality's norm scale and shift
/// (`[4, C]`) only from samples that have it, so T2's row gets a zero gradient when no
/// sample has T2.
#[test]
fn modality_norm_parameters_learn_only_from_their_modality() {
    let device = Device::flex().autodiff();
    device.seed(6);
    let net = MetaKdNet::new(&dynamic_sharing(), &device).unwrap();
    // 16³: the 2³ bottleneck keeps a spread for instance norm (a 1³ map normalises to 0).
    let shape = [1, 4, 16, 16, 16];
    let x = t5(input(shape, 3), shape, &device);
    let out = net.forward(x, &[Availability::from_id(0b0111)], None);
    let grads = (out.logits.clone() * out.logits).sum().backward();
    let mut reached = Reached {
        grads: &grads,
        seen: Vec::new(),
    };
    net.visit(&mut reached);
    assert!(
        reached.seen.iter().all(|(_, r)| *r),
        "every parameter is used"
    );
    // Every `[4, C]` parameter: rows 0–2 have gradients, row 3 (T2) is exactly zero.
    struct Rows<'a> {
        grads: &'a burn::tensor::Gradients,
        checked: usize,
    }
    impl ModuleVisitor for Rows<'_> {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if D != 2 {
                return;
            }
            let grad = values(param.val().grad(self.grads).unwrap());
            let c = grad.len() / 4;
            assert!(grad[3 * c..].iter().all(|v| *v == 0.0), "T2 row {grad:?}");
            assert!(grad[..3 * c].iter().any(|v| *v != 0.0));
            self.checked += 1;
        }
    }
    let mut rows = Rows {
        grads: &grads,
        checked: 0,
    };
    net.visit(&mut rows);
    assert!(
        rows.checked >= 8,
        "{} per-modality parameters",
        rows.checked
    );
}

/// A Dynamic Sharing model survives a save and load (its configuration and per-modality
/// parameters travel in the model file).
#[test]
fn dynamic_sharing_model_file_round_trip() {
    let device = Device::flex();
    device.seed(8);
    let config = dynamic_sharing();
    let net = MetaKdNet::new(&config, &device).unwrap();
    let meta = engine::model::file::ModelMeta {
        config: config.clone(),
        method: "gmd".into(),
        iterations: 0,
        modality_weights: None,
        patch: [16; 3],
    };
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("ds.metakd");
    ModelFile::from_net(&net, meta)
        .unwrap()
        .write(&path)
        .unwrap();
    let file = ModelFile::read(&path).unwrap();
    assert_eq!(file.meta.config.fusion, Fusion::DynamicSharing);
    let loaded = file.load(&path, &device).unwrap();
    let shape = [1, 4, 8, 8, 8];
    let a = net.forward(
        t5(input(shape, 5), shape, &device),
        &[Availability::from_id(0b1001)],
        None,
    );
    let b = loaded.forward(
        t5(input(shape, 5), shape, &device),
        &[Availability::from_id(0b1001)],
        None,
    );
    assert_eq!(values(a.logits), values(b.logits));
    // A concat network cannot read these weights: the error names the file.
    let mut wrong = file.clone();
    wrong.meta.config.fusion = Fusion::Concat;
    let err = wrong.load(&path, &device).unwrap_err().to_string();
    assert!(err.contains("ds.metakd"), "{err}");
}

/// Flattened gradient values of `grads` in module order (zeros-free: only reached params).
struct Collect<'a> {
    grads: &'a GradientsParams,
    values: Vec<f32>,
}

impl ModuleVisitor for Collect<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            self.values.extend(values(g));
        }
    }
}

fn collect(net: &MetaKdNet, grads: &GradientsParams) -> Vec<f32> {
    let mut c = Collect {
        grads,
        values: Vec::new(),
    };
    net.visit(&mut c);
    c.values
}

/// With one subset per step GMD's update is that subset's plain gradient (nothing to project,
/// the merge divides by one task): the flattening, the Gram-matrix projection and the split
/// back into parameters lose nothing.
#[test]
fn gmd_step_equals_plain_gradients_when_nothing_conflicts() {
    let device = Device::flex().autodiff();
    device.seed(9);
    let net = MetaKdNet::new(&dynamic_sharing(), &device).unwrap();
    let shape = [2, 4, 8, 8, 8];
    let targets: Vec<f32> = (0..2 * 3 * 512)
        .map(|i| f32::from(u8::from(i % 7 < 3)))
        .collect();
    let batch = TensorBatch {
        images: t5(input(shape, 7), shape, &device),
        targets: t5(targets, [2, 3, 8, 8, 8], &device),
        availability: vec![Availability::FULL; 2],
    };
    let mut gmd = Gmd::new(
        GmdConfig {
            subsets_per_step: 1,
        },
        21,
    );
    let step = gmd.own_step(0, &net, &batch).unwrap().unwrap();
    let ours = collect(&net, &step.grads);
    // Find the subset it drew: the one whose plain loss equals the step's loss.
    let plain = |subset: Availability| {
        let mask: Vec<f32> = Modality::ALL
            .map(|m| f32::from(u8::from(subset.contains(m))))
            .to_vec();
        let mask = t5(mask, [1, 4, 1, 1, 1], &device);
        let logits = net
            .forward(batch.images.clone() * mask, &[subset; 2], None)
            .logits;
        let loss = batch_soft_dice(logits, batch.targets.clone());
        let value = scalar(&loss);
        (value, GradientsParams::from_grads(loss.backward(), &net))
    };
    let (subset, grads) = Availability::all_subsets()
        .into_iter()
        .map(|s| (s, plain(s)))
        .find(|(_, (v, _))| (v - step.loss).abs() < 1e-6)
        .map(|(s, (_, g))| (s, g))
        .expect("the step's loss is one subset's");
    let reference = collect(&net, &grads);
    assert_eq!(ours.len(), reference.len(), "subset {}", subset.label());
    let scale = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
    for (a, b) in ours.iter().zip(&reference) {
        assert!((a - b).abs() <= 1e-5 * scale, "{a} vs {b}");
    }
}

/// Three small phantom cases in `dir/data`.
fn small_data(dir: &std::path::Path) -> std::path::PathBuf {
    let data = dir.join("data");
    let phantom = PhantomConfig {
        size: PhantomSize::Small,
        ..PhantomConfig::default()
    };
    write_dataset(&data, 3, 5, &phantom, &|_| {}).unwrap();
    data
}

/// GMD at the `tiny` preset on 16³ patches, Dynamic Sharing, one loader thread.
fn tiny_gmd(iterations: u64) -> TrainConfig {
    let mut config = TrainConfig::new(Method::Gmd, Preset::Tiny);
    config.iterations = iterations;
    config.warmup_iterations = 0;
    config.data.workers = 1;
    config.data.patch = [16; 3];
    config.model.fusion = Fusion::DynamicSharing;
    config
}

fn steps(events: &[TrainEvent]) -> Vec<f32> {
    events
        .iter()
        .filter_map(|e| match e {
            TrainEvent::Step(s) => Some(s.loss),
            _ => None,
        })
        .collect()
}

fn run(config: &TrainConfig, data: &std::path::Path, out: &std::path::Path) -> Vec<TrainEvent> {
    let (tx, rx) = mpsc::channel();
    let outcome = train(config, data, out, false, &AtomicBool::new(false), &tx).unwrap();
    assert!(matches!(outcome, TrainOutcome::Completed { .. }));
    drop(tx);
    rx.into_iter().collect()
}

/// Short GMD runs at the `tiny` preset: all 15 subsets on the Dynamic Sharing backbone, and
/// three sampled subsets on the concat backbone; the losses are finite soft-Dice values, and
/// each writes a model that names its method and backbone.
#[test]
fn gmd_trains_on_both_backbones() {
    let tmp = tempfile::tempdir().unwrap();
    let data = small_data(tmp.path());
    let mut config = tiny_gmd(6);
    let out = tmp.path().join("ds");
    let losses = steps(&run(&config, &data, &out));
    assert_eq!(losses.len(), 6);
    assert!(
        losses
            .iter()
            .all(|l| l.is_finite() && *l > 0.0 && *l <= 1.0),
        "{losses:?}"
    );
    let model = ModelFile::read(&out).unwrap();
    assert_eq!(model.meta.method, "gmd");
    assert_eq!(model.meta.config.fusion, Fusion::DynamicSharing);

    config.model.fusion = Fusion::Concat;
    config.gmd.subsets_per_step = 3;
    config.iterations = 3;
    let out = tmp.path().join("concat");
    let losses = steps(&run(&config, &data, &out));
    assert!(losses.len() == 3 && losses.iter().all(|l| l.is_finite()));
    assert_eq!(
        ModelFile::read(&out).unwrap().meta.config.fusion,
        Fusion::Concat
    );
}

/// GMD on the Dynamic Sharing backbone on burn's wgpu backend (lavapipe in CI, our WGSL
/// convolutions): two iterations of three subsets run and write a model.
#[test]
fn gmd_runs_on_wgpu() {
    let tmp = tempfile::tempdir().unwrap();
    let data = small_data(tmp.path());
    let mut config = tiny_gmd(2);
    config.compute = engine::compute::Compute::Wgpu;
    config.gmd.subsets_per_step = 3;
    let out = tmp.path().join("run");
    let losses = steps(&run(&config, &data, &out));
    assert!(losses.len() == 2 && losses.iter().all(|l| l.is_finite()));
    assert!(out.join("model.metakd").exists());
}

/// A configuration asking for no subsets, or more than exist, is refused before training.
#[test]
fn gmd_subset_count_is_checked() {
    let mut config = TrainConfig::new(Method::Gmd, Preset::Tiny);
    for bad in [0, 16] {
        config.gmd.subsets_per_step = bad;
        let err = config.check().unwrap_err().to_string();
        assert!(err.contains("subsets_per_step"), "{err}");
    }
    config.gmd.subsets_per_step = 5;
    assert!(config.check().is_ok());
    let mut separate = dynamic_sharing();
    separate.shared_encoder = false;
    assert!(separate.check().is_err());
}
