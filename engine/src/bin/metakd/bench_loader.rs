//! `metakd bench loader`: patches per second of the training batch loader.
//!
//! Cases come from `--prepared DIR` (a prepared set, see `metakd prepare`), `--data DIR` (a
//! `cases.csv` or a folder scan; the chosen split is preprocessed once into memory) or,
//! without either, from a few synthetic BraTS-sized cases (240×240×155, four modalities, a
//! labelled tumour) built in memory so the benchmark needs no files. Then, for each patch
//! size, a loader with the given workers and augmentation runs a few warm-up batches and a
//! timed run. The queues are full at both ends of the timed window (the consumer only
//! counts), so the rate is the workers' steady-state production rate.
//!
//! With `--prepared`, each size runs twice in the same process on the same cases: streamed
//! from the files, then from the same cases read whole into memory (today's loader), with
//! the ratio of the two rates and each phase's peak resident memory (Linux: `VmHWM`, reset
//! between phases through `/proc/self/clear_refs`).

use crate::process_memory;
use engine::data::augment::AugmentConfig;
use engine::data::cases::{CaseList, Split};
use engine::data::dataset::{load_split, Requirements};
use engine::data::error::OnBadCase;
use engine::data::loader::{Loader, LoaderConfig, SubsetScope};
use engine::data::patches::PatchConfig;
use engine::data::prepared::PreparedSet;
use engine::data::source::CaseSource;
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
    #[arg(long, conflicts_with = "prepared")]
    data: Option<PathBuf>,
    /// A prepared set (`metakd prepare`): streamed and in-memory loaders side by side.
    #[arg(long)]
    prepared: Option<PathBuf>,
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
    /// `in-memory` or `streamed`.
    loader: &'static str,
    patch: [usize; 3],
    workers: usize,
    batch_size: usize,
    batches: u64,
    seconds: f64,
    patches_per_s: f64,
    ms_per_batch: f64,
    /// Peak resident memory of the phase (loading the cases included), MB; Linux only.
    peak_rss_mb: Option<f64>,
    /// Streamed rate over the in-memory rate of the same size (on the streamed row).
    ratio_to_in_memory: Option<f64>,
}

#[derive(serde::Serialize)]
struct Report {
    source: String,
    cases: usize,
    prepare_s: f64,
    /// A prepared set's case files, MB per case, and the same cases in memory as f32.
    disk_mb_per_case: Option<f64>,
    memory_mb_per_case: Option<f64>,
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
    let split = Split::parse(&args.split)
        .ok_or_else(|| format!("--split {}: use train, val or test", args.split))?;
    let Phases {
        source,
        phases,
        disk_mb_per_case,
        memory_mb_per_case,
    } = phases(args, split)?;
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
    let mut results: Vec<Row> = Vec::new();
    let mut cases_seen = 0;
    for (name, make_cases) in &phases {
        process_memory::reset_peak();
        let cases = make_cases()?;
        cases_seen = cases.len();
        for &size in &sizes {
            results.push(measure(args, name, &cases, size, augment)?);
        }
    }
    let in_memory: Vec<(usize, f64)> = results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.loader == "in-memory")
        .map(|(i, r)| (i, r.patches_per_s))
        .collect();
    for (i, rate) in in_memory {
        let patch = results[i].patch;
        if let Some(row) = results
            .iter_mut()
            .find(|r| r.loader == "streamed" && r.patch == patch)
        {
            row.ratio_to_in_memory = Some(row.patches_per_s / rate);
        }
    }
    Ok(Report {
        source,
        cases: cases_seen,
        prepare_s,
        disk_mb_per_case,
        memory_mb_per_case,
        augmentation,
        threads_available: std::thread::available_parallelism().map_or(1, |n| n.get()),
        results,
    })
}

/// One timed loader run: `args.warmup` batches, then `args.batches` timed.
fn measure(
    args: &Args,
    name: &'static str,
    cases: &CaseSource,
    size: [usize; 3],
    augment: AugmentConfig,
) -> Result<Row, String> {
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
    Ok(Row {
        loader: name,
        patch: size,
        workers: args.workers,
        batch_size: args.batch_size,
        batches: args.batches,
        seconds,
        patches_per_s: patches / seconds,
        ms_per_batch: 1000.0 * seconds / args.batches.max(1) as f64,
        // kB / 1000, as /proc reports it (the committed raw output uses this unit).
        peak_rss_mb: process_memory::memory_bytes().map(|(peak, _)| peak as f64 / 1024.0 / 1e3),
        ratio_to_in_memory: None,
    })
}

