//! `metakd bench <what>`: throughput benchmarks, one nested subcommand per engine part. Each
//! prints a small table (or JSON with `--json`) and returns an exit status.

use clap::Subcommand;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub what: What,
}

#[derive(Subcommand)]
pub enum What {
    /// Time and peak memory of opening a four-modality study, next to nibabel on the same files.
    Load(crate::bench_load::Args),
    /// Patches per second of the training batch loader (preprocessed cases in memory,
    /// augmentation on, worker threads).
    Loader(crate::bench_loader::Args),
    /// Our WGSL conv3d kernels against burn's conv3d on the same wgpu device, per layer shape:
    /// forward, input-gradient and weight-gradient time, GFLOP/s and speed-up.
    Conv3d(crate::bench_conv3d::Args),
}

pub fn run(args: Args) -> ExitCode {
    match args.what {
        What::Load(a) => crate::bench_load::run(a),
        What::Loader(a) => crate::bench_loader::run(a),
        What::Conv3d(a) => crate::bench_conv3d::run(a),
    }
}
