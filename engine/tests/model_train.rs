//! The network, losses, MetaKD's distillation weights, checkpoints and a short training run,
//! on burn's CPU backend (the same code runs on wgpu; `tests/` runs it on lavapipe too).

use burn::tensor::{Device, Tensor, TensorData};
use engine::model::fusion::{availability_mask, fuse_bottlenecks};
use engine::model::{MetaKdNet, ModelConfig, Preset};
use engine::study::{Availability, Modality};
use engine::train::loss::{bce_with_logits, pairwise_weighted_l1, scalar, soft_dice};

fn cpu() -> Device {
    Device::flex()
}

fn t5(values: Vec<f32>, shape: [usize; 5], device: &Device) -> Tensor<5> {
    Tensor::from_data(TensorData::new(values, shape), device)
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().try_to_vec().unwrap()
}

#[test]
fn soft_dice_and_bce_match_hand_computed_values() {
    let device = cpu();
    // One sample, one channel, two voxels: logits 0 and ln 3 → p = 0.5, 0.75; targets 1, 0.
    let logits = t5(vec![0.0, 3f32.ln()], [1, 1, 1, 1, 2], &device);
    let targets = t5(vec![1.0, 0.0], [1, 1, 1, 1, 2], &device);
    // Dice = 2·0.5 / (1.25 + 1 + 1) = 1 / 3.25.
    let dice = scalar(&soft_dice(logits.clone(), targets.clone()));
    assert!((dice - (1.0 - 1.0 / 3.25)).abs() < 1e-6, "{dice}");
    // BCE = mean(−ln 0.5, −ln 0.25) for the single channel.
    let bce = scalar(&bce_with_logits(logits, targets));
    let expected = (2f32.ln() + 4f32.ln()) / 2.0;
    assert!((bce - expected).abs() < 1e-5, "{bce} vs {expected}");
}

#[test]
fn bce_is_summed_over_channels_and_stable_for_large_logits() {
    let device = cpu();
    let logits = t5(vec![100.0, -100.0, 0.0, 0.0], [1, 2, 1, 1, 2], &device);
    let targets = t5(vec![1.0, 0.0, 1.0, 0.0], [1, 2, 1, 1, 2], &device);
    // Channel 0: both right with huge margins (≈ 0); channel 1: ln 2 each.
    let bce = scalar(&bce_with_logits(logits, targets));
    assert!((bce - 2f32.ln()).abs() < 1e-5, "{bce}");
}

#[test]
fn distillation_weights_ratios_and_detaches_the_teacher() {
    let device = cpu().autodiff();
    // One sample, features of 2 numbers per modality; only FLAIR (0) and T1ce (2) available.
    let f = [1.0f32, 2.0, 0.0, 0.0, 4.0, 0.0, 0.0, 0.0];
    let features = Tensor::<6>::from_data(TensorData::new(f.to_vec(), [1, 4, 2, 1, 1, 1]), &device)
        .require_grad();
    let available = [Availability::from_modalities([
        Modality::Flair,
        Modality::T1ce,
    ])];
    let w = [0.4f32, 0.1, 0.2, 0.3];
    let kd = pairwise_weighted_l1(features.clone(), &available, w).expect("two modalities");
    // Pairs FLAIR→T1ce and T1ce→FLAIR: mean |f_F − f_C| = (3 + 2) / 2 = 2.5.
    let expected = (w[0] / w[2] + w[2] / w[0]) * 2.5;
    assert!((scalar(&kd) - expected).abs() < 1e-5);
    let grads = kd.backward();
    let g = values(features.grad(&grads).expect("features get a gradient"));
    // Student FLAIR gets only the T1ce→FLAIR term: (w_C/w_F) · sign(f_F − f_C) / 2.
    let s_flair = w[2] / w[0] / 2.0;
    assert!(
        (g[0] - (-s_flair)).abs() < 1e-6 && (g[1] - s_flair).abs() < 1e-6,
        "{g:?}"
    );
    // Student T1ce gets only the FLAIR→T1ce term.
    let s_t1ce = w[0] / w[2] / 2.0;
    assert!(
        (g[4] - s_t1ce).abs() < 1e-6 && (g[5] - (-s_t1ce)).abs() < 1e-6,
        "{g:?}"
    );
    // Missing modalities take no part.
    assert_eq!((g[2], g[3], g[6], g[7]), (0.0, 0.0, 0.0, 0.0));
    // Fewer than two modalities: no distillation at all.
    assert!(pairwise_weighted_l1(
        features,
        &[Availability::from_modalities([Modality::T2])],
        w
    )
    .is_none());
}

/// LCKD: each available teacher teaches every other available modality with plain L1, the
/// teacher's feature detached; a teacher that is missing teaches nothing.
#[test]
fn teacher_distillation_pulls_students_only() {
    use engine::train::lckd::teacher_l1;
    let device = cpu().autodiff();
    // FLAIR, T1, T1ce available (T2 missing); features of 2 numbers per modality.
    let f = [1.0f32, 2.0, 0.0, 1.0, 4.0, 0.0, 9.0, 9.0];
    let features = Tensor::<6>::from_data(TensorData::new(f.to_vec(), [1, 4, 2, 1, 1, 1]), &device)
        .require_grad();
    let available = [Availability::from_modalities([
        Modality::Flair,
        Modality::T1,
        Modality::T1ce,
    ])];
    // Teachers T1ce and T2 (T2 is missing here, so only T1ce teaches).
    let teachers = Availability::from_modalities([Modality::T1ce, Modality::T2]);
    let kd = teacher_l1(features.clone(), &available, teachers).expect("a teacher is present");
    // T1ce→FLAIR: (3 + 2) / 2 = 2.5; T1ce→T1: (4 + 1) / 2 = 2.5.
    assert!((scalar(&kd) - 5.0).abs() < 1e-5);
    let g = values(
        features
            .grad(&kd.backward())
            .expect("students get a gradient"),
    );
    assert_eq!(&g[0..4], &[-0.5, 0.5, -0.5, 0.5]);
    assert_eq!(
        &g[4..8],
        &[0.0; 4],
        "the teacher and the missing modality get none"
    );
    // No teacher available: no term.
    assert!(teacher_l1(
        features,
        &[Availability::from_modalities([Modality::Flair])],
        teachers
    )
    .is_none());
}