/// A phase of the benchmark: a name and how to get its cases (made when the phase starts, so
/// the in-memory cases do not count in the streamed phase's memory).
type Phase = (&'static str, Box<dyn Fn() -> Result<CaseSource, String>>);

/// The phases to run and where their cases come from.
struct Phases {
    source: String,
    phases: Vec<Phase>,
    disk_mb_per_case: Option<f64>,
    memory_mb_per_case: Option<f64>,
}

/// The phases for `--prepared` (streamed, then in memory), `--data` or synthetic cases.
fn phases(args: &Args, split: Split) -> Result<Phases, String> {
    let prep = PreprocessConfig::default();
    let mut disk_mb_per_case = None;
    let mut memory_mb_per_case = None;
    let (source, phases): (String, Vec<Phase>) = match (&args.prepared, &args.data) {
        (Some(dir), _) => {
            let set = PreparedSet::open(dir, None).map_err(|e| e.to_string())?;
            let streamed = set.streamed(split);
            if streamed.is_empty() {
                return Err(format!("{}: no {split} cases", dir.display()));
            }
            let voxels: usize = streamed
                .iter()
                .map(|c| c.shape.iter().product::<usize>())
                .sum();
            let n = streamed.len() as f64;
            let bytes: u64 = set
                .manifest
                .cases
                .iter()
                .filter(|c| c.split == split)
                .map(|c| c.bytes)
                .sum();
            disk_mb_per_case = Some(bytes as f64 / 1e6 / n);
            memory_mb_per_case = Some(17.0 * voxels as f64 / 1e6 / n);
            let set2 = set.clone();
            (
                dir.display().to_string(),
                vec![
                    ("streamed", Box::new(move || Ok(streamed.clone().into()))),
                    (
                        "in-memory",
                        Box::new(move || {
                            set2.load(split)
                                .map(CaseSource::from)
                                .map_err(|e| e.to_string())
                        }),
                    ),
                ],
            )
        }
        (None, Some(dir)) => {
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
            let cases = ds.cases;
            (
                dir.display().to_string(),
                vec![("in-memory", Box::new(move || Ok(cases.clone().into())))],
            )
        }
        (None, None) => {
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
            (
                "synthetic 240×240×155".to_string(),
                vec![("in-memory", Box::new(move || Ok(cases.clone().into())))],
            )
        }
    };
    Ok(Phases {
        source,
        phases,
        disk_mb_per_case,
        memory_mb_per_case,
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
        "loader benchmark: {} case(s) from {}, opened or prepared in {:.2} s",
        r.cases, r.source, r.prepare_s,
    );
    if let (Some(disk), Some(memory)) = (r.disk_mb_per_case, r.memory_mb_per_case) {
        println!(
            "per case: {disk:.1} MB on disk, {memory:.1} MB in memory as f32 ({:.1} %)",
            100.0 * disk / memory
        );
    }
    println!(
        "augmentation: {}; subsets: metakd per batch; {} hardware threads",
        r.augmentation, r.threads_available
    );
    println!(
        "{:<10} {:<13} {:>7} {:>5} {:>7} {:>10} {:>10} {:>13} {:>9}",
        "loader",
        "patch",
        "workers",
        "batch",
        "batches",
        "patches/s",
        "ms/batch",
        "peak RSS MB",
        "ratio"
    );
    for row in &r.results {
        let [d, h, w] = row.patch;
        println!(
            "{:<10} {:<13} {:>7} {:>5} {:>7} {:>10.1} {:>10.1} {:>13} {:>9}",
            row.loader,
            format!("{d}x{h}x{w}"),
            row.workers,
            row.batch_size,
            row.batches,
            row.patches_per_s,
            row.ms_per_batch,
            row.peak_rss_mb.map_or("-".into(), |m| format!("{m:.0}")),
            row.ratio_to_in_memory
                .map_or("-".into(), |x| format!("{x:.2}")),
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
