//! `metakd`: the command-line tool of the MetaKD engine. Each subcommand lives in its own module
//! and returns an exit status; errors are printed as one line naming the file and the problem.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

mod bench_conv3d;
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
    /// Benchmark our WGSL conv3d kernels against burn's (temporary top-level name; becomes
    /// `bench conv3d` when merged with the `bench` subcommand).
    #[command(name = "bench-conv3d")]
    BenchConv3d(bench_conv3d::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Info(args) => info::run(args),
        Command::BenchConv3d(args) => bench_conv3d::run(args),
    }
}
