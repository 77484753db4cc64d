//! `metakd train`: trains a model on a data set folder, or resumes a run; a progress bar with
//! loss, iterations per second and ETA; Ctrl-C saves a checkpoint and exits cleanly.

use engine::compute::Compute;
use engine::model::{Fusion, Preset};
use engine::train::config::{Method, TrainConfig};
use engine::train::run::run_config;
use engine::train::{train, TrainEvent, TrainOutcome};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

#[derive(clap::Args)]
pub struct Args {
    /// The data set folder (case folders, optionally a cases.csv with train/val/test splits).
    #[arg(long, required_unless_present = "resume")]
    data: Option<PathBuf>,
    /// Training method.
    #[arg(long, value_parser = ["baseline", "metakd", "lckd", "gmd"], default_value = "metakd")]
    method: String,
    /// Network size.
    #[arg(long, value_parser = ["tiny", "desktop", "paper"], default_value = "desktop")]
    preset: String,
    /// How the modalities are combined: concatenation (MetaKD's backbone) or GMD's Dynamic
    /// Sharing (default: concat).
    #[arg(long, value_parser = ["concat", "dynamic-sharing"])]
    backbone: Option<String>,
    /// A TOML file with every setting (see the README); overrides --method and --preset.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The run folder to create (run.toml, metrics.jsonl, checkpoint.bin, model.metakd).
    #[arg(long, required_unless_present = "resume")]
    out: Option<PathBuf>,
    /// Continue the run in this folder from its checkpoint.
    #[arg(long, conflicts_with_all = ["data", "config", "out"])]
    resume: Option<PathBuf>,
    /// Start from this model file's weights (fine-tuning) instead of a random initialisation;
    /// its network must match the run's preset or `[model]` section.
    #[arg(long, conflicts_with = "resume")]
    init: Option<PathBuf>,
    /// Override the number of iterations.
    #[arg(long)]
    iterations: Option<u64>,
    /// Override the seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Where to compute.
    #[arg(long, value_parser = ["cpu", "wgpu"])]
    compute: Option<String>,
    /// Where a raw data set folder is prepared before training (default: $METAKD_CACHE or the
    /// user's cache folder, e.g. ~/.cache/metakd/prepared). A folder made by `metakd prepare`
    /// given as --data is used where it is.
    #[arg(long, conflicts_with = "resume")]
    cache: Option<PathBuf>,
}

fn config(args: &Args) -> Result<(TrainConfig, PathBuf, PathBuf, bool), String> {
    if let Some(run) = &args.resume {
        let config = run_config(run).map_err(|e| e.to_string())?;
        let data = config.data_dir.clone().ok_or_else(|| {
            format!(
                "{}: run.toml has no data_dir; add `data_dir = \"…\"` to it",
                run.display()
            )
        })?;
        return Ok((config, data, run.clone(), true));
    }
    let data = args.data.clone().expect("clap requires --data");
    let out = args.out.clone().expect("clap requires --out");
    let mut config = match &args.config {
        Some(path) => TrainConfig::read(path).map_err(|e| e.to_string())?,
        None => {
            let method = Method::parse(&args.method).expect("clap checked the method");
            let preset = Preset::parse(&args.preset).expect("clap checked the preset");
            TrainConfig::new(method, preset)
        }
    };
    if let Some(n) = args.iterations {
        config.iterations = n;
        config.warmup_iterations = config.warmup_iterations.min(n);
    }
    if let Some(seed) = args.seed {
        config.seed = seed;
    }
    if let Some(init) = &args.init {
        config.init_model = Some(std::path::absolute(init).unwrap_or(init.clone()));
    }
    if let Some(c) = &args.compute {
        config.compute = Compute::parse(c).expect("clap checked the compute device");
    }
    if let Some(b) = &args.backbone {
        config.model.fusion = Fusion::parse(b).expect("clap checked the backbone");
    }
    if let Some(cache) = &args.cache {
        config.data.cache = Some(std::path::absolute(cache).unwrap_or(cache.clone()));
    }
    config.data_dir = Some(std::path::absolute(&data).unwrap_or(data.clone()));
    config.check().map_err(|e| e.to_string())?;
    if out.join("checkpoint.bin").exists() {
        return Err(format!(
            "{}: already holds a run; use --resume {} to continue it, or choose another --out",
            out.display(),
            out.display()
        ));
    }
    Ok((config, data, out, false))
}