#[test]
fn missing_bottlenecks_are_the_mean_of_the_available_ones_then_gated() {
    let device = cpu();
    // Two samples; one number per modality.
    let f = vec![1.0, 2.0, 3.0, 4.0, 10.0, 20.0, 30.0, 40.0];
    let features = Tensor::<6>::from_data(TensorData::new(f, [2, 4, 1, 1, 1, 1]), &device);
    let available = [
        Availability::from_modalities([Modality::Flair, Modality::T1ce]),
        Availability::FULL,
    ];
    let mask = availability_mask(&available, &device);
    let fused = values(fuse_bottlenecks(features.clone(), mask.clone(), None));
    assert_eq!(fused, vec![1.0, 2.0, 3.0, 2.0, 10.0, 20.0, 30.0, 40.0]);
    let gate = Tensor::<1>::from_data(TensorData::new(vec![0.1f32, 0.2, 0.3, 0.4], [4]), &device);
    let gated = values(fuse_bottlenecks(features, mask, Some(gate)));
    let expected = [0.1, 0.4, 0.9, 0.8, 1.0, 4.0, 9.0, 16.0];
    for (a, b) in gated.iter().zip(expected) {
        assert!((a - b).abs() < 1e-6);
    }
}

#[test]
fn network_shapes_and_presets() {
    let device = cpu();
    device.seed(3);
    let config = ModelConfig::preset(Preset::Tiny);
    let net = MetaKdNet::new(&config, &device).unwrap();
    let x = Tensor::<5>::zeros([2, 4, 16, 24, 8], &device);
    let out = net.forward(
        x,
        &[Availability::FULL, Availability::from_id(0b0101)],
        None,
    );
    assert_eq!(out.logits.dims(), [2, 3, 16, 24, 8]);
    assert_eq!(out.bottlenecks.dims(), [2, 4, 32, 2, 3, 1]);
    let separate = ModelConfig {
        shared_encoder: false,
        ..ModelConfig::preset(Preset::Tiny)
    };
    let net = MetaKdNet::new(&separate, &device).unwrap();
    let out = net.forward(
        Tensor::zeros([1, 4, 8, 8, 8], &device),
        &[Availability::FULL],
        None,
    );
    assert_eq!(out.logits.dims(), [1, 3, 8, 8, 8]);
}

/// The network's several-subsets pass gives, for each subset, the logits of a plain forward
/// pass with the left-out channels zeroed: with the encoder shared (concatenation, the zero
/// window encoded once) and subset by subset (Dynamic Sharing, which has no shared encoding).
#[test]
fn forward_subsets_equals_forward_with_zeroed_channels() {
    use engine::model::Fusion;
    let device = cpu();
    device.seed(9);
    let shape = [2, 4, 16, 16, 8];
    let n: usize = shape.iter().product();
    let input: Vec<f32> = (0..n)
        .map(|i| ((i * 53 % 97) as f32 / 40.0) - 1.2)
        .collect();
    let subsets = [0b1111, 0b0001, 0b0110, 0b1011].map(Availability::from_id);
    for fusion in [Fusion::Concat, Fusion::DynamicSharing] {
        let config = ModelConfig {
            fusion,
            ..ModelConfig::preset(Preset::Tiny)
        };
        let net = MetaKdNet::new(&config, &device).unwrap();
        let absent = net.absent_levels([16, 16, 8], &device);
        assert_eq!(absent.is_some(), fusion == Fusion::Concat);
        let together =
            net.forward_subsets(t5(input.clone(), shape, &device), &subsets, absent.as_ref());
        for (subset, logits) in subsets.iter().zip(together) {
            let zeroed: Vec<f32> = input
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let channel = i / (n / shape[0] / 4) % 4;
                    if subset.contains(Modality::ALL[channel]) {
                        *v
                    } else {
                        0.0
                    }
                })
                .collect();
            let alone = net
                .forward(t5(zeroed, shape, &device), &[*subset; 2], None)
                .logits;
            let (a, b) = (values(logits), values(alone));
            let worst = a
                .iter()
                .zip(&b)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max);
            assert!(
                worst <= 1e-5,
                "{fusion:?} {subset:?}: largest difference {worst}"
            );
        }
    }
}

/// Every float parameter's gradient that exists, flattened in visiting order.
struct GradientValues<'a> {
    grads: &'a burn::tensor::Gradients,
    values: Vec<f32>,
}

impl burn::module::ModuleVisitor for GradientValues<'_> {
    fn visit_float<const D: usize>(&mut self, param: &burn::module::Param<Tensor<D>>) {
        // Parameters the loss does not reach (none expected from the convolutions) have none.
        if let Some(grad) = param.val().grad(self.grads) {
            self.values.extend(values(grad));
        }
    }
}

