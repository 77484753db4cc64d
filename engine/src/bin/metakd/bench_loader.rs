//! `metakd bench loader`: patches per second of the training batch loader.
//!
//! Cases come from `--data DIR` (a `cases.csv` or a folder scan; the chosen split is
//! preprocessed once) or, without it, from a few synthetic BraTS-sized cases (240×240×155,
//! four modalities, a labelled tumour) built in memory so the benchmark needs no files. Then,
//! for each patch size, a loader with the given workers and augmentation runs a few warm-up
//! batches and a timed run. The queues are full at both ends of the timed window (the consumer
//! only counts), so the rate is the workers' steady-state production rate.

use engine::data::augment::AugmentConfig;
use engine::data::cases::{CaseList, Split};
use engine::data::dataset::{load_split, Requirements};
use engine::data::error::OnBadCase;
use engine::data::loader::{Loader, LoaderConfig, SubsetScope};
use engine::data::patches::PatchConfig;
use engine::data::subsets::SubsetSampler;
use engine::prepare::{prepare, PreprocessConfig};
use engine::study::{Availability, LabelConvention, Study};
use engine::volume::{Affine, Volume};
use rayon::prelude::*;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// Dataset folder (`cases.csv` or one sub-folder per case); default: synthetic cases.
    #[arg(long)]
    data: Option<PathBuf>,
    /// Split of `--data` to load (train, val or test).
    #[arg(long, default_value = "train")]
    split: String,
    /// Number of synthetic 240×240×155 cases when `--data` is not given.
    #[arg(long, default_value_t = 4)]
    cases: usize,
    /// Patch sizes to measure, comma-separated: a side `N` for N³, or `DxHxW`
    /// (e.g. 80x160x160, MetaKD's crop).
    #[arg(long, value_delimiter = ',', default_value = "80,128")]
    sizes: Vec<String>,
    /// Worker threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Samples per batch.
    #[arg(long, default_value_t = 2)]
    batch_size: usize,
    /// Timed batches per patch size.
    #[arg(long, default_value_t = 30)]
    batches: u64,
    /// Untimed batches first (fill the queues).
    #[arg(long, default_value_t = 4)]
    warmup: u64,
    /// Also rotate (p = 0.2, ±10°) on top of flips, scale, shift and gamma.
    #[arg(long)]
    rotation: bool,
    /// No augmentation at all.
    #[arg(long, conflicts_with = "rotation")]
    no_augment: bool,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(serde::Serialize)]
struct Row {
    patch: [usize; 3],
    workers: usize,
    batch_size: usize,
    batches: u64,
    seconds: f64,
    patches_per_s: f64,
    ms_per_batch: f64,
}

#[derive(serde::Serialize)]
struct Report {
    source: String,
    cases: usize,
    prepared_shapes: Vec<[usize; 3]>,
    prepare_s: f64,
    augmentation: &'static str,
    threads_available: usize,
    results: Vec<Row>,
}

