//! `metakd`: the command-line tool of the MetaKD engine. Each subcommand lives in its own module
//! and returns an exit status; errors are printed as one line naming the file and the problem.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod bench;
mod bench_load;
mod bench_loader;
mod info;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Info(args) => info::run(args),
        Command::Bench(args) => bench::run(args),
    }
}
