//! Reads the NIfTI files named on the command line in parallel (as a study is loaded) and
//! prints, per file, what was read and how long it took, then the wall time for all of them.
//!
//! `cargo run -p engine --release --example read_speed -- a.nii.gz b.nii.gz ...`

use engine::volume::Volume;
use rayon::prelude::*;
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let paths: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let start = Instant::now();
    let results: Vec<_> = paths
        .par_iter()
        .map(|path| {
            let started = Instant::now();
            (path, Volume::read(path), started.elapsed())
        })
        .collect();
    let total = start.elapsed();
    for (path, result, took) in results {
        match result {
            Ok(volume) => {
                let sum: f64 = volume.data.iter().map(|&v| f64::from(v)).sum();
                println!(
                    "{}: {:?}×{} {} {:?} {} mean {:.6} affine {:?} in {:.1} ms",
                    path.display(),
                    volume.shape,
                    volume.frames,
                    volume.datatype.name(),
                    volume.version,
                    volume.affine_source.name(),
                    sum / volume.data.len() as f64,
                    volume.affine.0,
                    took.as_secs_f64() * 1e3
                );
            }
            Err(error) => println!("{error} (after {:.1} ms)", took.as_secs_f64() * 1e3),
        }
    }
    println!(
        "all {} files: {:.1} ms",
        paths.len(),
        total.as_secs_f64() * 1e3
    );
}