/// On a wgpu device the network's convolutions and norms run on our WGSL kernels
/// (`engine::ops`), on the Flex CPU backend on our CPU path, on NdArray on burn's own ops. With
/// the same parameters all three give the same logits and the same parameter gradients (this
/// is the model-level check that the kernels are wired in correctly).
#[test]
fn network_on_our_kernels_matches_burn_ndarray() {
    use burn::module::Module;
    #[allow(deprecated)] // NdArray: burn's reference CPU backend in 0.22.
    let reference = Device::ndarray().autodiff();
    reference.seed(5);
    let config = ModelConfig::preset(Preset::Tiny);
    let on_reference = MetaKdNet::new(&config, &reference).unwrap();
    let gpu = Device::wgpu(burn::tensor::DeviceKind::DefaultDevice).autodiff();
    assert!(engine::ops::runs_wgsl(&gpu));
    let cpu = Device::flex().autodiff();
    assert!(engine::ops::runs_own_kernels(&cpu) && !engine::ops::runs_own_kernels(&reference));
    let n = 2 * 4 * 16 * 8 * 8;
    let input: Vec<f32> = (0..n)
        .map(|i| ((i * 37 % 101) as f32 / 50.0) - 1.0)
        .collect();
    let availability = [Availability::FULL, Availability::from_id(0b1010)];
    let run = |net: &MetaKdNet, device: &Device| {
        let x = t5(input.clone(), [2, 4, 16, 8, 8], device);
        let out = net.forward(x, &availability, None);
        let logits = out.logits.clone();
        let grads = (out.logits.clone() * out.logits).sum().backward();
        let mut collect = GradientValues {
            grads: &grads,
            values: Vec::new(),
        };
        net.visit(&mut collect);
        (values(logits.inner()), collect.values)
    };
    let (want_logits, want_grads) = run(&on_reference, &reference);
    for device in [gpu, cpu] {
        let (logits, grads) = run(&on_reference.clone().fork(&device), &device);
        let close = |what: &str, a: &[f32], b: &[f32], tol: f32| {
            assert_eq!(a.len(), b.len(), "{what}");
            let scale = b.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-6);
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                assert!(
                    (x - y).abs() <= tol * scale,
                    "{what}[{i}] on {device:?}: ours {x} vs burn {y} (scale {scale})"
                );
            }
        };
        close("logits", &logits, &want_logits, 1e-4);
        close("weight gradients", &grads, &want_grads, 1e-3);
    }
}

mod training {
    use engine::infer::eval::{evaluate, EvalCase};
    use engine::infer::Segmenter;
    use engine::model::{ModelFile, Preset};
    use engine::phantom::{write_dataset, PhantomConfig, PhantomSize};
    use engine::study::{Availability, Modality, Study};
    use engine::train::config::{Method, TrainConfig};
    use engine::train::{train, TrainEvent, TrainOutcome};
    use std::path::Path;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc;

    fn small_dataset(dir: &Path, cases: usize) {
        let config = PhantomConfig {
            size: PhantomSize::Small,
            ..PhantomConfig::default()
        };
        write_dataset(dir, cases, 5, &config, &|_| {}).unwrap();
    }

    fn tiny(method: Method, iterations: u64) -> TrainConfig {
        let mut c = TrainConfig::new(method, Preset::Tiny);
        c.iterations = iterations;
        c.warmup_iterations = iterations / 3;
        c.data.workers = 1;
        c
    }

    fn run(
        config: &TrainConfig,
        data: &Path,
        out: &Path,
        resume: bool,
    ) -> (TrainOutcome, Vec<TrainEvent>) {
        let (tx, rx) = mpsc::channel();
        let outcome = train(config, data, out, resume, &AtomicBool::new(false), &tx).unwrap();
        drop(tx);
        (outcome, rx.into_iter().collect())
    }

