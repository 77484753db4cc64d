//! The training loop shared by every strategy (see the module docs of [`crate::train`]).

use super::batch::TensorBatch;
use super::checkpoint::{self, CHECKPOINT_FILE};
use super::config::{
    Compute, ConfigError, MetaUpdate, Method, OptimConfig, OptimizerKind, TrainConfig,
};
use super::gmd::Gmd;
use super::lckd::Lckd;
use super::loss::{scalar, segmentation};
use super::metakd::{MetaKd, VirtualSteps};
use super::metrics_log::{append_line, StepMetrics, ValidationMetrics};
use super::strategy::{Baseline, Strategy};
use super::TrainError;
use crate::data::augment::AugmentConfig;
use crate::data::cases::Split;
use crate::data::error::DataError;
use crate::data::loader::{make_batch, Batch, Loader, LoaderConfig, SubsetScope};
use crate::data::patches::PatchConfig;
use crate::data::prepared::{open_or_prepare, PrepareEvent, PrepareSettings};
use crate::data::source::CaseSource;
use crate::data::subsets::SubsetSampler;
use crate::model::file::{ModelMeta, RUN_MODEL_FILE};
use crate::model::{MetaKdNet, ModelFile};
use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::Device;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::time::Instant;

/// The files of a run folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunPaths {
    pub dir: PathBuf,
}

impl RunPaths {
    pub fn new(dir: &Path) -> RunPaths {
        RunPaths {
            dir: dir.to_path_buf(),
        }
    }
    pub fn config(&self) -> PathBuf {
        self.dir.join("run.toml")
    }
    pub fn metrics(&self) -> PathBuf {
        self.dir.join("metrics.jsonl")
    }
    pub fn checkpoint(&self) -> PathBuf {
        self.dir.join(CHECKPOINT_FILE)
    }
    pub fn model(&self) -> PathBuf {
        self.dir.join(RUN_MODEL_FILE)
    }
}

/// What a run reports while it works.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainEvent {
    Started {
        run_dir: PathBuf,
        first_iteration: u64,
        iterations: u64,
        train_cases: usize,
        val_cases: usize,
        /// The prepared data set the cases are streamed from.
        prepared: PathBuf,
        /// The network's trainable parameters (also the f32 gradients a data-parallel step
        /// would exchange).
        parameters: usize,
        /// Cases skipped, each naming its file and the problem.
        problems: Vec<String>,
    },
    /// Preparing a raw data set before the run: `done` of `total` cases (`case` names the
    /// case, or says why it failed).
    Preparing {
        done: usize,
        total: usize,
        case: String,
        failed: bool,
    },
    Step(StepMetrics),
    Validation(ValidationMetrics),
    Checkpoint {
        iteration: u64,
    },
    Finished(TrainOutcome),
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainOutcome {
    /// All iterations done; the model file is written.
    Completed { model: PathBuf },
    /// Stopped on request before `iteration`; the checkpoint lets `--resume` go on.
    Stopped { iteration: u64, checkpoint: PathBuf },
}

/// The compute device of a configuration, with autodiff.
pub fn training_device(compute: Compute) -> Result<Device, TrainError> {
    Ok(crate::compute::device(compute)
        .map_err(TrainError::Device)?
        .autodiff())
}

fn optimizer(config: &OptimConfig) -> ModuleOptimizer {
    let decay =
        (config.weight_decay > 0.0).then(|| WeightDecayConfig::new(config.weight_decay as f32));
    match config.kind {
        OptimizerKind::Sgd => SgdConfig::new()
            .with_momentum(Some(MomentumConfig {
                momentum: config.momentum,
                dampening: 0.0,
                nesterov: true,
            }))
            .with_weight_decay(decay)
            .init(),
        OptimizerKind::Adam => AdamConfig::new().with_weight_decay(decay).init(),
    }
}

/// Poly decay: `lr · (1 − t/T)^power`.
pub fn learning_rate(config: &TrainConfig, iteration: u64) -> f64 {
    let progress = iteration as f64 / config.iterations as f64;
    config.optim.learning_rate * (1.0 - progress).max(0.0).powf(config.optim.poly_power)
}