pub fn run(args: Args) -> ExitCode {
    match bench(&args) {
        Ok(report) => {
            if args.json {
                match serde_json::to_string_pretty(&report) {
                    Ok(text) => println!("{text}"),
                    Err(e) => {
                        eprintln!("error: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                print_table(&report);
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn bench(args: &Args) -> Result<Report, String> {
    let sizes = args
        .sizes
        .iter()
        .map(|s| parse_size(s))
        .collect::<Option<Vec<_>>>()
        .filter(|v| !v.is_empty())
        .ok_or("--sizes needs positive patch sizes such as 80,128 or 80x160x160")?;
    let start = Instant::now();
    let prep = PreprocessConfig::default();
    let (source, cases) = match &args.data {
        Some(dir) => {
            let split = Split::parse(&args.split)
                .ok_or_else(|| format!("--split {}: use train, val or test", args.split))?;
            let (list, earlier) = CaseList::open(dir).map_err(|e| e.to_string())?;
            let needs = Requirements {
                modalities: Availability::NONE,
                labels: true,
            };
            let ds = load_split(&list, split, &earlier, needs, &prep, OnBadCase::Skip)
                .map_err(|e| e.to_string())?;
            if !ds.report.is_clean() {
                eprintln!("{}", ds.report);
            }
            (dir.display().to_string(), ds.cases)
        }
        None => {
            if args.cases == 0 {
                return Err("--cases must be at least 1".into());
            }
            let cases = (0..args.cases)
                .map(|i| {
                    let study = synthetic_study(i as u64 + args.seed);
                    prepare(&study, &prep).map(Arc::new)
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| e.to_string())?;
            ("synthetic 240×240×155".to_string(), cases)
        }
    };
    let prepare_s = start.elapsed().as_secs_f64();
    let (augment, augmentation) = if args.no_augment {
        (AugmentConfig::none(), "none")
    } else if args.rotation {
        (
            AugmentConfig::with_rotation(),
            "flips, scale, shift, gamma, rotation",
        )
    } else {
        (AugmentConfig::default(), "flips, scale, shift, gamma")
    };
    let mut results = Vec::new();
    for &size in &sizes {
        let cfg = LoaderConfig {
            batch_size: args.batch_size,
            workers: args.workers,
            prefetch: args.workers.max(1),
            patch: PatchConfig {
                size,
                foreground_fraction: 0.5,
            },
            augment,
            subsets: SubsetSampler::MetaKd,
            scope: SubsetScope::Batch,
            seed: args.seed,
            batches: Some(args.warmup + args.batches),
        };
        let mut loader = Loader::spawn(cases.clone(), cfg).map_err(|e| e.to_string())?;
        let mut checksum = 0.0f64;
        for _ in 0..args.warmup {
            next(&mut loader, &mut checksum)?;
        }
        let t = Instant::now();
        for _ in 0..args.batches {
            next(&mut loader, &mut checksum)?;
        }
        let seconds = t.elapsed().as_secs_f64();
        drop(loader);
        std::hint::black_box(checksum);
        let patches = (args.batches * args.batch_size as u64) as f64;
        results.push(Row {
            patch: size,
            workers: args.workers,
            batch_size: args.batch_size,
            batches: args.batches,
            seconds,
            patches_per_s: patches / seconds,
            ms_per_batch: 1000.0 * seconds / args.batches.max(1) as f64,
        });
    }
    Ok(Report {
        source,
        cases: cases.len(),
        prepared_shapes: cases.iter().map(|c| c.shape).collect(),
        prepare_s,
        augmentation,
        threads_available: std::thread::available_parallelism().map_or(1, |n| n.get()),
        results,
    })
}

/// `N` → `[N, N, N]`; `DxHxW` → `[D, H, W]`; all sides ≥ 1.
fn parse_size(text: &str) -> Option<[usize; 3]> {
    let parts: Vec<usize> = text
        .trim()
        .split(['x', 'X', '×'])
        .map(|p| p.trim().parse().ok())
        .collect::<Option<_>>()?;
    let size = match parts.as_slice() {
        [n] => [*n; 3],
        [d, h, w] => [*d, *h, *w],
        _ => return None,
    };
    (!size.contains(&0)).then_some(size)
}

fn next(loader: &mut Loader, checksum: &mut f64) -> Result<(), String> {
    match loader.next_batch() {
        Some(Ok(batch)) => {
            *checksum += f64::from(batch.images[batch.images.len() / 2]);
            Ok(())
        }
        Some(Err(e)) => Err(e.to_string()),
        None => Err("the loader ended early".into()),
    }
}

fn print_table(r: &Report) {
    println!(
        "loader benchmark: {} case(s) from {}, prepared in {:.2} s (cropped [D,H,W] e.g. {:?})",
        r.cases,
        r.source,
        r.prepare_s,
        r.prepared_shapes.first().copied().unwrap_or_default()
    );
    println!(
        "augmentation: {}; subsets: metakd per batch; {} hardware threads",
        r.augmentation, r.threads_available
    );
    println!(
        "{:<13} {:>7} {:>5} {:>7} {:>10} {:>10}",
        "patch", "workers", "batch", "batches", "patches/s", "ms/batch"
    );
    for row in &r.results {
        let [d, h, w] = row.patch;
        println!(
            "{:<13} {:>7} {:>5} {:>7} {:>10.1} {:>10.1}",
            format!("{d}x{h}x{w}"),
            row.workers,
            row.batch_size,
            row.batches,
            row.patches_per_s,
            row.ms_per_batch
        );
    }
}

/// A BraTS-sized synthetic case (`[nx, ny, nz]` = 240×240×155, 1 mm): an ellipsoid "brain"
/// with a smooth per-modality texture and a tumour (oedema shell, necrotic core, enhancing
/// rim) whose position depends on `seed`.
fn synthetic_study(seed: u64) -> Study {
    let (nx, ny, nz) = (240usize, 240usize, 155usize);
    let t = seed as f64;
    let tumour = [
        120.0 + 25.0 * (1.3 * t).sin(),
        120.0 + 30.0 * (0.7 * t).cos(),
        77.0 + 15.0 * (0.9 * t + 1.0).sin(),
    ];
    let label_at = |i: usize, j: usize, k: usize| -> f32 {
        let d = ((i as f64 - tumour[0]).powi(2)
            + (j as f64 - tumour[1]).powi(2)
            + (k as f64 - tumour[2]).powi(2))
        .sqrt();
        match d {
            d if d < 6.0 => 1.0,
            d if d < 10.0 => 4.0,
            d if d < 20.0 => 2.0,
            _ => 0.0,
        }
    };
    let brain = |i: usize, j: usize, k: usize| {
        ((i as f64 - 120.0) / 75.0).powi(2)
            + ((j as f64 - 120.0) / 95.0).powi(2)
            + ((k as f64 - 77.0) / 65.0).powi(2)
            < 1.0
    };
    let make = |f: &(dyn Fn(usize, usize, usize) -> f32 + Sync)| -> Volume {
        let mut data = vec![0.0f32; nx * ny * nz];
        data.par_chunks_mut(nx * ny)
            .enumerate()
            .for_each(|(k, slab)| {
                for j in 0..ny {
                    for i in 0..nx {
                        slab[j * nx + i] = f(i, j, k);
                    }
                }
            });
        let affine = Affine::identity();
        Volume::in_memory([nx, ny, nz], affine, data)
    };
    let contrast = [
        [300.0, 600.0],
        [500.0, 350.0],
        [450.0, 900.0],
        [250.0, 800.0],
    ];
    let modalities = std::array::from_fn(|m| {
        let [tissue, lesion] = contrast[m];
        Some(make(&|i, j, k| {
            if !brain(i, j, k) {
                return 0.0;
            }
            let texture = 40.0
                * ((i as f32 * 0.11 + m as f32).sin()
                    + (j as f32 * 0.07).cos()
                    + (k as f32 * 0.13).sin());
            let noise = ((i * 73 + j * 37 + k * 11 + m * 5) % 17) as f32;
            let base = if label_at(i, j, k) > 0.0 {
                lesion
            } else {
                tissue
            };
            base + texture + noise
        }))
    });
    Study {
        name: format!("synthetic{seed:03}"),
        modalities,
        labels: Some(make(&label_at)),
        convention: LabelConvention::Brats2021,
        layout: engine::study::Layout::Files,
    }
}
