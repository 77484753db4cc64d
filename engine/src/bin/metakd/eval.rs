//! `metakd eval`: segments every case of a split with each of the 15 modality subsets and
//! writes the evaluation table (Dice and HD95 per region, per subset, and the average) as
//! Markdown, CSV and JSON. With `--out`, each case's results are kept in `OUT/cases/` as
//! soon as it is done, and `--resume` reuses those an interrupted run left (same model,
//! subsets and settings), so a long evaluation loses at most the case it was on.

use engine::compute::{self, Compute};
use engine::data::cases::Split;
use engine::infer::eval::{evaluate_case, load_cases, table_of, CaseMetrics};
use engine::infer::{Mirror, Segmenter};
use engine::metrics::RegionMetrics;
use engine::model::file::{bundled_model_path, model_file_in};
use engine::study::{Availability, Modality};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// A model file or a run folder (default: the bundled desktop model).
    #[arg(long)]
    model: Option<PathBuf>,
    /// The data set folder.
    #[arg(long)]
    data: PathBuf,
    /// Which split to evaluate.
    #[arg(long, value_parser = ["train", "val", "test"], default_value = "test")]
    split: String,
    /// Evaluate only the first N cases of the split.
    #[arg(long)]
    limit: Option<usize>,
    /// Folder for eval.md, eval.csv and eval.json, and each case's results in cases/ (default:
    /// print the Markdown table).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Reuse the cases an interrupted run with the same model, subsets and settings left in
    /// OUT/cases/ instead of segmenting them again.
    #[arg(long, requires = "out")]
    resume: bool,
    /// Fraction of each window shared with the next.
    #[arg(long, default_value_t = 0.5)]
    overlap: f64,
    /// Keep small components and tiny enhancing cores (no post-processing).
    #[arg(long)]
    no_postprocess: bool,
    /// Test-time mirroring: also run each window mirrored along x (2 passes) or every
    /// combination of x, y and z (8 passes), and average; more time per pass.
    #[arg(long, value_enum, default_value_t = Mirror::Off)]
    mirror: Mirror,
    #[arg(long, value_parser = ["cpu", "wgpu"], default_value = "cpu")]
    compute: String,
    /// Evaluate only these modality subsets, comma-separated, each a `+`-joined list (e.g.
    /// `flair+t1+t1ce+t2,flair+t1ce`); default: all 15.
    #[arg(long, value_delimiter = ',')]
    subsets: Vec<String>,
}