/// Training cases, (meta-)validation cases, the prepared set's folder and the problems of
/// skipped cases.
struct LoadedData {
    train: CaseSource,
    val: CaseSource,
    prepared: PathBuf,
    problems: Vec<String>,
}

/// The training and meta-validation/validation cases, streamed from a prepared set: `data`
/// itself when it is one, else `data` prepared into the cache (`data::prepared`). Without a
/// `val` split, the last `validation_fraction` of the training cases (at least one, when
/// there are two or more) is held out.
fn load_data(
    config: &TrainConfig,
    data: &Path,
    events: &Sender<TrainEvent>,
) -> Result<LoadedData, TrainError> {
    let settings = PrepareSettings::training();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let total = std::sync::atomic::AtomicUsize::new(0);
    let on_event = |e: PrepareEvent| {
        let (case, failed) = match e {
            PrepareEvent::Started { cases, .. } => {
                total.store(cases, Ordering::SeqCst);
                return;
            }
            PrepareEvent::Prepared { name, .. } | PrepareEvent::Kept { name } => (name, false),
            PrepareEvent::Failed { problem } => (problem, true),
            PrepareEvent::Waiting { dir } => (
                format!("waiting for another preparation into {}", dir.display()),
                false,
            ),
        };
        let _ = events.send(TrainEvent::Preparing {
            done: done.fetch_add(1, Ordering::SeqCst) + 1,
            total: total.load(Ordering::SeqCst),
            case,
            failed,
        });
    };
    let set = open_or_prepare(data, &settings, config.data.cache.as_deref(), 0, &on_event)?;
    let mut problems = set.manifest.problems.clone();
    problems.extend(set.notes.iter().cloned());
    let mut train = set.streamed(Split::Train);
    let val = set.streamed(Split::Val);
    let val = if !val.is_empty() {
        val
    } else if train.len() >= 2 {
        let held = ((train.len() as f64 * config.validation_fraction) as usize).max(1);
        train.split_off(train.len() - held)
    } else {
        train.clone()
    };
    if train.is_empty() {
        return Err(TrainError::Data(DataError::NoCases {
            dir: data.to_path_buf(),
        }));
    }
    Ok(LoadedData {
        train: train.into(),
        val: val.into(),
        prepared: set.dir,
        problems,
    })
}

fn loader_config(config: &TrainConfig, stage2: bool) -> LoaderConfig {
    LoaderConfig {
        batch_size: config.data.batch_size,
        workers: config.data.workers,
        prefetch: 2 * config.data.workers.max(1),
        patch: PatchConfig {
            size: config.data.patch,
            foreground_fraction: config.data.foreground_fraction,
        },
        augment: config.augment(),
        subsets: if stage2 {
            match config.method {
                Method::Lckd => SubsetSampler::Lckd,
                Method::Baseline | Method::Metakd => SubsetSampler::MetaKd,
                // GMD segments every batch under its own subsets.
                Method::Gmd => SubsetSampler::Full,
            }
        } else {
            SubsetSampler::Full
        },
        scope: SubsetScope::Batch,
        seed: config.seed.wrapping_add(u64::from(stage2)),
        batches: Some(if stage2 {
            config.iterations
        } else {
            config.warmup_iterations
        }),
    }
}

/// Single all-modality patches for meta-validation (`seed_offset` separates the streams).
fn single_patch_config(config: &TrainConfig, seed_offset: u64, augment: bool) -> LoaderConfig {
    LoaderConfig {
        batch_size: 1,
        workers: 0,
        prefetch: 1,
        patch: PatchConfig {
            size: config.data.patch,
            foreground_fraction: 0.5,
        },
        augment: if augment {
            config.augment()
        } else {
            AugmentConfig::none()
        },
        subsets: SubsetSampler::Full,
        scope: SubsetScope::Batch,
        seed: config.seed.wrapping_add(seed_offset),
        batches: None,
    }
}

