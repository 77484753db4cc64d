//! `metakd bench load`: how long opening a four-modality study takes and how much memory it
//! needs, next to nibabel loading the same files (`nib.load(f).get_fdata()` for each) measured
//! in the same run.

use clap::Args as ClapArgs;
use engine::study::{discover_case_files, Study};
use serde::Serialize;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::Instant;

#[derive(ClapArgs)]
pub struct Args {
    /// A BraTS case folder (e.g. one written by `metakd phantom --size brats`).
    #[arg(long)]
    case: PathBuf,
    /// Timed repetitions for each reader; the best and the median are reported.
    #[arg(long, default_value_t = 5)]
    repeat: usize,
    /// Python interpreter with nibabel installed (skipped with a note when missing).
    #[arg(long, default_value = "python3")]
    python: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct Report {
    case: String,
    files: usize,
    decoded_f32_mb: f64,
    ours_best_ms: f64,
    ours_median_ms: f64,
    ours_peak_mb: f64,
    peak_over_decoded: f64,
    nibabel_best_ms: Option<f64>,
    nibabel_median_ms: Option<f64>,
    speedup_vs_nibabel: Option<f64>,
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

const NIBABEL_SCRIPT: &str = r#"
import sys, time
import nibabel as nib
files, repeat = sys.argv[2:], int(sys.argv[1])
times = []
for _ in range(repeat):
    t = time.perf_counter()
    for f in files:
        nib.load(f).get_fdata()
    times.append((time.perf_counter() - t) * 1000)
print(" ".join(str(x) for x in times))
"#;

fn nibabel_times(python: &str, files: &[PathBuf], repeat: usize) -> Result<Vec<f64>, String> {
    let output = Command::new(python)
        .arg("-c")
        .arg(NIBABEL_SCRIPT)
        .arg(repeat.to_string())
        .args(files)
        .output()
        .map_err(|e| format!("cannot start {python}: {e}"))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "nibabel run failed: {}",
            stderr.lines().last().unwrap_or("")
        ));
    }
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .map(|t| {
            t.parse::<f64>()
                .map_err(|e| format!("unexpected nibabel output: {e}"))
        })
        .collect()
}

pub fn run(args: Args) -> ExitCode {
    match measure(&args) {
        Ok(report) => {
            if args.json {
                match serde_json::to_string_pretty(&report) {
                    Ok(text) => println!("{text}"),
                    Err(e) => {
                        eprintln!("cannot encode JSON: {e}");
                        return ExitCode::from(2);
                    }
                }
            } else {
                print_table(&report);
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}

fn measure(args: &Args) -> Result<Report, String> {
    let files = discover_case_files(&args.case).map_err(|e| e.to_string())?;
    let paths: Vec<PathBuf> = files.modalities.iter().flatten().cloned().collect();
    let modalities_only = engine::study::StudyFiles {
        labels: None,
        ..files.clone()
    };
    let repeat = args.repeat.max(1);

    // First load in this fresh process: its memory high-water mark over the baseline.
    let (_, baseline) = crate::process_memory::memory_bytes().unwrap_or((0, 0));
    let study = Study::open_files(&modalities_only).map_err(|e| e.to_string())?;
    let (peak, _) = crate::process_memory::memory_bytes().unwrap_or((0, 0));
    let decoded: usize = study
        .modalities
        .iter()
        .flatten()
        .map(|v| v.data.len() * 4)
        .sum();
    drop(study);

    let mut ours = Vec::with_capacity(repeat);
    for _ in 0..repeat {
        let start = Instant::now();
        let study = Study::open_files(&modalities_only).map_err(|e| e.to_string())?;
        ours.push(start.elapsed().as_secs_f64() * 1000.0);
        drop(study);
    }
    let nibabel = match nibabel_times(&args.python, &paths, repeat) {
        Ok(times) if !times.is_empty() => Some(times),
        Ok(_) => None,
        Err(note) => {
            eprintln!("note: nibabel not measured: {note}");
            None
        }
    };
    let mb = |b: f64| b / 1e6;
    let ours_best = ours.iter().copied().fold(f64::INFINITY, f64::min);
    let nibabel_best = nibabel
        .as_ref()
        .map(|t| t.iter().copied().fold(f64::INFINITY, f64::min));
    let peak_bytes = peak.saturating_sub(baseline) as f64;
    Ok(Report {
        case: args.case.display().to_string(),
        files: paths.len(),
        decoded_f32_mb: mb(decoded as f64),
        ours_best_ms: ours_best,
        ours_median_ms: median(ours),
        ours_peak_mb: mb(peak_bytes),
        peak_over_decoded: peak_bytes / decoded.max(1) as f64,
        nibabel_best_ms: nibabel_best,
        nibabel_median_ms: nibabel.map(median),
        speedup_vs_nibabel: nibabel_best.map(|n| n / ours_best),
    })
}

fn print_table(r: &Report) {
    println!(
        "study load: {} ({} files, {:.1} MB as f32)",
        r.case, r.files, r.decoded_f32_mb
    );
    println!("{:<28} {:>10} {:>10}", "reader", "best ms", "median ms");
    println!(
        "{:<28} {:>10.1} {:>10.1}",
        "metakd (parallel, f32)", r.ours_best_ms, r.ours_median_ms
    );
    if let (Some(best), Some(median)) = (r.nibabel_best_ms, r.nibabel_median_ms) {
        println!(
            "{:<28} {:>10.1} {:>10.1}",
            "nibabel get_fdata (f64)", best, median
        );
    }
    if let Some(s) = r.speedup_vs_nibabel {
        println!("speed-up vs nibabel: {s:.2}x (goal >= 2x)");
    }
    println!(
        "peak memory of one load: {:.1} MB = {:.2}x the decoded f32 data (goal <= 1.5x)",
        r.ours_peak_mb, r.peak_over_decoded
    );
}