    /// A stop request mid-run writes a checkpoint; resuming from it gives the model of an
    /// uninterrupted run: the same φ and logits within 1e-6, as docs/model.md says (the
    /// difference measured single-threaded is 0). burn's CPU backend reduces on several threads in an order that
    /// varies from run to run, and Adam turns that noise into visible differences (two threads:
    /// logits apart by up to 6 after 6 iterations), so the comparison runs single-threaded, in
    /// a child process that starts its own thread pool.
    #[test]
    fn checkpoint_then_resume_continues_identically() {
        let child = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "training::resume_matches_an_uninterrupted_run"])
            .args(["--ignored", "--nocapture"])
            .env("RAYON_NUM_THREADS", "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&child.stdout);
        assert!(
            child.status.success() && stdout.contains("1 passed"),
            "the single-threaded resume comparison failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&child.stderr)
        );
    }

    /// Largest difference between the logits two model files compute for one fixed input.
    fn logit_difference(a_path: &Path, b_path: &Path) -> f32 {
        let device = burn::tensor::Device::flex();
        let logits = |path: &Path| -> Vec<f32> {
            let net = ModelFile::read(path).unwrap().load(path, &device).unwrap();
            let x: Vec<f32> = (0..4 * 16 * 16 * 16)
                .map(|i| ((i * 7919) % 101) as f32 / 50.0 - 1.0)
                .collect();
            let input = burn::tensor::Tensor::<5>::from_data(
                burn::tensor::TensorData::new(x, [1, 4, 16, 16, 16]),
                &device,
            );
            net.forward(input, &[Availability::FULL], None)
                .logits
                .into_data()
                .try_to_vec()
                .unwrap()
        };
        let (ya, yb) = (logits(a_path), logits(b_path));
        ya.iter()
            .zip(&yb)
            .map(|(p, q)| (p - q).abs())
            .fold(0f32, f32::max)
    }

    /// `init_model` (`metakd train --init`) starts from a model file's weights: with a learning
    /// rate too small to move them, the fine-tuned model computes what its starting model does
    /// (a random start differs by far more); a model of another network is refused, naming it.
    #[test]
    fn fine_tuning_starts_from_the_given_model() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        small_dataset(&data, 3);
        let mut config = tiny(Method::Baseline, 2);
        config.data.patch = [16; 3];
        let start = tmp.path().join("start");
        run(&config, &data, &start, false);
        let start_model = start.join("model.metakd");

        config.optim.learning_rate = 1e-30;
        config.iterations = 1;
        config.warmup_iterations = 0;
        config.seed = 99;
        config.init_model = Some(start_model.clone());
        let tuned = tmp.path().join("tuned");
        run(&config, &data, &tuned, false);
        let same = logit_difference(&start_model, &tuned.join("model.metakd"));
        assert!(same <= 1e-5, "fine-tuned model moved by {same}");

        config.init_model = None;
        let fresh = tmp.path().join("fresh");
        run(&config, &data, &fresh, false);
        let random = logit_difference(&start_model, &fresh.join("model.metakd"));
        assert!(random > 1e-2, "a random start differs by only {random}");

        let mut other = TrainConfig::new(Method::Baseline, Preset::Desktop);
        other.init_model = Some(start_model.clone());
        let (tx, _rx) = mpsc::channel();
        let err = train(
            &other,
            &data,
            &tmp.path().join("other"),
            false,
            &AtomicBool::new(false),
            &tx,
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("start/model.metakd") && err.contains("[model]"),
            "{err}"
        );
    }

    #[test]
    #[ignore = "run single-threaded by checkpoint_then_resume_continues_identically"]
    fn resume_matches_an_uninterrupted_run() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        small_dataset(&data, 4);
        let mut config = tiny(Method::Metakd, 6);
        config.warmup_iterations = 2;
        config.metakd.meta_every = 2;
        config.metakd.meta_steps = 1;
        config.checkpoint_every = 100;
        config.data.patch = [16; 3];
        let straight = tmp.path().join("straight");
        run(&config, &data, &straight, false);

        let interrupted = tmp.path().join("interrupted");
        let stop = AtomicBool::new(false);
        let (tx, rx) = mpsc::channel();
        let outcome = std::thread::scope(|s| {
            let worker = s.spawn(|| train(&config, &data, &interrupted, false, &stop, &tx));
            for event in &rx {
                if let TrainEvent::Step(step) = event {
                    if step.iteration == 2 {
                        stop.store(true, Ordering::SeqCst);
                        break;
                    }
                }
            }
            worker.join().unwrap().unwrap()
        });
        let TrainOutcome::Stopped { iteration, .. } = outcome else {
            panic!("expected a stop, got {outcome:?}");
        };
        assert!((3..6).contains(&iteration), "stopped at {iteration}");
        assert!(!interrupted.join("model.metakd").exists());
        run(&config, &data, &interrupted, true);

        // Parameter ids are random per process, so compare what the models compute, and φ.
        let (a, b) = (
            ModelFile::read(&straight).unwrap(),
            ModelFile::read(&interrupted).unwrap(),
        );
        assert_eq!(
            a.meta, b.meta,
            "same iterations, config and modality weights"
        );
        let worst = logit_difference(
            &straight.join("model.metakd"),
            &interrupted.join("model.metakd"),
        );
        println!("largest logit difference after resuming: {worst:e}");
        assert!(
            worst <= 1e-6,
            "resumed model differs from the uninterrupted one by up to {worst}"
        );
    }

    /// The `tiny` preset learns the phantom's tumours in a short run: the loss falls and the
    /// full-modality validation Dice of the whole tumour passes 0.5; the model then segments
    /// a study into a label map on the study's own grid.
    #[test]
    fn tiny_training_learns_and_segments() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        small_dataset(&data, 6);
        let config = tiny(Method::Metakd, 240);
        let out = tmp.path().join("run");
        let (outcome, events) = run(&config, &data, &out, false);
        assert!(matches!(outcome, TrainOutcome::Completed { .. }));
        let losses: Vec<f32> = events
            .iter()
            .filter_map(|e| match e {
                TrainEvent::Step(s) => Some(s.loss),
                _ => None,
            })
            .collect();
        assert_eq!(losses.len(), 240);
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
        let (first, last) = (mean(&losses[..30]), mean(&losses[losses.len() - 30..]));
        assert!(last < 0.7 * first, "loss {first} → {last}");
        let val = events
            .iter()
            .rev()
            .find_map(|e| match e {
                TrainEvent::Validation(v) => Some(v.val_dice),
                _ => None,
            })
            .unwrap();
        assert!(val[0] >= 0.5, "validation Dice WT {val:?}");
        let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
        assert!(metrics.lines().count() >= 240);
        assert!(metrics.contains("\"modality_weights\":["));

        let model = ModelFile::read(&out).unwrap();
        assert_eq!(model.meta.method, "metakd");
        let segmenter = Segmenter::open(&out, &burn::tensor::Device::flex()).unwrap();
        let study = Study::open_folder(&data.join("Phantom_00001")).unwrap();
        let labels = segmenter
            .segment(&study, Availability::from_id(0b1011), &mut |_, _| true)
            .unwrap();
        let image = study.modalities[0].as_ref().unwrap();
        let saved = tmp.path().join("seg.nii.gz");
        engine::volume::write_labels(&saved, &labels, image).unwrap();
        let saved = engine::volume::Volume::read(&saved).unwrap();
        assert_eq!(saved.shape, image.shape);
        assert_eq!(saved.affine, image.affine);
        assert!(labels.iter().all(|v| [0, 1, 2, 4].contains(v)));
        assert!(labels.iter().any(|v| *v != 0), "some tumour is found");

        // The evaluation table over two subsets of one case.
        let image = study.modalities[0].as_ref().unwrap();
        let [sx, sy, sz] = image.voxel_sizes();
        let case = EvalCase {
            case: segmenter.prepare(&study).unwrap(),
            spacing: [sz, sy, sx],
        };
        let subsets = [Availability::FULL, Availability::from_id(0b0001)];
        let table = evaluate(&segmenter, "tiny", &[case], &subsets, &mut |_, _| true).unwrap();
        assert_eq!(table.rows.len(), 2);
        assert_eq!(table.rows[0].subset, Availability::FULL.label());
        assert!(table.rows[0].dice[0] > 0.3, "{:?}", table.rows[0].dice);
        let markdown = table.to_markdown();
        assert_eq!(markdown.lines().count(), 2 + 2 + 1);
        assert_eq!(table.to_csv().lines().count(), 1 + 2 + 1);
    }

    /// An untrained `tiny` model (16³ windows) on the CPU, saved in `dir`.
    fn untrained_segmenter(dir: &std::path::Path) -> Segmenter {
        untrained_segmenter_with(dir, engine::model::Fusion::Concat)
    }

    /// An untrained `tiny` model with the given fusion (16³ windows) on the CPU, saved in `dir`.
    fn untrained_segmenter_with(dir: &std::path::Path, fusion: engine::model::Fusion) -> Segmenter {
        let device = burn::tensor::Device::flex();
        let config = engine::model::ModelConfig {
            fusion,
            ..engine::model::ModelConfig::preset(Preset::Tiny)
        };
        let net = engine::model::MetaKdNet::new(&config, &device).unwrap();
        let meta = engine::model::file::ModelMeta {
            config,
            method: "baseline".into(),
            iterations: 0,
            modality_weights: None,
            patch: [16; 3],
        };
        let path = dir.join("untrained.metakd");
        ModelFile::from_net(&net, meta)
            .unwrap()
            .write(&path)
            .unwrap();
        Segmenter::open(&path, &device).unwrap()
    }

    /// Segmenting under several subsets in one pass (the encoder run once per window) gives
    /// each subset what segmenting it alone gives, for both fusions (window selection,
    /// blending and post-processing per subset; that the shared encoding equals a forward pass
    /// with zeroed channels is `forward_subsets_equals_forward_with_zeroed_channels`).
    #[test]
    fn subsets_in_one_pass_match_one_subset_at_a_time() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        small_dataset(&data, 1);
        let study = Study::open_folder(&data.join("Phantom_00001")).unwrap();
        let subsets: Vec<Availability> = [0b1111, 0b0001, 0b0100, 0b1010, 0b0111]
            .map(Availability::from_id)
            .to_vec();
        for fusion in [
            engine::model::Fusion::Concat,
            engine::model::Fusion::DynamicSharing,
        ] {
            let mut segmenter = untrained_segmenter_with(tmp.path(), fusion);
            segmenter.config.batch = 3;
            let case = segmenter.prepare(&study).unwrap();
            let together = segmenter
                .segment_prepared_subsets(&case, &subsets, &mut |_, _| true)
                .unwrap();
            assert_eq!(together.len(), subsets.len());
            for (subset, joint) in subsets.iter().zip(&together) {
                let alone = segmenter
                    .segment_prepared(&case, *subset, &mut |_, _| true)
                    .unwrap();
                assert_eq!(joint.availability, alone.availability);
                let worst = joint
                    .probabilities
                    .iter()
                    .zip(&alone.probabilities)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0f32, f32::max);
                assert!(
                    worst <= 1e-6,
                    "{fusion:?} {subset:?}: largest difference {worst}"
                );
                assert_eq!(joint.regions, alone.regions, "{fusion:?} {subset:?}");
            }
            // Untrained weights still tell the subsets apart.
            assert_ne!(together[0].probabilities, together[1].probabilities);
        }
    }

    /// A progress callback that says stop cancels the segmentation at once.
    #[test]
    fn segmentation_can_be_cancelled() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        small_dataset(&data, 1);
        let mut segmenter = untrained_segmenter(tmp.path());
        segmenter.config.batch = 1;
        let study = Study::open_folder(&data.join("Phantom_00001")).unwrap();
        let mut calls = 0;
        let result = segmenter.segment(&study, Availability::FULL, &mut |done, total| {
            calls += 1;
            assert!(done <= total && total > 1);
            false
        });
        assert!(matches!(result, Err(engine::infer::InferError::Cancelled)));
        assert_eq!(calls, 1);
    }

    /// Sending several windows through the network at once (the last batch partly filled)
    /// gives the probabilities of one window at a time, and progress counts every window.
    #[test]
    fn window_batches_do_not_change_the_result() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        small_dataset(&data, 1);
        let mut segmenter = untrained_segmenter(tmp.path());
        let study = Study::open_folder(&data.join("Phantom_00001")).unwrap();
        let case = segmenter.prepare(&study).unwrap();
        let subset = Availability::from_id(0b0110);
        segmenter.config.batch = 1;
        let one = segmenter
            .segment_prepared(&case, subset, &mut |_, _| true)
            .unwrap();
        segmenter.config.batch = 8;
        let mut counts = Vec::new();
        let batched = segmenter
            .segment_prepared(&case, subset, &mut |done, total| {
                counts.push((done, total));
                true
            })
            .unwrap();
        let (done, total) = *counts.last().unwrap();
        assert_eq!(done, total);
        assert!(
            total % 8 != 0 && counts.len() == total.div_ceil(8),
            "{counts:?}"
        );
        let worst = one
            .probabilities
            .iter()
            .zip(&batched.probabilities)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst < 1e-5, "largest difference {worst}");
        assert_eq!(one.regions, batched.regions);
        segmenter.config.batch = 0;
        assert!(matches!(
            segmenter.segment_prepared(&case, subset, &mut |_, _| true),
            Err(engine::infer::InferError::Config(_))
        ));
    }

    /// Windows that hold no brain voxel are not run, and every brain voxel gets exactly the
    /// probabilities of running every window.
    #[test]
    fn windows_outside_the_brain_are_skipped_without_changing_the_brain() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        small_dataset(&data, 1);
        let mut segmenter = untrained_segmenter(tmp.path());
        segmenter.config.batch = 1;
        // Thresholded probabilities only, so the masks follow the probabilities.
        segmenter.config.postprocess = None;
        let study = Study::open_folder(&data.join("Phantom_00001")).unwrap();
        let case = segmenter.prepare(&study).unwrap();
        let mut run = |skip: bool| {
            segmenter.config.skip_background = skip;
            let mut windows = 0;
            let result = segmenter
                .segment_prepared(&case, Availability::FULL, &mut |_, total| {
                    windows = total;
                    true
                })
                .unwrap();
            (result, windows)
        };
        let (all, all_windows) = run(false);
        let (skipped, run_windows) = run(true);
        assert!(
            run_windows < all_windows,
            "{run_windows} of {all_windows} windows run"
        );
        let n = case.voxels();
        let brain: Vec<bool> = (0..n)
            .map(|i| (0..4).any(|c| case.channel(c)[i] != 0.0))
            .collect();
        for r in 0..3 {
            for i in (0..n).filter(|i| brain[*i]) {
                assert_eq!(
                    all.probabilities[r * n + i],
                    skipped.probabilities[r * n + i],
                    "region {r}, brain voxel {i}"
                );
            }
        }
        // Background a skipped window covers is averaged over the windows that ran (0 where
        // none did), so only background may differ.
        assert!(brain.contains(&false));
    }

    /// Labels are kept only inside the brain of the modalities used: with a threshold every
    /// probability passes, the regions are exactly that brain, and without the rule they
    /// reach into the background.
    #[test]
    fn labels_stay_inside_the_brain_of_the_modalities_used() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        small_dataset(&data, 1);
        let mut segmenter = untrained_segmenter(tmp.path());
        segmenter.config.postprocess = None;
        segmenter.config.skip_background = false;
        segmenter.config.threshold = -1.0;
        let study = Study::open_folder(&data.join("Phantom_00001")).unwrap();
        let case = segmenter.prepare(&study).unwrap();
        let used = Availability::from_modalities([Modality::T1ce]);
        let mut regions = |brain_only: bool| {
            segmenter.config.brain_only = brain_only;
            segmenter
                .segment_prepared(&case, used, &mut |_, _| true)
                .unwrap()
                .regions
        };
        let inside = regions(true);
        let everywhere = regions(false);
        let n = case.voxels();
        let brain: Vec<bool> = (0..n)
            .map(|i| case.channel(Modality::T1ce.index())[i] != 0.0)
            .collect();
        assert!(brain.contains(&false) && brain.contains(&true));
        for r in 0..3 {
            for i in 0..n {
                assert_eq!(inside[r * n + i] != 0, brain[i], "region {r}, voxel {i}");
                assert_eq!(everywhere[r * n + i], 1, "region {r}, voxel {i}");
            }
        }
    }

    /// `values` (`channels` × `shape`) mirrored along the `[D, H, W]` axes in `axes`.
    fn mirror_values(values: &[f32], shape: [usize; 3], axes: &[usize]) -> Vec<f32> {
        let [d, h, w] = shape;
        let flip = |a: usize, i: usize, n: usize| if axes.contains(&a) { n - 1 - i } else { i };
        let mut out = vec![0f32; values.len()];
        for (c, channel) in values.chunks(d * h * w).enumerate() {
            for z in 0..d {
                for y in 0..h {
                    for x in 0..w {
                        let to = ((c * d + flip(0, z, d)) * h + flip(1, y, h)) * w + flip(2, x, w);
                        out[to] = channel[(z * h + y) * w + x];
                    }
                }
            }
        }
        out
    }

    /// The first 32 voxels of each axis of `case`, mirrored along `axes`, without labels: 16³
    /// windows with half overlap then start at 0, 8 and 16 along every axis, the same places
    /// counted from either end, so mirroring the case mirrors the window grid.
    fn corner_mirrored(
        case: &engine::prepare::PreparedCase,
        axes: &[usize],
    ) -> engine::prepare::PreparedCase {
        const SIZE: usize = 32;
        let [_, h, w] = case.shape;
        assert!(case.shape.iter().all(|n| *n >= SIZE), "{:?}", case.shape);
        let mut image = Vec::with_capacity(4 * SIZE.pow(3));
        for c in 0..4 {
            let channel = case.channel(c);
            for z in 0..SIZE {
                for y in 0..SIZE {
                    let row = (z * h + y) * w;
                    image.extend_from_slice(&channel[row..row + SIZE]);
                }
            }
        }
        engine::prepare::PreparedCase {
            shape: [SIZE; 3],
            image: mirror_values(&image, [SIZE; 3], axes),
            regions: None,
            foreground: Vec::new(),
            ..case.clone()
        }
    }

    /// Test-time mirroring along x averages the network's output on the case and, mirrored
    /// back, on the case mirrored along x; mirroring along x, y and z gives probabilities
    /// that mirror with the case.
    #[test]
    fn mirrored_passes_average_the_mirror_images() {
        use engine::infer::Mirror;
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        small_dataset(&data, 1);
        let mut segmenter = untrained_segmenter(tmp.path());
        let study = Study::open_folder(&data.join("Phantom_00001")).unwrap();
        let prepared = segmenter.prepare(&study).unwrap();
        let case = corner_mirrored(&prepared, &[]);
        let subset = Availability::from_id(0b1011);
        let mut probabilities = |mirror: Mirror, case: &engine::prepare::PreparedCase| {
            segmenter.config.mirror = mirror;
            segmenter
                .segment_prepared(case, subset, &mut |_, _| true)
                .unwrap()
                .probabilities
        };
        let largest_difference = |a: &[f32], b: &[f32]| {
            a.iter()
                .zip(b)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max)
        };
        let shape = case.shape;
        let plain = probabilities(Mirror::Off, &case);
        let x_mirror = mirror_values(
            &probabilities(Mirror::Off, &corner_mirrored(&prepared, &[2])),
            shape,
            &[2],
        );
        let expected: Vec<f32> = plain
            .iter()
            .zip(&x_mirror)
            .map(|(a, b)| (a + b) / 2.0)
            .collect();
        let x = probabilities(Mirror::X, &case);
        let worst = largest_difference(&x, &expected);
        assert!(worst <= 1e-6, "largest difference {worst}");
        assert!(
            largest_difference(&x, &plain) > 1e-4,
            "mirroring changed nothing"
        );

        let all = [0, 1, 2];
        let xyz = probabilities(Mirror::Xyz, &case);
        let of_mirrored = mirror_values(
            &probabilities(Mirror::Xyz, &corner_mirrored(&prepared, &all)),
            shape,
            &all,
        );
        let worst = largest_difference(&xyz, &of_mirrored);
        assert!(worst <= 1e-6, "largest difference {worst}");
        assert!(
            largest_difference(&xyz, &x) > 1e-4,
            "x, y and z gave what x gave"
        );
    }

    /// MetaKD with the one-step look-ahead meta step trains: the weights move away from their
    /// initial values in the first meta round and stay a finite distribution.
    #[test]
    fn lookahead_meta_step_trains() {
        use engine::train::config::MetaUpdate;
        use engine::train::modality_weights::ModalityWeights;
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        small_dataset(&data, 3);
        let mut config = tiny(Method::Metakd, 4);
        config.data.patch = [16; 3];
        config.metakd.meta_update = MetaUpdate::OneStepLookahead;
        config.metakd.meta_every = 2;
        config.metakd.meta_steps = 2;
        let out = tmp.path().join("run");
        let (outcome, events) = run(&config, &data, &out, false);
        assert!(matches!(outcome, TrainOutcome::Completed { .. }));
        let initial = ModalityWeights::new(config.seed, &burn::tensor::Device::flex()).values();
        let weights: Vec<[f32; 4]> = events
            .iter()
            .filter_map(|e| match e {
                TrainEvent::Step(s) => s.modality_weights,
                _ => None,
            })
            .collect();
        assert_eq!(weights.len(), 4);
        for w in &weights {
            assert!((w.iter().sum::<f32>() - 1.0).abs() < 1e-5 && w.iter().all(|v| *v > 0.0));
        }
        let moved = weights[0]
            .iter()
            .zip(&initial)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(moved > 1e-6, "{:?} from {initial:?}", weights[0]);
        let toml = std::fs::read_to_string(out.join("run.toml")).unwrap();
        assert!(
            toml.contains("meta_update = \"one_step_lookahead\""),
            "{toml}"
        );
    }

    /// The same loop on burn's wgpu backend (lavapipe in CI): a few iterations run, the loss is
    /// finite and a model file is written.
    #[test]
    fn training_runs_on_wgpu() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        small_dataset(&data, 3);
        let mut config = tiny(Method::Metakd, 3);
        config.compute = engine::compute::Compute::Wgpu;
        config.data.patch = [16; 3];
        config.metakd.meta_steps = 1;
        let out = tmp.path().join("run");
        let (outcome, events) = run(&config, &data, &out, false);
        assert!(matches!(outcome, TrainOutcome::Completed { .. }));
        let steps = events
            .iter()
            .filter(|e| matches!(e, TrainEvent::Step(s) if s.loss.is_finite()))
            .count();
        assert_eq!(steps, 3);
        assert!(out.join("model.metakd").exists());
    }

    /// A short LCKD run elects teachers (logged with every step), distils from them after the
    /// warm-up, never draws the full set in stage 2, and writes a model.
    #[test]
    fn lckd_elects_teachers_and_distils() {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        small_dataset(&data, 3);
        let mut config = tiny(Method::Lckd, 12);
        config.lckd.elect_every = 5;
        config.lckd.election_patches = 2;
        config.data.patch = [16; 3];
        let out = tmp.path().join("run");
        let (outcome, events) = run(&config, &data, &out, false);
        assert!(matches!(outcome, TrainOutcome::Completed { .. }));
        let steps: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                TrainEvent::Step(s) => Some(s),
                _ => None,
            })
            .collect();
        assert_eq!(steps.len(), 12);
        assert!(steps
            .iter()
            .all(|s| s.teachers.is_some() && s.loss.is_finite()));
        let stage2 = &steps[config.warmup_iterations as usize..];
        assert!(stage2.iter().all(|s| s.subset != "FLAIR+T1+T1ce+T2"));
        assert!(
            stage2.iter().any(|s| s.kd_loss.is_some()),
            "some stage-2 batch has a teacher and a student"
        );
        let metrics = std::fs::read_to_string(out.join("metrics.jsonl")).unwrap();
        let step_lines = metrics.lines().filter(|l| l.contains("\"dice_loss\""));
        assert_eq!(
            step_lines.filter(|l| l.contains("\"teachers\"")).count(),
            12
        );
        assert_eq!(
            ModelFile::read(&out.join("model.metakd"))
                .unwrap()
                .meta
                .method,
            "lckd"
        );
    }
}

