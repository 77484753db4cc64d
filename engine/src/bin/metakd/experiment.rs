//! `metakd experiment`: trains each method with the same preset, data, split, budget and
//! seeds, evaluates every model on a split under all 15 subsets, and writes the comparison
//! (mean ± std over seeds) as Markdown, CSV and JSON, MetaKD's modality weights and LCKD's
//! teachers over time (CSV), and a PNG chart of Dice by number of available modalities.
//! A run whose model exists is not trained again and a run with a checkpoint resumes, so an
//! interrupted experiment continues when the same command is given again.

use crate::train::{follow, stop_on_ctrl_c};
use engine::compute::{self, Compute};
use engine::data::cases::Split;
use engine::experiment::{summarise, write_chart, Comparison};
use engine::infer::Segmenter;
use engine::metrics::eval::{evaluate, load_cases, EvalCase, EvalTable};
use engine::model::file::RUN_MODEL_FILE;
use engine::model::{Fusion, Preset};
use engine::study::Availability;
use engine::train::config::Method;
use engine::train::run::run_config;
use engine::train::{train, RunPaths, TrainConfig, TrainOutcome};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc;

#[derive(clap::Args)]
pub struct Args {
    /// The data set folder (case folders and a cases.csv with train/val/test splits).
    #[arg(long)]
    data: PathBuf,
    /// The methods to compare.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "baseline,lckd,gmd,metakd"
    )]
    methods: Vec<String>,
    /// Network iterations per run (every method gets the same budget).
    #[arg(long)]
    iterations: u64,
    /// Runs per method, with seeds 1, 2, …
    #[arg(long, default_value_t = 3)]
    seeds: u64,
    /// Train and evaluate only this one of the seeds (to split an experiment across processes
    /// or machines; the same command without it then collects every run).
    #[arg(long)]
    only_seed: Option<u64>,
    /// GMD's availability subsets per step: 15 enumerates all, fewer are drawn each step.
    #[arg(long, default_value_t = 15)]
    gmd_subsets: usize,
    /// Network size (the same backbone for every method).
    #[arg(long, value_parser = ["tiny", "desktop", "paper"], default_value = "desktop")]
    preset: String,
    /// How the modalities are combined, the same for every method: concatenation (MetaKD's
    /// backbone) or GMD's Dynamic Sharing.
    #[arg(long, value_parser = ["concat", "dynamic-sharing"], default_value = "concat")]
    backbone: String,
    /// Where to train and evaluate.
    #[arg(long, value_parser = ["cpu", "wgpu"], default_value = "cpu")]
    compute: String,
    /// The split the models are evaluated on.
    #[arg(long, value_parser = ["train", "val", "test"], default_value = "test")]
    split: String,
    /// Evaluate only the first N cases of the split.
    #[arg(long)]
    limit: Option<usize>,
    /// The experiment folder (runs/, comparison.md/.csv/.json, charts and logs).
    #[arg(long)]
    out: PathBuf,
}

/// The methods asked for, in order; an unknown name is an error listing the known ones.
fn methods(names: &[String]) -> Result<Vec<Method>, String> {
    names
        .iter()
        .map(|n| {
            Method::parse(n.trim()).ok_or_else(|| {
                let known: Vec<&str> = Method::ALL.iter().map(|m| m.name()).collect();
                format!(
                    "unknown method `{n}`; this build trains {}",
                    known.join(", ")
                )
            })
        })
        .collect()
}

/// Trains one run unless its model exists (resuming from a checkpoint when there is one).
/// Returns the model file, or `None` when the run was stopped.
fn ensure_trained(
    config: TrainConfig,
    data: &Path,
    run_dir: &Path,
    stop: &AtomicBool,
) -> Result<Option<PathBuf>, String> {
    let model = run_dir.join(RUN_MODEL_FILE);
    if model.exists() {
        eprintln!("{}: trained already", run_dir.display());
        return Ok(Some(model));
    }
    let resume = RunPaths::new(run_dir).checkpoint().exists();
    let config = if resume {
        run_config(run_dir).map_err(|e| e.to_string())?
    } else {
        config
    };
    eprintln!(
        "{}: {} seed {}{}",
        run_dir.display(),
        config.method.name(),
        config.seed,
        if resume { " (resuming)" } else { "" }
    );
    let (tx, rx) = mpsc::channel();
    let outcome = std::thread::scope(|scope| {
        // The worker owns the sender, so the events end when the run does.
        let worker = scope.spawn(|| {
            let tx = tx;
            train(&config, data, run_dir, resume, stop, &tx)
        });
        follow(rx, &config);
        worker.join()
    })
    .map_err(|_| "training stopped unexpectedly (internal error)".to_string())?
    .map_err(|e| e.to_string())?;
    Ok(match outcome {
        TrainOutcome::Completed { model } => Some(model),
        TrainOutcome::Stopped { .. } => None,
    })
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    engine::atomic_file::write(path, text.as_bytes())
        .map_err(|e| format!("{}: cannot write: {e}", path.display()))
}

