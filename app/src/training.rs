//! Training from the viewer, as data and a background job: the engine's `train` runs on a
//! worker thread and reports through its event channel; the job keeps the history the plots
//! draw (losses, validation Dice, MetaKD's modality weights). Pausing stops the run at the
//! next iteration with a checkpoint and resuming continues it from there (the engine's
//! `--resume`); cancelling stops it the same way and keeps the checkpoint in the run folder.

use engine::model::{Fusion, Preset};
use engine::train::config::Method;
use engine::train::{train, RunPaths, TrainConfig, TrainEvent, TrainOutcome};
use engine::train::{StepMetrics, ValidationMetrics};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, TryRecvError};
use std::sync::Arc;

/// What the "New training" form asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainRequest {
    /// A data set folder (case folders, optionally `cases.csv`) or a prepared set.
    pub data: PathBuf,
    /// The run folder to create.
    pub out: PathBuf,
    pub method: Method,
    pub preset: Preset,
    /// How the modalities are combined (concatenation or GMD's Dynamic Sharing).
    pub fusion: Fusion,
    pub iterations: u64,
    /// Held-out fraction for validation when the data set has no `val` split.
    pub validation_fraction: f64,
}

impl TrainRequest {
    /// The run's configuration: the preset's defaults with the form's choices.
    pub fn config(&self) -> Result<TrainConfig, String> {
        let mut config = TrainConfig::new(self.method, self.preset);
        config.model.fusion = self.fusion;
        config.iterations = self.iterations;
        config.warmup_iterations = config.warmup_iterations.min(self.iterations / 3);
        config.checkpoint_every = config.checkpoint_every.min(self.iterations.max(1));
        config.validate_every = config.validate_every.min(self.iterations.max(1));
        config.validation_fraction = self.validation_fraction;
        config.data_dir = Some(std::path::absolute(&self.data).unwrap_or(self.data.clone()));
        config.check().map_err(|e| e.to_string())?;
        if !self.data.is_dir() {
            return Err(format!(
                "{}: not a folder; choose the data set folder that holds the case folders",
                self.data.display()
            ));
        }
        if RunPaths::new(&self.out).checkpoint().exists() {
            return Err(format!(
                "{}: already holds a training run; choose another run folder",
                self.out.display()
            ));
        }
        Ok(config)
    }
}

/// Where a job stands.
#[derive(Debug, Clone, PartialEq)]
pub enum TrainState {
    Running,
    /// Stopped with a checkpoint; `resume` continues.
    Paused,
    Cancelled,
    Completed {
        model: PathBuf,
    },
    Failed(String),
}

/// Everything the plots show, collected from the events.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrainHistory {
    pub steps: Vec<StepMetrics>,
    pub validations: Vec<ValidationMetrics>,
    pub train_cases: usize,
    pub val_cases: usize,
    /// Cases the data set had to skip, each naming its file and the problem.
    pub problems: Vec<String>,
    /// While a raw data set is being prepared: cases done and in all.
    pub preparing: Option<(usize, usize)>,
    /// The prepared data set the run streams its cases from.
    pub prepared: Option<PathBuf>,
}

/// A training run driven from the viewer.
pub struct TrainingJob {
    pub config: TrainConfig,
    pub data: PathBuf,
    pub run_dir: PathBuf,
    pub state: TrainState,
    pub history: TrainHistory,
    /// The iteration the run has reached.
    pub iteration: u64,
    stop: Arc<AtomicBool>,
    /// Set while stopping: what the stop is for.
    stopping: Option<TrainState>,
    receiver: Receiver<TrainEvent>,
    worker: Option<std::thread::JoinHandle<Result<TrainOutcome, String>>>,
}

impl TrainingJob {
    /// Starts a new run.
    pub fn start(request: &TrainRequest, ctx: &egui::Context) -> Result<TrainingJob, String> {
        let config = request.config()?;
        let (receiver, stop, worker) =
            spawn(&config, &request.data, &request.out, false, ctx.clone());
        Ok(TrainingJob {
            config,
            data: request.data.clone(),
            run_dir: request.out.clone(),
            state: TrainState::Running,
            history: TrainHistory::default(),
            iteration: 0,
            stop,
            stopping: None,
            receiver,
            worker: Some(worker),
        })
    }

    /// Stops at the next iteration with a checkpoint; `resume` goes on.
    pub fn pause(&mut self) {
        self.request_stop(TrainState::Paused);
    }

