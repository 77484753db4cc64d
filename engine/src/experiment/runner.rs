//! Running a comparison: every method trained with the same preset, backbone, data, budget and
//! seeds (a run whose model exists is reused, one with a checkpoint resumes, either only when
//! its recorded settings are the ones asked for: [`super::reuse`]; a stale or unreadable run
//! stops the experiment, or with [`ExperimentPlan::retrain_stale`] is moved aside and trained
//! again), every model
//! evaluated on a split under all 15 subsets (a run's `eval.json` of the same cases is reused),
//! and the results written to the experiment folder. The CLI and the app call [`run`] and
//! show its progress through a [`Reporter`].

use super::arms::Arm;
use super::chart::write_chart;
use super::logs::{iteration_costs, strategy_logs, RunSteps};
use super::reuse::{differing_settings, set_aside};
use super::stats::{pairwise, MethodTables, PairwiseStats};
use super::{summarise, Comparison};
use crate::compute::{self, Compute};
use crate::data::cases::Split;
use crate::infer::eval::{evaluate, load_cases, EvalCase};
use crate::infer::{InferError, Segmenter};
use crate::metrics::EvalTable;
use crate::model::file::RUN_MODEL_FILE;
use crate::model::{Fusion, ModelFileError, Preset};
use crate::study::Availability;
use crate::train::run::run_config;
use crate::train::{
    read_metrics, train, RunPaths, TrainConfig, TrainError, TrainEvent, TrainOutcome,
};
use burn::tensor::Device;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;

/// What to compare, and where.
#[derive(Debug, Clone)]
pub struct ExperimentPlan {
    /// The data set folder (case folders and a cases.csv with train/val/test splits).
    pub data: PathBuf,
    /// The experiment folder: `runs/<method>-seed<k>/`, the tables, logs and chart.
    pub out: PathBuf,
    /// The arms compared (methods, and MetaKD's meta step).
    pub methods: Vec<Arm>,
    /// Runs per method, with seeds 1..=seeds.
    pub seeds: u64,
    /// Train and evaluate only this seed (to split an experiment across processes).
    pub only_seed: Option<u64>,
    /// Network iterations per run.
    pub iterations: u64,
    pub preset: Preset,
    pub fusion: Fusion,
    /// GMD's availability subsets per step.
    pub gmd_subsets: usize,
    pub compute: Compute,
    /// The split the models are evaluated on, and at most this many of its cases.
    pub split: Split,
    pub limit: Option<usize>,
    /// A run trained with other settings, or whose settings or model cannot be read, is moved
    /// aside (`<run>.stale-<k>`, nothing deleted) and trained again instead of stopping the
    /// experiment.
    pub retrain_stale: bool,
    /// Tabulate only the runs already trained and evaluated, naming the others, instead of
    /// training and evaluating them (to read an experiment while its runs go on elsewhere).
    pub collect_only: bool,
    /// The command line that asked for it (written into the comparison).
    pub command: String,
}

