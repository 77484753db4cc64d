//! `metakd`: the command-line tool of the MetaKD engine. Each subcommand lives in its own module
//! and returns an exit status; errors are printed as one line naming the file and the problem.

mod bench;
mod bench_conv3d;
mod bench_load;
mod bench_loader;
mod eval;
mod experiment;
mod info;
mod montage;
mod phantom;
mod prepare;
mod process_memory;
mod segment;
mod train;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "metakd",
    version,
    about = "Brain-tumour MRI with missing sequences: inspect, generate, train, segment"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Describe a NIfTI file or a BraTS case folder (shape, geometry, statistics, labels).
    Info(info::Args),
    /// Measure the throughput of engine parts (data loader, …).
    Bench(bench::Args),
    /// Generate synthetic BraTS-like cases (FLAIR, T1, T1ce, T2, labels) and a cases.csv split.
    Phantom(phantom::Args),
    /// Render a case's four modalities and labels in three planes to a PNG.
    Montage(montage::Args),
    /// Preprocess a data set folder once into a prepared set on disk that training streams from.
    Prepare(prepare::Args),
    /// Train a model (baseline, MetaKD, LCKD or GMD) on a data set folder, or resume a run.
    Train(train::Args),
    /// Segment a study with any subset of its modalities into a BraTS label map.
    Segment(segment::Args),
    /// Evaluate a model on a split under all 15 modality subsets (Markdown, CSV, JSON).
    Eval(eval::Args),
    /// Train and evaluate several methods over seeds and compare them (tables and a chart).
    Experiment(experiment::Args),
}

fn main() -> ExitCode {
    engine::allocator::keep_freed_memory();
    let cli = Cli::parse();
    match cli.command {
        Command::Info(args) => info::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Phantom(args) => phantom::run(args),
        Command::Montage(args) => montage::run(args),
        Command::Prepare(args) => prepare::run(args),
        Command::Train(args) => train::run(args),
        Command::Segment(args) => segment::run(args),
        Command::Eval(args) => eval::run(args),
        Command::Experiment(args) => experiment::run(args),
    }
}

/// Prints `line` above a progress bar, or plainly when the bar is hidden (stderr is not a
/// terminal: a log file, CI), where indicatif would drop it.
pub fn print_above(bar: &indicatif::ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}
