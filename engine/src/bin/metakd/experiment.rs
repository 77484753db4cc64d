//! `metakd experiment`: trains each method with the same preset, data, split, budget and
//! seeds, evaluates every model on a split under all 15 subsets, and writes the comparison
//! (mean ± std over seeds) as Markdown, CSV and JSON, MetaKD's modality weights and LCKD's
//! teachers over time (CSV), and a PNG chart of Dice by number of available modalities.
//! A run whose model exists is not trained again and a run with a checkpoint resumes, so an
//! interrupted experiment continues when the same command is given again. The work is
//! `engine::experiment::run`; this file parses the command and prints the progress.

use crate::train::{follow, stop_on_ctrl_c};
use engine::compute::Compute;
use engine::data::cases::Split;
use engine::experiment::{self, Arm, ExperimentOutcome, ExperimentPlan, Reporter};
use engine::model::{Fusion, Preset};
use engine::train::{TrainConfig, TrainEvent};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::mpsc;

#[derive(clap::Args)]
pub struct Args {
    /// The data set folder (case folders and a cases.csv with train/val/test splits).
    #[arg(long)]
    data: PathBuf,
    /// The methods to compare: baseline, lckd, gmd, metakd (the released code's meta step),
    /// metakd-lookahead (MetaKD with the one-step look-ahead meta step) and metakd-kd1 (MetaKD
    /// with the distillation weighted 1 instead of 0.1, an ablation).
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
    /// Move a run trained with other settings, or whose settings or model cannot be read,
    /// aside (`<run>.stale-<k>`) and train it again, instead of stopping.
    #[arg(long)]
    retrain_stale: bool,
    /// Tabulate only the runs already trained and evaluated (naming the others) instead of
    /// training and evaluating the missing ones: reads an experiment while its runs go on.
    #[arg(long)]
    collect_only: bool,
}

/// The arms asked for, in order; an unknown name is an error listing the known ones.
fn methods(names: &[String]) -> Result<Vec<Arm>, String> {
    names
        .iter()
        .map(|n| {
            Arm::parse(n.trim()).ok_or_else(|| {
                let known: Vec<&str> = Arm::ALL.iter().map(|a| a.name()).collect();
                format!(
                    "unknown method `{n}`; this build trains {}",
                    known.join(", ")
                )
            })
        })
        .collect()
}

/// Prints the experiment's progress on the terminal.
struct Terminal;

impl Reporter for Terminal {
    fn note(&mut self, text: &str) {
        eprintln!("{text}");
    }

    fn follow_training(&mut self, events: mpsc::Receiver<TrainEvent>, config: &TrainConfig) {
        follow(events, config);
    }

    fn evaluating(&mut self, done: usize, total: usize) {
        eprint!("\r  evaluating: segmentation {done}/{total}");
        if done == total {
            eprintln!();
        }
    }
}

fn plan(args: &Args) -> Result<ExperimentPlan, String> {
    Ok(ExperimentPlan {
        data: std::path::absolute(&args.data).unwrap_or(args.data.clone()),
        out: args.out.clone(),
        methods: methods(&args.methods)?,
        seeds: args.seeds,
        only_seed: args.only_seed,
        iterations: args.iterations,
        preset: Preset::parse(&args.preset).expect("clap checked the preset"),
        fusion: Fusion::parse(&args.backbone).expect("clap checked the backbone"),
        gmd_subsets: args.gmd_subsets,
        compute: Compute::parse(&args.compute).expect("clap checked the compute device"),
        split: Split::parse(&args.split).expect("clap checked the split"),
        limit: args.limit,
        retrain_stale: args.retrain_stale,
        collect_only: args.collect_only,
        command: std::iter::once("metakd".to_string())
            .chain(std::env::args().skip(1))
            .collect::<Vec<_>>()
            .join(" "),
    })
}

fn experiment(args: &Args) -> Result<bool, String> {
    let plan = plan(args)?;
    let stop = stop_on_ctrl_c();
    match experiment::run(&plan, &stop, &mut Terminal).map_err(|e| e.to_string())? {
        ExperimentOutcome::Completed(comparison) => {
            print!("{}", comparison.to_markdown());
            eprintln!(
                "wrote comparison.md/.csv/.json, metakd_weights.csv, lckd_teachers.csv, \
                 iteration_costs.md and dice_by_modalities.png to {}",
                plan.out.display()
            );
            Ok(true)
        }
        ExperimentOutcome::Stopped => {
            eprintln!("stopped; give the same command again to continue from the checkpoints");
            Ok(false)
        }
    }
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