/// Why an experiment could not go on.
#[derive(Debug, thiserror::Error)]
pub enum ExperimentError {
    #[error("{0}")]
    Settings(String),
    #[error(transparent)]
    Train(#[from] TrainError),
    #[error(transparent)]
    Model(#[from] ModelFileError),
    #[error(transparent)]
    Infer(#[from] InferError),
    #[error("{0}")]
    Cases(String),
    #[error("{0}")]
    Device(String),
    #[error("{path}: cannot write: {message}")]
    Write { path: PathBuf, message: String },
    #[error("{0}")]
    Chart(String),
    #[error("training stopped unexpectedly (internal error)")]
    Worker,
}

/// How an experiment ended.
#[derive(Debug)]
pub enum ExperimentOutcome {
    /// Every run trained and evaluated; the comparison was written.
    Completed(Comparison),
    /// Stopped on request; the same plan continues from the checkpoints.
    Stopped,
}

/// Where the runner reports what it does.
pub trait Reporter {
    /// A line about the experiment (a run reused, resumed, skipped cases…).
    fn note(&mut self, text: &str);
    /// Follows a training run's events until the run ends (the channel closes).
    fn follow_training(&mut self, events: mpsc::Receiver<TrainEvent>, config: &TrainConfig);
    /// `done` of `total` segmentations of a run's evaluation.
    fn evaluating(&mut self, done: usize, total: usize);
}

impl ExperimentPlan {
    fn check(&self) -> Result<(), ExperimentError> {
        let bad = |text: String| Err(ExperimentError::Settings(text));
        if self.methods.is_empty() {
            return bad("no method to compare; name at least one".into());
        }
        if self.iterations == 0 || self.seeds == 0 {
            return bad("--iterations and --seeds must be at least 1".into());
        }
        if self.only_seed.is_some_and(|s| s == 0 || s > self.seeds) {
            return bad(format!("--only-seed must be one of 1…{}", self.seeds));
        }
        Ok(())
    }

    /// The seeds this call trains.
    fn seeds(&self) -> impl Iterator<Item = u64> + '_ {
        (1..=self.seeds).filter(|s| self.only_seed.is_none_or(|only| only == *s))
    }

    /// The run folder of one method and seed.
    pub fn run_dir(&self, arm: Arm, seed: u64) -> PathBuf {
        self.out
            .join("runs")
            .join(format!("{}-seed{seed}", arm.name()))
    }

    /// The training configuration of one run: the method's defaults at this plan's preset,
    /// with the arm's meta step and the plan's backbone, budget, device and seed (schedules
    /// shortened to fit).
    pub fn train_config(&self, arm: Arm, seed: u64) -> TrainConfig {
        let mut config = TrainConfig::new(arm.method, self.preset);
        arm.apply(&mut config);
        config.model.fusion = self.fusion;
        config.gmd.subsets_per_step = self.gmd_subsets;
        config.compute = self.compute;
        config.iterations = self.iterations;
        config.warmup_iterations = config.warmup_iterations.min(self.iterations / 3);
        config.checkpoint_every = config.checkpoint_every.min(self.iterations);
        config.validate_every = config.validate_every.min(self.iterations);
        config.seed = seed;
        config.data_dir = Some(self.data.clone());
        config
    }
}

/// Trains, evaluates and tabulates the plan (see the module docs). `stop` asks the current
/// run to checkpoint and the experiment to end with [`ExperimentOutcome::Stopped`].
pub fn run(
    plan: &ExperimentPlan,
    stop: &AtomicBool,
    reporter: &mut dyn Reporter,
) -> Result<ExperimentOutcome, ExperimentError> {
    plan.check()?;
    std::fs::create_dir_all(&plan.out).map_err(|e| ExperimentError::Write {
        path: plan.out.clone(),
        message: e.to_string(),
    })?;
    let device = compute::device(plan.compute).map_err(ExperimentError::Device)?;
    let mut cases: Option<Vec<EvalCase>> = None;
    let mut runs = Vec::new();
    let mut summaries = Vec::new();
    let mut all_tables = Vec::new();
    for &arm in &plan.methods {
        let mut tables = Vec::new();
        for seed in plan.seeds() {
            let run_dir = plan.run_dir(arm, seed);
            if plan.collect_only && !run_dir.join(RUN_MODEL_FILE).exists() {
                reporter.note(&format!("{}: not trained yet; left out", run_dir.display()));
                continue;
            }
            let Some((model, segmenter)) = trained_model(plan, arm, seed, &device, stop, reporter)?
            else {
                return Ok(ExperimentOutcome::Stopped);
            };
            let cases = match &mut cases {
                Some(loaded) => loaded,
                slot @ None => slot.insert(load_eval_cases(plan, &segmenter, reporter)?),
            };
            let table = if plan.collect_only {
                let Some(table) = evaluated_already(&run_dir, &case_names(cases)) else {
                    reporter.note(&format!(
                        "{}: not evaluated yet; left out",
                        run_dir.display()
                    ));
                    continue;
                };
                reporter.note(&format!("{}: evaluated already", run_dir.display()));
                table
            } else {
                ensure_evaluated(&segmenter, &model, &run_dir, cases, reporter)?
            };
            tables.push(table);
            runs.push((arm, seed, run_dir));
        }
        if !tables.is_empty() {
            summaries.push(summarise(arm.name(), &tables));
            all_tables.push((arm, tables));
        }
    }
    if runs.is_empty() {
        return Err(ExperimentError::Settings(format!(
            "{}: no run of this experiment is trained and evaluated yet; run it without \
             --collect-only first",
            plan.out.display()
        )));
    }
    let comparison = Comparison {
        command: plan.command.clone(),
        methods: summaries,
    };
    let by_method: Vec<MethodTables> = all_tables
        .iter()
        .map(|(arm, tables)| MethodTables {
            method: arm.name(),
            tables,
        })
        .collect();
    write_results(plan, &comparison, &pairwise(&by_method), &runs)?;
    Ok(ExperimentOutcome::Completed(comparison))
}

/// One run's model file, opened: trained (or resumed) unless it exists. A model that cannot be
/// read is stale like a run of other settings (see [`refuse_or_set_aside`]). Returns `None`
/// when the run was stopped.
fn trained_model(
    plan: &ExperimentPlan,
    arm: Arm,
    seed: u64,
    device: &Device,
    stop: &AtomicBool,
    reporter: &mut dyn Reporter,
) -> Result<Option<(PathBuf, Segmenter)>, ExperimentError> {
    let run_dir = plan.run_dir(arm, seed);
    let config = plan.train_config(arm, seed);
    let Some(model) = ensure_trained(plan, config.clone(), &run_dir, stop, reporter)? else {
        return Ok(None);
    };
    match Segmenter::open(&model, device) {
        Ok(segmenter) => Ok(Some((model, segmenter))),
        Err(e) => {
            refuse_or_set_aside(
                plan,
                &run_dir,
                &format!("its model cannot be used: {e}"),
                reporter,
            )?;
            let Some(model) = ensure_trained(plan, config, &run_dir, stop, reporter)? else {
                return Ok(None);
            };
            let segmenter = Segmenter::open(&model, device)?;
            Ok(Some((model, segmenter)))
        }
    }
}

/// Why an existing run folder cannot stand in the experiment: its `run.toml` cannot be read,
/// or records other settings than `config`.
fn stale_reason(config: &TrainConfig, run_dir: &Path) -> Option<String> {
    match run_config(run_dir) {
        Err(e) => Some(format!("its settings cannot be read ({e})")),
        Ok(recorded) => {
            let differences = differing_settings(config, &recorded);
            (!differences.is_empty()).then(|| {
                format!(
                    "this run was trained with other settings than this experiment asks for ({})",
                    differences.join("; ")
                )
            })
        }
    }
}

/// Stops the experiment over a stale run, or, when the plan says so, moves the run aside so
/// that it is trained again.
fn refuse_or_set_aside(
    plan: &ExperimentPlan,
    run_dir: &Path,
    reason: &str,
    reporter: &mut dyn Reporter,
) -> Result<(), ExperimentError> {
    if !plan.retrain_stale {
        return Err(ExperimentError::Settings(format!(
            "{}: {reason}; pass --retrain-stale to move it aside and train it again, give the \
             experiment a new --out folder, or move the run away",
            run_dir.display()
        )));
    }
    let moved = set_aside(run_dir).map_err(|e| ExperimentError::Write {
        path: run_dir.to_path_buf(),
        message: format!("cannot move the stale run aside: {e}"),
    })?;
    reporter.note(&format!(
        "{}: {reason}; moved to {} and training it again",
        run_dir.display(),
        moved.display()
    ));
    Ok(())
}

/// Trains one run unless its model exists (resuming from a checkpoint when there is one);
/// an existing run is used only when its `run.toml` records the settings asked for.
/// Returns the model file, or `None` when the run was stopped.
fn ensure_trained(
    plan: &ExperimentPlan,
    config: TrainConfig,
    run_dir: &Path,
    stop: &AtomicBool,
    reporter: &mut dyn Reporter,
) -> Result<Option<PathBuf>, ExperimentError> {
    let model = run_dir.join(RUN_MODEL_FILE);
    let checkpoint = RunPaths::new(run_dir).checkpoint();
    if model.exists() || checkpoint.exists() {
        if let Some(reason) = stale_reason(&config, run_dir) {
            refuse_or_set_aside(plan, run_dir, &reason, reporter)?;
        }
    }
    let resume = checkpoint.exists();
    if model.exists() {
        reporter.note(&format!("{}: trained already", run_dir.display()));
        return Ok(Some(model));
    }
    let config = if resume { run_config(run_dir)? } else { config };
    reporter.note(&format!(
        "{}: {} seed {}{}",
        run_dir.display(),
        config.method.name(),
        config.seed,
        if resume { " (resuming)" } else { "" }
    ));
    let data = plan.data.as_path();
    let (tx, rx) = mpsc::channel();
    let outcome = std::thread::scope(|scope| {
        // The worker owns the sender, so the events end when the run does.
        let worker = scope.spawn(|| {
            let tx = tx;
            train(&config, data, run_dir, resume, stop, &tx)
        });
        reporter.follow_training(rx, &config);
        worker.join()
    })
    .map_err(|_| ExperimentError::Worker)??;
    Ok(match outcome {
        TrainOutcome::Completed { model } => Some(model),
        TrainOutcome::Stopped { .. } => None,
    })
}

/// The evaluation split's cases, prepared for `segmenter`; skipped cases are reported.
fn load_eval_cases(
    plan: &ExperimentPlan,
    segmenter: &Segmenter,
    reporter: &mut dyn Reporter,
) -> Result<Vec<EvalCase>, ExperimentError> {
    let (loaded, problems) = load_cases(&plan.data, plan.split, plan.limit, segmenter)
        .map_err(ExperimentError::Cases)?;
    for p in problems {
        reporter.note(&format!("skipped: {p}"));
    }
    Ok(loaded)
}

/// The run's 15-subset table: its `eval.json` when that covers exactly these cases, else a
/// new evaluation (written to `eval.json`).
fn ensure_evaluated(
    segmenter: &Segmenter,
    model: &Path,
    run_dir: &Path,
    cases: &[EvalCase],
    reporter: &mut dyn Reporter,
) -> Result<EvalTable, ExperimentError> {
    if let Some(table) = evaluated_already(run_dir, &case_names(cases)) {
        reporter.note(&format!("{}: evaluated already", run_dir.display()));
        return Ok(table);
    }
    let table = evaluate(
        segmenter,
        &model.display().to_string(),
        cases,
        &Availability::all_subsets(),
        &mut |done, total| {
            reporter.evaluating(done, total);
            true
        },
    )?;
    let json = serde_json::to_string_pretty(&table).expect("table serialises");
    write(&run_dir.join("eval.json"), &json)?;
    Ok(table)
}

/// The names of the evaluation cases, in order.
fn case_names(cases: &[EvalCase]) -> Vec<String> {
    cases.iter().map(|c| c.case.name.clone()).collect()
}

/// The run's `eval.json` when it holds all 15 subsets of exactly these cases (a shard or an
/// earlier call evaluated the run already).
fn evaluated_already(run_dir: &Path, cases: &[String]) -> Option<EvalTable> {
    let text = std::fs::read_to_string(run_dir.join("eval.json")).ok()?;
    let table: EvalTable = serde_json::from_str(&text).ok()?;
    (table.cases == cases && table.rows.len() == 15).then_some(table)
}

/// Writes the comparison (Markdown, CSV, JSON), the strategy logs, the iteration costs and
/// the chart into the experiment folder.
fn write_results(
    plan: &ExperimentPlan,
    comparison: &Comparison,
    stats: &PairwiseStats,
    runs: &[(Arm, u64, PathBuf)],
) -> Result<(), ExperimentError> {
    let out = &plan.out;
    let markdown = format!(
        "{}\n{}",
        comparison.to_markdown(),
        stats.significant_lines()
    );
    write(&out.join("comparison.md"), &markdown)?;
    write(&out.join("comparison.csv"), &comparison.to_csv())?;
    let json = serde_json::to_string_pretty(comparison).expect("comparison serialises");
    write(&out.join("comparison.json"), &json)?;
    write(&out.join("stats.md"), &stats.to_markdown())?;
    write(&out.join("stats.csv"), &stats.to_csv())?;
    let json = serde_json::to_string_pretty(stats).expect("statistics serialise");
    write(&out.join("stats.json"), &json)?;
    let mut logged = Vec::new();
    for (arm, seed, run_dir) in runs {
        let log = read_metrics(&RunPaths::new(run_dir).metrics())?;
        logged.push(RunSteps {
            arm: *arm,
            seed: *seed,
            steps: log.steps,
        });
    }
    let (weights, teachers) = strategy_logs(&logged, (plan.iterations / 100).max(1));
    write(&out.join("metakd_weights.csv"), &weights)?;
    write(&out.join("lckd_teachers.csv"), &teachers)?;
    write(&out.join("iteration_costs.md"), &iteration_costs(&logged))?;
    let title = format!(
        "Mean Dice by available modalities ({} preset, {} backbone, {} iterations)",
        plan.preset.name(),
        plan.fusion.name(),
        plan.iterations
    );
    write_chart(
        &comparison.methods,
        &title,
        &out.join("dice_by_modalities.png"),
    )
    .map_err(ExperimentError::Chart)
}

fn write(path: &Path, text: &str) -> Result<(), ExperimentError> {
    crate::atomic_file::write(path, text.as_bytes()).map_err(|e| ExperimentError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}