fn strategy(
    config: &TrainConfig,
    train_cases: &CaseSource,
    val_cases: &CaseSource,
    device: &Device,
) -> Result<Box<dyn Strategy>, TrainError> {
    match config.method {
        Method::Baseline => Ok(Box::new(Baseline)),
        Method::Lckd => {
            let election = single_patch_config(config, 300, false);
            let patches = (0..config.lckd.election_patches as u64)
                .map(|i| make_batch(val_cases, &election, i))
                .collect::<Result<_, _>>()?;
            Ok(Box::new(Lckd::new(config.lckd.clone(), patches, device)))
        }
        Method::Gmd => Ok(Box::new(Gmd::new(config.gmd.clone(), config.seed))),
        Method::Metakd => {
            // The look-ahead's virtual steps: training batches with all four modalities, so
            // every pair of the distillation term is present.
            let virtual_steps =
                (config.metakd.meta_update == MetaUpdate::OneStepLookahead).then(|| {
                    let schedule = config.clone();
                    VirtualSteps {
                        cases: train_cases.clone(),
                        loader: LoaderConfig {
                            batch_size: config.data.batch_size,
                            ..single_patch_config(config, 400, true)
                        },
                        learning_rate: Box::new(move |t| learning_rate(&schedule, t)),
                    }
                });
            Ok(Box::new(MetaKd::new(
                config.metakd.clone(),
                config.seed,
                val_cases.clone(),
                single_patch_config(config, 100, true),
                virtual_steps,
                device,
            )))
        }
    }
}

/// Hard Dice per region over all validation patches pooled (1 when both are empty).
fn validate(net: &MetaKdNet, patches: &[Batch], device: &Device) -> [f32; 3] {
    let net = net.valid();
    let inner = device.clone().inner();
    let mut counts = [[0f64; 3]; 3]; // [region][intersection, predicted, reference]
    for patch in patches {
        let batch = TensorBatch::new(patch, &inner);
        let logits = net.forward(batch.images, &batch.availability, None).logits;
        let predicted: Vec<f32> = logits.into_data().try_to_vec::<f32>().expect("f32 logits");
        let voxels = predicted.len() / (3 * patch.len());
        for (i, (p, t)) in predicted.iter().zip(&patch.targets).enumerate() {
            let region = (i / voxels) % 3;
            let (p, t) = (*p > 0.0, *t != 0);
            counts[region][0] += f64::from(u8::from(p && t));
            counts[region][1] += f64::from(u8::from(p));
            counts[region][2] += f64::from(u8::from(t));
        }
    }
    counts.map(|[i, p, t]| {
        if p + t == 0.0 {
            1.0
        } else {
            (2.0 * i / (p + t)) as f32
        }
    })
}

/// The loop's own step: segmentation loss plus the strategy's term, one backward pass.
/// Returns the gradients, `[loss, Dice part, BCE part]` and the strategy term's value.
fn plain_step(
    strategy: &dyn Strategy,
    net: &MetaKdNet,
    batch: &TensorBatch,
    iteration: u64,
) -> Result<(GradientsParams, [f32; 3], Option<f32>), TrainError> {
    let output = net.forward(batch.images.clone(), &batch.availability, None);
    let (segmentation_loss, [dice_loss, bce_loss]) =
        segmentation(output.logits.clone(), batch.targets.clone());
    let extra = strategy.extra_loss(&output, batch);
    let kd_loss = extra.as_ref().map(|e| e.value);
    let loss = match extra {
        Some(e) => segmentation_loss + e.weighted,
        None => segmentation_loss,
    };
    let loss_value = scalar(&loss);
    if !loss_value.is_finite() {
        return Err(TrainError::Device(format!(
            "the loss became {loss_value} at iteration {iteration}; lower learning_rate in the configuration"
        )));
    }
    let grads = GradientsParams::from_grads(loss.backward(), net);
    Ok((grads, [loss_value, dice_loss, bce_loss], kd_loss))
}