/// The subsets of `--subsets` (all 15 when it is empty).
fn chosen_subsets(names: &[String]) -> Result<Vec<Availability>, String> {
    if names.is_empty() {
        return Ok(Availability::all_subsets());
    }
    names
        .iter()
        .map(|subset| {
            subset
                .split('+')
                .map(|name| {
                    Modality::parse(name.trim()).ok_or_else(|| {
                        format!("--subsets: `{name}` is not a modality; use flair, t1, t1ce or t2")
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Availability::from_modalities)
        })
        .collect()
}

fn eval(args: &Args) -> Result<(), String> {
    let device = compute::device(Compute::parse(&args.compute).expect("clap checked"))?;
    let model_path = args.model.clone().unwrap_or_else(bundled_model_path);
    let mut segmenter = Segmenter::open(&model_path, &device).map_err(|e| e.to_string())?;
    segmenter.config.overlap = args.overlap;
    segmenter.config.mirror = args.mirror;
    if args.no_postprocess {
        segmenter.config.postprocess = None;
    }
    let split = Split::parse(&args.split).expect("clap checked the split");
    let (cases, problems) = load_cases(&args.data, split, args.limit, &segmenter)?;
    for p in problems {
        eprintln!("skipped: {p}");
    }
    let subsets = chosen_subsets(&args.subsets)?;
    let started = Instant::now();
    let settings = settings_of(&model_path, &subsets, &args.compute, &segmenter)?;
    let kept_dir = args.out.as_ref().map(|dir| dir.join("cases"));
    if let Some(dir) = &kept_dir {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
    }
    let total = cases.len() * subsets.len();
    let mut scored = Vec::with_capacity(cases.len());
    for (i, case) in cases.iter().enumerate() {
        let name = case.case.name.clone();
        let kept = kept_dir
            .as_ref()
            .map(|dir| dir.join(format!("{name}.json")));
        if let Some(path) = kept.as_ref().filter(|p| args.resume && p.exists()) {
            scored.push((name, read_kept(path, &settings, subsets.len())?));
            eprintln!("\rkept from {}", path.display());
            continue;
        }
        let before = i * subsets.len();
        let metrics = evaluate_case(&segmenter, case, &subsets, &mut |done| {
            eprint!("\rsegmentation {}/{total}", before + done);
            true
        })
        .map_err(|e| e.to_string())?;
        let record = CaseMetrics {
            case: name,
            settings: settings.clone(),
            metrics,
        };
        if let Some(path) = &kept {
            write_kept(path, &record)?;
        }
        scored.push((record.case, record.metrics));
    }
    let table = table_of(&model_path.display().to_string(), &subsets, scored);
    eprintln!(
        "\n{} cases × {} subsets in {:.1} s",
        cases.len(),
        subsets.len(),
        started.elapsed().as_secs_f64()
    );
    match &args.out {
        None => print!("{}", table.to_markdown()),
        Some(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            let json = serde_json::to_string_pretty(&table).expect("table serialises");
            for (name, text) in [
                ("eval.md", table.to_markdown()),
                ("eval.csv", table.to_csv()),
                ("eval.json", json),
            ] {
                let path = dir.join(name);
                engine::atomic_file::write(&path, text.as_bytes())
                    .map_err(|e| format!("{}: cannot write: {e}", path.display()))?;
            }
            print!("{}", table.to_markdown());
            eprintln!("wrote eval.md, eval.csv and eval.json to {}", dir.display());
        }
    }
    Ok(())
}

/// What produced an evaluation's numbers: the model (its bytes' xxh3), the subsets, the
/// device kind and the inference settings. A resumed evaluation reuses only results made
/// under the same.
fn settings_of(
    model: &Path,
    subsets: &[Availability],
    compute: &str,
    segmenter: &Segmenter,
) -> Result<String, String> {
    let file = model_file_in(model);
    let bytes =
        std::fs::read(&file).map_err(|e| format!("{}: cannot read: {e}", file.display()))?;
    let subsets: Vec<String> = subsets.iter().map(|s| s.label()).collect();
    Ok(format!(
        "model {} (xxh3 {:016x}); subsets {}; compute {compute}; {:?}",
        model.display(),
        xxhash_rust::xxh3::xxh3_64(&bytes),
        subsets.join(","),
        segmenter.config
    ))
}

/// A case's results kept by an earlier run, if made with `settings`.
fn read_kept(
    path: &Path,
    settings: &str,
    subsets: usize,
) -> Result<Vec<[RegionMetrics; 3]>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let kept: CaseMetrics = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}: not a case's kept results ({e}); delete it to segment the case again",
            path.display()
        )
    })?;
    if kept.settings != settings || kept.metrics.len() != subsets {
        return Err(format!(
            "{}: made with other settings ({}), not these ({settings}); run without --resume, or with --out elsewhere",
            path.display(),
            kept.settings
        ));
    }
    Ok(kept.metrics)
}

fn write_kept(path: &Path, record: &CaseMetrics) -> Result<(), String> {
    let json = serde_json::to_string_pretty(record)
        .map_err(|e| format!("{}: cannot encode the case's results: {e}", path.display()))?;
    engine::atomic_file::write(path, json.as_bytes())
        .map_err(|e| format!("{}: cannot write: {e}", path.display()))
}

pub fn run(args: Args) -> ExitCode {
    match eval(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