/// The run's `eval.json` when it holds all 15 subsets of exactly these cases (a shard or an
/// earlier call evaluated the run already).
fn evaluated_already(run_dir: &Path, cases: &[String]) -> Option<EvalTable> {
    let text = std::fs::read_to_string(run_dir.join("eval.json")).ok()?;
    let table: EvalTable = serde_json::from_str(&text).ok()?;
    (table.cases == cases && table.rows.len() == 15).then_some(table)
}

/// The metrics.jsonl step lines of a run as JSON values.
fn steps(run_dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(RunPaths::new(run_dir).metrics())
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v.get("dice_loss").is_some())
        .collect()
}

/// Each run's method, seed and `metrics.jsonl` step lines (read once for every log below).
type RunSteps = (Method, u64, Vec<serde_json::Value>);

/// MetaKD's weights (every `every` iterations) and LCKD's teachers (when they change).
fn strategy_logs(runs: &[RunSteps], every: u64) -> (String, String) {
    let mut weights = String::from("seed,iteration,flair,t1,t1ce,t2\n");
    let mut teachers = String::from("seed,iteration,teachers\n");
    for (method, seed, steps) in runs {
        let mut last = String::new();
        for step in steps {
            let iteration = step["iteration"].as_u64().unwrap_or(0);
            match method {
                Method::Metakd if iteration.is_multiple_of(every) => {
                    if let Some(w) = step["modality_weights"].as_array() {
                        let w: Vec<String> = w
                            .iter()
                            .map(|v| format!("{:.4}", v.as_f64().unwrap_or(f64::NAN)))
                            .collect();
                        weights.push_str(&format!("{seed},{iteration},{}\n", w.join(",")));
                    }
                }
                Method::Lckd => {
                    let t = step["teachers"].as_str().unwrap_or_default().to_string();
                    if t != last {
                        teachers.push_str(&format!("{seed},{iteration},{t}\n"));
                        last = t;
                    }
                }
                _ => {}
            }
        }
    }
    (weights, teachers)
}

/// Seconds per iteration of each method over all its runs (median, mean, max) as Markdown.
fn iteration_costs(runs: &[RunSteps]) -> String {
    let mut out = String::from(
        "| method | iterations | median s | mean s | max s |\n|---|---:|---:|---:|---:|\n",
    );
    let mut methods: Vec<Method> = runs.iter().map(|r| r.0).collect();
    methods.dedup();
    for method in methods {
        let mut seconds: Vec<f64> = runs
            .iter()
            .filter(|r| r.0 == method)
            .flat_map(|r| &r.2)
            .filter_map(|step| step["seconds"].as_f64())
            .collect();
        if seconds.is_empty() {
            continue;
        }
        seconds.sort_by(f64::total_cmp);
        let mean = seconds.iter().sum::<f64>() / seconds.len() as f64;
        out.push_str(&format!(
            "| {} | {} | {:.3} | {:.3} | {:.3} |\n",
            method.name(),
            seconds.len(),
            seconds[seconds.len() / 2],
            mean,
            seconds[seconds.len() - 1]
        ));
    }
    out
}