pub fn run(args: Args) -> ExitCode {
    let (config, data, out, resume) = match config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stop = stop_on_ctrl_c();
    let (tx, rx) = mpsc::channel();
    let worker = {
        let (config, data, out, stop) = (config.clone(), data.clone(), out.clone(), stop.clone());
        std::thread::spawn(move || train(&config, &data, &out, resume, &stop, &tx))
    };
    follow(rx, &config);
    match worker.join() {
        Ok(Ok(TrainOutcome::Completed { model })) => {
            eprintln!("done: {}", model.display());
            ExitCode::SUCCESS
        }
        Ok(Ok(TrainOutcome::Stopped {
            iteration,
            checkpoint,
        })) => {
            eprintln!(
                "stopped before iteration {iteration}; checkpoint {} (continue with `metakd train --resume {}`)",
                checkpoint.display(),
                out.display()
            );
            ExitCode::from(130)
        }
        Ok(Err(e)) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
        Err(_) => {
            eprintln!("error: training stopped unexpectedly (internal error); the last checkpoint in {} is intact", out.display());
            ExitCode::FAILURE
        }
    }
}

/// A flag that Ctrl-C sets (the run saves a checkpoint and stops); a second Ctrl-C quits.
pub fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!(
            "\nstopping: saving a checkpoint after this iteration (Ctrl-C again to quit at once)"
        );
    });
    stop
}

/// Shows a run's events as a progress bar (loss, iterations per second, ETA, the modality
/// weights or teachers, the last validation Dice) until the run ends.
pub fn follow(rx: mpsc::Receiver<TrainEvent>, config: &TrainConfig) {
    let bar = ProgressBar::new(config.iterations);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} it  {per_sec}  ETA {eta}  {msg}")
            .expect("valid progress template"),
    );
    let say = |line: String| crate::print_above(&bar, line);
    let mut last_val = String::new();
    for event in rx {
        match event {
            TrainEvent::Preparing {
                done,
                total,
                case,
                failed,
            } => {
                if failed {
                    say(format!("skipped: {case}"));
                } else {
                    bar.set_message(format!("preparing the data: {done}/{total} ({case})"));
                }
            }
            TrainEvent::Started {
                first_iteration,
                train_cases,
                val_cases,
                prepared,
                parameters,
                problems,
                ..
            } => {
                for p in problems {
                    say(format!("skipped: {p}"));
                }
                say(format!(
                    "{parameters} parameters ({:.2} MB of f32 gradients per step)",
                    4.0 * parameters as f64 / 1e6
                ));
                say(format!(
                    "streaming prepared cases from {}",
                    prepared.display()
                ));
                say(format!(
                    "{} on {train_cases} training and {val_cases} validation cases, {} preset, {} iterations{}",
                    config.method.name(),
                    config.model.preset,
                    config.iterations,
                    if first_iteration > 0 { format!(" (resuming at {first_iteration})") } else { String::new() }
                ));
                bar.set_position(first_iteration);
                bar.reset_eta();
            }
            TrainEvent::Step(s) => {
                let weights = s
                    .modality_weights
                    .map(|w| format!(" w=[{:.2} {:.2} {:.2} {:.2}]", w[0], w[1], w[2], w[3]))
                    .or_else(|| s.teachers.as_ref().map(|t| format!(" teachers {t}")))
                    .unwrap_or_default();
                bar.set_message(format!("loss {:.3}{weights}{last_val}", s.loss));
                bar.set_position(s.iteration + 1);
            }
            TrainEvent::Validation(v) => {
                let d = v.val_dice;
                last_val = format!(" val Dice WT {:.2} TC {:.2} ET {:.2}", d[0], d[1], d[2]);
                say(format!("iteration {}:{last_val}", v.iteration));
            }
            TrainEvent::Checkpoint { .. } => {}
            TrainEvent::Finished(_) => {}
        }
    }
    bar.finish_and_clear();
}