    /// Stops at the next iteration; the checkpoint stays in the run folder.
    pub fn cancel(&mut self) {
        self.request_stop(TrainState::Cancelled);
    }

    fn request_stop(&mut self, then: TrainState) {
        if self.state == TrainState::Running {
            self.stopping = Some(then);
            self.stop.store(true, Ordering::Relaxed);
        } else if self.state == TrainState::Paused && then == TrainState::Cancelled {
            self.state = TrainState::Cancelled;
        }
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.is_some()
    }

    /// Continues a paused run from its checkpoint.
    pub fn resume(&mut self, ctx: &egui::Context) {
        if self.state != TrainState::Paused {
            return;
        }
        let (receiver, stop, worker) =
            spawn(&self.config, &self.data, &self.run_dir, true, ctx.clone());
        self.receiver = receiver;
        self.stop = stop;
        self.worker = Some(worker);
        self.state = TrainState::Running;
    }

    /// Takes the events that arrived; updates the history and, at the end, the state.
    pub fn poll(&mut self) {
        loop {
            match self.receiver.try_recv() {
                Ok(event) => self.take(event),
                Err(TryRecvError::Empty) => return,
                Err(TryRecvError::Disconnected) => {
                    self.finish();
                    return;
                }
            }
        }
    }

    fn take(&mut self, event: TrainEvent) {
        match event {
            TrainEvent::Started {
                first_iteration,
                train_cases,
                val_cases,
                prepared,
                problems,
                ..
            } => {
                self.iteration = first_iteration;
                self.history.train_cases = train_cases;
                self.history.val_cases = val_cases;
                self.history.problems.extend(problems);
                self.history.preparing = None;
                self.history.prepared = Some(prepared);
                // A resumed run repeats nothing: drop what came after its checkpoint.
                self.history.steps.retain(|s| s.iteration < first_iteration);
                self.history
                    .validations
                    .retain(|v| v.iteration < first_iteration);
            }
            TrainEvent::Step(step) => {
                self.iteration = step.iteration + 1;
                self.history.steps.push(step);
            }
            TrainEvent::Validation(v) => self.history.validations.push(v),
            TrainEvent::Preparing {
                done,
                total,
                case,
                failed,
            } => {
                if failed {
                    self.history.problems.push(case);
                } else {
                    self.history.preparing = Some((done, total));
                }
            }
            TrainEvent::Checkpoint { .. } | TrainEvent::Finished(_) => {}
        }
    }

    /// The worker has ended: record how.
    fn finish(&mut self) {
        let Some(worker) = self.worker.take() else {
            return;
        };
        let outcome = worker
            .join()
            .unwrap_or_else(|_| Err("training stopped unexpectedly (internal error)".into()));
        let stopping = self.stopping.take();
        self.state = match outcome {
            Ok(TrainOutcome::Completed { model }) => TrainState::Completed { model },
            Ok(TrainOutcome::Stopped { .. }) => stopping.unwrap_or(TrainState::Paused),
            Err(e) => TrainState::Failed(e),
        };
    }

    /// The trained model, once the run has completed.
    pub fn model(&self) -> Option<&Path> {
        match &self.state {
            TrainState::Completed { model } => Some(model),
            _ => None,
        }
    }
}

type Spawned = (
    Receiver<TrainEvent>,
    Arc<AtomicBool>,
    std::thread::JoinHandle<Result<TrainOutcome, String>>,
);

fn spawn(
    config: &TrainConfig,
    data: &Path,
    run_dir: &Path,
    resume: bool,
    ctx: egui::Context,
) -> Spawned {
    let (events, receiver) = channel();
    let (repaint, forward) = channel();
    let stop = Arc::new(AtomicBool::new(false));
    let (config, data, run_dir, flag) = (
        config.clone(),
        data.to_path_buf(),
        run_dir.to_path_buf(),
        stop.clone(),
    );
    // Forwards events and asks for a repaint with each, so the plots follow the run.
    std::thread::spawn(move || {
        for event in forward {
            if events.send(event).is_err() {
                return;
            }
            ctx.request_repaint();
        }
        ctx.request_repaint();
    });
    let worker = std::thread::spawn(move || {
        train(&config, &data, &run_dir, resume, &flag, &repaint).map_err(|e| e.to_string())
    });
    (receiver, stop, worker)
}