fn experiment(args: &Args) -> Result<bool, String> {
    let methods = methods(&args.methods)?;
    let preset = Preset::parse(&args.preset).expect("clap checked the preset");
    let split = Split::parse(&args.split).expect("clap checked the split");
    let fusion = Fusion::parse(&args.backbone).expect("clap checked the backbone");
    let compute = Compute::parse(&args.compute).expect("clap checked the compute device");
    if args.iterations == 0 || args.seeds == 0 {
        return Err("--iterations and --seeds must be at least 1".into());
    }
    if args.only_seed.is_some_and(|s| s == 0 || s > args.seeds) {
        return Err(format!("--only-seed must be one of 1…{}", args.seeds));
    }
    let data = std::path::absolute(&args.data).unwrap_or(args.data.clone());
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let stop = stop_on_ctrl_c();
    let device = compute::device(compute)?;
    let mut cases: Option<Vec<EvalCase>> = None;
    let mut runs = Vec::new();
    let mut summaries = Vec::new();
    for method in &methods {
        let mut tables: Vec<EvalTable> = Vec::new();
        for seed in (1..=args.seeds).filter(|s| args.only_seed.is_none_or(|only| only == *s)) {
            let run_dir = args
                .out
                .join("runs")
                .join(format!("{}-seed{seed}", method.name()));
            let mut config = TrainConfig::new(*method, preset);
            config.model.fusion = fusion;
            config.gmd.subsets_per_step = args.gmd_subsets;
            config.compute = compute;
            config.iterations = args.iterations;
            config.warmup_iterations = config.warmup_iterations.min(args.iterations / 3);
            config.checkpoint_every = config.checkpoint_every.min(args.iterations);
            config.validate_every = config.validate_every.min(args.iterations);
            config.seed = seed;
            config.data_dir = Some(data.clone());
            let Some(model) = ensure_trained(config, &data, &run_dir, &stop)? else {
                eprintln!("stopped; give the same command again to continue from the checkpoints");
                return Ok(false);
            };
            let segmenter = Segmenter::open(&model, &device).map_err(|e| e.to_string())?;
            let cases = match &mut cases {
                Some(loaded) => loaded,
                slot @ None => {
                    let (loaded, problems) = load_cases(&data, split, args.limit, &segmenter)?;
                    for p in problems {
                        eprintln!("skipped: {p}");
                    }
                    slot.insert(loaded)
                }
            };
            let names: Vec<String> = cases.iter().map(|c| c.case.name.clone()).collect();
            let table = match evaluated_already(&run_dir, &names) {
                Some(table) => {
                    eprintln!("{}: evaluated already", run_dir.display());
                    table
                }
                None => {
                    let table = evaluate(
                        &segmenter,
                        &model.display().to_string(),
                        cases,
                        &Availability::all_subsets(),
                        &mut |done, total| {
                            eprint!("\r  evaluating: segmentation {done}/{total}");
                            true
                        },
                    )
                    .map_err(|e| e.to_string())?;
                    eprintln!();
                    let json = serde_json::to_string_pretty(&table).expect("table serialises");
                    write(&run_dir.join("eval.json"), &json)?;
                    table
                }
            };
            tables.push(table);
            runs.push((*method, seed, run_dir));
        }
        summaries.push(summarise(method.name(), &tables));
    }
    let command = std::iter::once("metakd".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let comparison = Comparison {
        command,
        methods: summaries,
    };
    let out = &args.out;
    write(&out.join("comparison.md"), &comparison.to_markdown())?;
    write(&out.join("comparison.csv"), &comparison.to_csv())?;
    let json = serde_json::to_string_pretty(&comparison).expect("comparison serialises");
    write(&out.join("comparison.json"), &json)?;
    let logged: Vec<RunSteps> = runs
        .iter()
        .map(|(method, seed, run_dir)| (*method, *seed, steps(run_dir)))
        .collect();
    let (weights, teachers) = strategy_logs(&logged, (args.iterations / 100).max(1));
    write(&out.join("metakd_weights.csv"), &weights)?;
    write(&out.join("lckd_teachers.csv"), &teachers)?;
    write(&out.join("iteration_costs.md"), &iteration_costs(&logged))?;
    let title = format!(
        "Mean Dice by available modalities ({} preset, {} backbone, {} iterations)",
        preset.name(),
        fusion.name(),
        args.iterations
    );
    write_chart(
        &comparison.methods,
        &title,
        &out.join("dice_by_modalities.png"),
    )?;
    print!("{}", comparison.to_markdown());
    eprintln!(
        "wrote comparison.md/.csv/.json, metakd_weights.csv, lckd_teachers.csv, \
         iteration_costs.md and dice_by_modalities.png to {}",
        out.display()
    );
    Ok(true)
}

pub fn run(args: Args) -> ExitCode {
    match experiment(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(130),
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