/// `θ − α g` for every parameter `g` has a gradient for.
struct Step<'a> {
    grads: &'a burn::optim::GradientsParams,
    alpha: f64,
}

impl burn::module::ModuleMapper for Step<'_> {
    fn map_float<const D: usize>(
        &mut self,
        param: burn::module::Param<Tensor<D>>,
    ) -> burn::module::Param<Tensor<D>> {
        match self.grads.get::<D>(param.id) {
            Some(g) => {
                let alpha = self.alpha;
                param.map(|t| Tensor::from_inner(t.inner() - g * alpha).require_grad())
            }
            None => param,
        }
    }
}

/// Gives every randomly initialised parameter values drawn from its own seeded stream
/// (uniform within ±1/√fan-in, the scale of burn's default initialisers), leaving the
/// constant ones (norm scales and shifts) as they are. `device.seed` seeds a process-wide
/// generator that the tests running in parallel draw from too, so a network built after it
/// is not reproducible on its own.
struct Reinitialise {
    rng: rand_chacha::ChaCha8Rng,
}

impl burn::module::ModuleMapper for Reinitialise {
    fn map_float<const D: usize>(
        &mut self,
        param: burn::module::Param<Tensor<D>>,
    ) -> burn::module::Param<Tensor<D>> {
        use rand::Rng;
        let rng = &mut self.rng;
        param.map(|t| {
            let values: Vec<f32> = t.to_data().try_to_vec().expect("f32 parameters");
            if values.iter().all(|v| *v == values[0]) {
                return t;
            }
            let dims = t.dims();
            let fan_in = values.len() / dims[0].max(1);
            let bound = 1.0 / (fan_in.max(1) as f32).sqrt();
            let fresh: Vec<f32> = (0..values.len())
                .map(|_| rng.random_range(-bound..bound))
                .collect();
            Tensor::from_data(TensorData::new(fresh, dims), &t.device()).require_grad()
        })
    }
}