/// Runs (or, with `resume`, continues) a training run in `run_dir` on the cases of `data`
/// (see the module docs). `stop` asks the loop to checkpoint and return at the next iteration.
pub fn train(
    config: &TrainConfig,
    data: &Path,
    run_dir: &Path,
    resume: bool,
    stop: &AtomicBool,
    events: &Sender<TrainEvent>,
) -> Result<TrainOutcome, TrainError> {
    config.check()?;
    let paths = RunPaths::new(run_dir);
    std::fs::create_dir_all(run_dir).map_err(|e| TrainError::Io {
        path: run_dir.to_path_buf(),
        message: format!("cannot create the run folder: {e}"),
    })?;
    let device = training_device(config.compute)?;
    device.seed(config.seed);
    let LoadedData {
        train: train_cases,
        val: val_cases,
        prepared,
        problems,
    } = load_data(config, data, events)?;
    let mut strategy = strategy(config, &train_cases, &val_cases, &device)?;
    let (mut net, mut optim, first) =
        start_or_resume(config, &paths, resume, strategy.as_mut(), &device)?;
    let validation: Vec<Batch> = (0..config.validation_patches as u64)
        .map(|i| make_batch(&val_cases, &single_patch_config(config, 200, false), i))
        .collect::<Result<_, _>>()?;
    let send = |e: TrainEvent| {
        let _ = events.send(e);
    };
    send(TrainEvent::Started {
        run_dir: run_dir.to_path_buf(),
        first_iteration: first,
        iterations: config.iterations,
        train_cases: train_cases.len(),
        val_cases: val_cases.len(),
        prepared,
        parameters: net.num_params(),
        problems,
    });
    let mut loader: Option<(bool, Loader)> = None;
    for t in first..config.iterations {
        if stop.load(Ordering::SeqCst) {
            save_checkpoint(&paths, t, strategy.as_ref(), &net, &optim)?;
            let outcome = TrainOutcome::Stopped {
                iteration: t,
                checkpoint: paths.checkpoint(),
            };
            send(TrainEvent::Finished(outcome.clone()));
            return Ok(outcome);
        }
        let started = Instant::now();
        strategy.before_iteration(t, &net)?;
        let batch = next_batch(&mut loader, config, &train_cases, t)?;
        let step;
        let update = Update {
            t,
            started,
            batch: &batch,
        };
        (net, step) = iteration(config, update, strategy.as_mut(), net, &mut optim, &device)?;
        append_line(&paths.metrics(), &step)?;
        send(TrainEvent::Step(step));
        let done = t + 1;
        if done % config.validate_every == 0 || done == config.iterations {
            let metrics = ValidationMetrics {
                iteration: done,
                val_dice: validate(&net, &validation, &device),
            };
            append_line(&paths.metrics(), &metrics)?;
            send(TrainEvent::Validation(metrics));
        }
        if done % config.checkpoint_every == 0 || done == config.iterations {
            save_checkpoint(&paths, done, strategy.as_ref(), &net, &optim)?;
            send(TrainEvent::Checkpoint { iteration: done });
        }
    }
    let meta = ModelMeta {
        config: config.model.clone(),
        method: strategy.name().to_string(),
        iterations: config.iterations,
        modality_weights: strategy.modality_weights(),
        patch: config.data.patch,
    };
    ModelFile::from_net(&net.valid(), meta)?.write(&paths.model())?;
    let outcome = TrainOutcome::Completed {
        model: paths.model(),
    };
    send(TrainEvent::Finished(outcome.clone()));
    Ok(outcome)
}

/// The batch of iteration `t` from the loader of its stage (warm-up or not), which is
/// started, or restarted when the stage changes, at `t`.
fn next_batch(
    loader: &mut Option<(bool, Loader)>,
    config: &TrainConfig,
    train_cases: &CaseSource,
    t: u64,
) -> Result<Batch, TrainError> {
    let stage2 = t >= config.warmup_iterations;
    let stream = match loader {
        Some((stage, stream)) if *stage == stage2 => stream,
        _ => {
            let cfg = loader_config(config, stage2);
            let stream = Loader::spawn_from(train_cases.clone(), cfg, t)?;
            &mut loader.insert((stage2, stream)).1
        }
    };
    let batch = stream
        .next_batch()
        .unwrap_or_else(|| Err(DataError::Loader("the batch stream ended early".into())))?;
    Ok(batch)
}

