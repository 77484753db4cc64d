//! `metakd segment`: segments one study with any subset of its modalities and writes the BraTS
//! label map with the source image's grid and geometry.

use engine::compute::{self, Compute};
use engine::infer::{Mirror, Segmenter, Weighting};
use engine::model::file::bundled_model_path;
use engine::study::{Availability, Modality, Study, StudyFiles};
use engine::volume::write_labels;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// A BraTS case folder (2018–2021 or 2023 names) or an MSD Task01 4D image; the label map
    /// is written in the case's own label convention.
    #[arg(long, conflicts_with_all = ["flair", "t1", "t1ce", "t2"])]
    case: Option<PathBuf>,
    #[arg(long)]
    flair: Option<PathBuf>,
    #[arg(long)]
    t1: Option<PathBuf>,
    #[arg(long)]
    t1ce: Option<PathBuf>,
    #[arg(long)]
    t2: Option<PathBuf>,
    /// Modalities to leave out, e.g. `t1ce,flair`.
    #[arg(long, value_delimiter = ',')]
    drop: Vec<String>,
    /// The label map to write (.nii.gz or .nii).
    #[arg(long)]
    out: PathBuf,
    /// A model file or a run folder (default: the bundled desktop model).
    #[arg(long)]
    model: Option<PathBuf>,
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
    /// Also run the windows that hold no brain voxel (skipped by default: their voxels are
    /// background either way).
    #[arg(long)]
    all_windows: bool,
    /// How overlapping windows are combined.
    #[arg(long, value_parser = ["gaussian", "uniform"], default_value = "gaussian")]
    weighting: String,
    /// Window size D,H,W (default: the model's training patch).
    #[arg(long, value_delimiter = ',')]
    window: Vec<usize>,
    /// Windows sent through the network at once (more keeps a GPU busy; same result).
    #[arg(long, default_value_t = 4)]
    batch: usize,
    #[arg(long, value_parser = ["cpu", "wgpu"], default_value = "cpu")]
    compute: String,
}

/// Parses `--drop` into the modalities kept.
pub fn kept_modalities(drop: &[String]) -> Result<Availability, String> {
    let mut kept = Availability::FULL;
    for name in drop {
        let m = Modality::parse(name)
            .ok_or_else(|| format!("--drop: `{name}` is not one of flair, t1, t1ce, t2"))?;
        kept = kept.without(m);
    }
    if kept.is_empty() {
        return Err("--drop leaves no modality; keep at least one".into());
    }
    Ok(kept)
}

fn open_study(args: &Args) -> Result<Study, String> {
    if let Some(dir) = &args.case {
        return Study::open_folder(dir).map_err(|e| e.to_string());
    }
    let files = StudyFiles {
        name: "study".into(),
        modalities: [
            args.flair.clone(),
            args.t1.clone(),
            args.t1ce.clone(),
            args.t2.clone(),
        ],
        labels: None,
        ..StudyFiles::default()
    };
    if files.modalities.iter().all(Option::is_none) {
        return Err("give --case DIR or at least one of --flair/--t1/--t1ce/--t2".into());
    }
    Study::open_files(&files).map_err(|e| e.to_string())
}

fn segment(args: &Args) -> Result<(), String> {
    let kept = kept_modalities(&args.drop)?;
    let study = open_study(args)?;
    let device = compute::device(Compute::parse(&args.compute).expect("clap checked"))?;
    let model_path = args.model.clone().unwrap_or_else(bundled_model_path);
    let mut segmenter = Segmenter::open(&model_path, &device).map_err(|e| e.to_string())?;
    segmenter.config.overlap = args.overlap;
    segmenter.config.mirror = args.mirror;
    segmenter.config.batch = args.batch;
    segmenter.config.skip_background = !args.all_windows;
    if args.no_postprocess {
        segmenter.config.postprocess = None;
    }
    segmenter.config.weighting = match args.weighting.as_str() {
        "uniform" => Weighting::Uniform,
        _ => Weighting::Gaussian,
    };
    if !args.window.is_empty() {
        let w: [usize; 3] = args
            .window
            .clone()
            .try_into()
            .map_err(|_| "--window needs three sizes D,H,W".to_string())?;
        segmenter.config.window = Some(w);
    }
    let started = Instant::now();
    let labels = segmenter
        .segment(&study, kept, &mut |done, total| {
            eprint!("\rwindow {done}/{total}");
            true
        })
        .map_err(|e| e.to_string())?;
    eprintln!();
    write_labels(&args.out, &labels, study.reference()).map_err(|e| e.to_string())?;
    let used = kept.intersection(study.available());
    eprintln!(
        "{}: labels of {} from {} in {:.1} s",
        args.out.display(),
        study.name,
        used.label(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub fn run(args: Args) -> ExitCode {
    match segment(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