/// MetaKD's one-step look-ahead hypergradient (a finite-difference Hessian-vector product)
/// agrees with the central difference, in φ, of the meta-validation loss after a real virtual
/// step: `J(φ) = L_val(θ − α ∇θ [L_seg + λ L_KD(θ; φ)])` (cosine > 0.95, norms within 20 %;
/// shifting the teachers' features too, a mistake this test caught, gave cosine 0.69).
#[test]
fn lookahead_hypergradient_matches_finite_differences() {
    use burn::module::{Module, Param};
    use burn::optim::GradientsParams;
    use engine::train::batch::TensorBatch;
    use engine::train::lookahead::Lookahead;
    use engine::train::loss::{pairwise_weighted_l1_learnable, segmentation};
    use engine::train::modality_weights::ModalityWeights;
    use rand::SeedableRng;
    let device = cpu().autodiff();
    let net = MetaKdNet::new(&ModelConfig::preset(Preset::Tiny), &device)
        .unwrap()
        .map(&mut Reinitialise {
            rng: rand_chacha::ChaCha8Rng::seed_from_u64(12),
        });
    let batch = |n: usize, salt: usize| {
        let shape = [n, 4, 16, 16, 16];
        let voxels: usize = shape.iter().product();
        let images: Vec<f32> = (0..voxels)
            .map(|i| ((i * 29 + salt * 7) % 97) as f32 / 48.0 - 1.0)
            .collect();
        let targets: Vec<f32> = (0..n * 3 * 4096)
            .map(|i| f32::from(u8::from((i / 16 + salt) % 5 < 2)))
            .collect();
        TensorBatch {
            images: t5(images, shape, &device),
            targets: t5(targets, [n, 3, 16, 16, 16], &device),
            availability: vec![Availability::FULL; n],
        }
    };
    let (train, val) = (batch(2, 1), batch(1, 2));
    let (alpha, lambda) = (0.5, 1.0);
    let phi0 = [0.3f32, -0.2, 0.5, 0.1];
    let weights = |phi: [f32; 4]| ModalityWeights {
        logits: Param::from_tensor(Tensor::from_data(
            TensorData::new(phi.to_vec(), [4]),
            &device,
        )),
    };
    let lookahead = Lookahead {
        virtual_learning_rate: alpha,
        kd_weight: lambda,
    };
    let ours = values(lookahead.hypergradient(&net, &weights(phi0), &train, &val));
    let j = |phi: [f32; 4]| {
        let output = net.forward(train.images.clone(), &train.availability, None);
        let (seg, _) = segmentation(output.logits, train.targets.clone());
        let kd = pairwise_weighted_l1_learnable(
            output.bottlenecks.clone(),
            output.bottlenecks,
            &train.availability,
            weights(phi).weights(),
        )
        .unwrap();
        let grads = GradientsParams::from_grads((seg + kd * lambda).backward(), &net);
        let stepped = net.clone().map(&mut Step {
            grads: &grads,
            alpha,
        });
        let output = stepped.forward(val.images.clone(), &val.availability, None);
        f64::from(scalar(&segmentation(output.logits, val.targets.clone()).0))
    };
    let delta = 0.01f32;
    let numeric: Vec<f32> = (0..4)
        .map(|k| {
            let (mut up, mut down) = (phi0, phi0);
            up[k] += delta;
            down[k] -= delta;
            ((j(up) - j(down)) / (2.0 * f64::from(delta))) as f32
        })
        .collect();
    let dot: f32 = ours.iter().zip(&numeric).map(|(a, b)| a * b).sum();
    let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let cosine = dot / (norm(&ours) * norm(&numeric));
    assert!(norm(&numeric) > 1e-5, "J barely depends on φ: {numeric:?}");
    assert!(cosine > 0.95, "ours {ours:?} vs numeric {numeric:?}");
    assert!(
        (norm(&ours) / norm(&numeric) - 1.0).abs() < 0.2,
        "ours {ours:?} vs numeric {numeric:?}"
    );
}