/// A fresh network and optimiser (writing `run.toml` and clearing the metrics), or those of
/// the run's checkpoint with the strategy's state; and the first iteration to run.
fn start_or_resume(
    config: &TrainConfig,
    paths: &RunPaths,
    resume: bool,
    strategy: &mut dyn Strategy,
    device: &Device,
) -> Result<(MetaKdNet, ModuleOptimizer, u64), TrainError> {
    let fresh = match &config.init_model {
        Some(path) if !resume => initial_weights(path, config, device)?,
        _ => {
            MetaKdNet::new(&config.model, device).map_err(|e| TrainError::Device(e.to_string()))?
        }
    };
    if resume {
        let ck = checkpoint::load(&paths.checkpoint(), fresh, optimizer(&config.optim))?;
        strategy.load_state(&ck.strategy_state)?;
        Ok((ck.net, ck.optim, ck.iteration))
    } else {
        atomic_write_text(&paths.config(), &config.to_toml())?;
        let _ = std::fs::remove_file(paths.metrics());
        Ok((fresh, optimizer(&config.optim), 0))
    }
}

/// The network of the model file `path` (fine-tuning), if it is the network `[model]`
/// describes.
fn initial_weights(
    path: &Path,
    config: &TrainConfig,
    device: &Device,
) -> Result<MetaKdNet, TrainError> {
    let file = ModelFile::read(path)?;
    if file.meta.config != config.model {
        return Err(ConfigError::Invalid(format!(
            "{}: this model's network ({:?}) is not the one the run's [model] describes ({:?}); \
             give --init a model of the same preset, or copy its [model] section into the \
             configuration",
            path.display(),
            file.meta.config,
            config.model
        ))
        .into());
    }
    Ok(file.load(path, device)?)
}

/// The network update of iteration `t`: its batch, and when the iteration (meta round
/// included) started.
struct Update<'a> {
    t: u64,
    started: Instant,
    batch: &'a Batch,
}

/// The network update of one iteration: the strategy's own step or the plain one, then the
/// optimiser step. Returns the updated network and the step's numbers.
fn iteration(
    config: &TrainConfig,
    update: Update,
    strategy: &mut dyn Strategy,
    net: MetaKdNet,
    optim: &mut ModuleOptimizer,
    device: &Device,
) -> Result<(MetaKdNet, StepMetrics), TrainError> {
    let Update { t, started, batch } = update;
    let batch = TensorBatch::new(batch, device);
    let lr = learning_rate(config, t);
    let batch_subset = batch
        .availability
        .first()
        .map(|a| a.label())
        .unwrap_or_default();
    let (grads, [loss_value, dice_loss, bce_loss], kd_loss, subset) =
        match strategy.own_step(t, &net, &batch) {
            Some(step) => {
                let step = step?;
                (step.grads, [step.loss, step.loss, 0.0], None, step.subsets)
            }
            None => {
                let (grads, losses, kd) = plain_step(strategy, &net, &batch, t)?;
                (grads, losses, kd, batch_subset)
            }
        };
    let net = optim.step(lr, net, grads);
    let step = StepMetrics {
        iteration: t,
        loss: loss_value,
        dice_loss,
        bce_loss,
        kd_loss,
        learning_rate: lr,
        modality_weights: strategy.modality_weights(),
        teachers: strategy.teachers().map(|t| t.label()),
        subset,
        seconds: started.elapsed().as_secs_f64(),
    };
    Ok((net, step))
}

/// Writes the run's checkpoint at iteration `t` (atomically).
fn save_checkpoint(
    paths: &RunPaths,
    t: u64,
    strategy: &dyn Strategy,
    net: &MetaKdNet,
    optim: &ModuleOptimizer,
) -> Result<(), TrainError> {
    checkpoint::save(
        &paths.checkpoint(),
        t,
        strategy.name(),
        net,
        optim,
        &strategy.save_state()?,
    )
}

fn atomic_write_text(path: &Path, text: &str) -> Result<(), TrainError> {
    crate::atomic_file::write(path, text.as_bytes()).map_err(|e| TrainError::Io {
        path: path.to_path_buf(),
        message: format!("cannot write: {e}"),
    })
}

/// The configuration a run folder was started with (for `--resume`).
pub fn run_config(run_dir: &Path) -> Result<TrainConfig, TrainError> {
    Ok(TrainConfig::read(&RunPaths::new(run_dir).config())?)
}
