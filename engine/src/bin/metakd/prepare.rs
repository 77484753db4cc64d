//! `metakd prepare`: preprocesses a data set folder once into a prepared set on disk (one
//! chunked `.mkdp` file per case and `manifest.json`, see `engine::data::prepared`), which
//! `metakd train`, `metakd experiment` and the viewer's Train ▸ New training stream from.
//! Parallel, with a progress bar; a killed run continues where it stopped.

use engine::data::cases::CaseList;
use engine::data::error::OnBadCase;
use engine::data::prepared::{prepare_dataset, PrepareEvent, PrepareSettings};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// Data set folder: one sub-folder per case (BraTS 2018–2021 or 2023 names), an MSD
    /// Task01 folder, or a folder with a cases.csv.
    #[arg(long)]
    data: PathBuf,
    /// Output folder of the prepared set (created if missing; an earlier, unfinished or
    /// outdated preparation there is continued).
    #[arg(long)]
    out: PathBuf,
    /// Worker threads (0: one per core).
    #[arg(long, default_value_t = 0)]
    workers: usize,
    /// Stop without writing a manifest when any case cannot be prepared (default: skip it
    /// and list it).
    #[arg(long)]
    strict: bool,
}

pub fn run(args: Args) -> ExitCode {
    let (list, earlier) = match CaseList::open(&args.data) {
        Ok(found) => found,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let bar = ProgressBar::new(list.cases.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} cases  {per_sec}  ETA {eta}  {msg}")
            .expect("valid progress template"),
    );
    let say = |line: String| crate::print_above(&bar, line);
    let (prepared, kept) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let seconds = AtomicU64::new(0);
    let on_event = |e: PrepareEvent| match e {
        PrepareEvent::Started { dir, cases } => {
            say(format!("preparing {cases} cases into {}", dir.display()));
        }
        PrepareEvent::Prepared {
            name, seconds: s, ..
        } => {
            prepared.fetch_add(1, Ordering::SeqCst);
            seconds.fetch_add((s * 1e6) as u64, Ordering::SeqCst);
            bar.set_message(name);
            bar.inc(1);
        }
        PrepareEvent::Kept { name } => {
            kept.fetch_add(1, Ordering::SeqCst);
            bar.set_message(format!("{name} (up to date)"));
            bar.inc(1);
        }
        PrepareEvent::Failed { problem } => {
            say(format!("skipped: {problem}"));
            bar.inc(1);
        }
        PrepareEvent::Waiting { dir } => say(format!(
            "another metakd is preparing into {}; waiting for it to finish",
            dir.display()
        )),
    };
    let on_bad = if args.strict {
        OnBadCase::Stop
    } else {
        OnBadCase::Skip
    };
    let start = Instant::now();
    let settings = PrepareSettings::training();
    let result = prepare_dataset(
        &list,
        &earlier,
        &settings,
        &args.out,
        args.workers,
        on_bad,
        &on_event,
    );
    bar.finish_and_clear();
    match result {
        Ok(set) => {
            let cases = set.manifest.cases.len();
            let voxels: usize = set
                .manifest
                .cases
                .iter()
                .map(|c| c.shape.iter().product::<usize>())
                .sum();
            let bytes = set.bytes();
            // What the same cases take in memory: 4 f32 channels and a region byte per voxel.
            let in_memory = 17 * voxels as u64;
            let done = prepared.load(Ordering::SeqCst);
            let per_case = seconds.load(Ordering::SeqCst) as f64 / 1e6 / done.max(1) as f64;
            println!(
                "{cases} cases in {} ({} prepared, {} up to date, {} skipped) in {:.1} s",
                set.dir.display(),
                done,
                kept.load(Ordering::SeqCst),
                set.manifest.problems.len(),
                start.elapsed().as_secs_f64()
            );
            println!(
                "on disk {:.1} MB ({:.1} MB per case, {:.1} % of the {:.1} MB they take in memory as f32); {per_case:.2} s per prepared case on one worker",
                bytes as f64 / 1e6,
                bytes as f64 / 1e6 / cases.max(1) as f64,
                100.0 * bytes as f64 / in_memory.max(1) as f64,
                in_memory as f64 / 1e6,
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
