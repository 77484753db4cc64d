//! `metakd phantom`: writes synthetic BraTS-like cases in the BraTS 2018–2021 layout
//! (`DIR/<case>/<case>_{flair,t1,t1ce,t2,seg}.nii.gz`) plus `DIR/cases.csv` (case, split).

use engine::phantom::{
    write_dataset, AnatomySource, PhantomConfig, PhantomSize, TumourModel, WrittenCase,
};
use engine::study::LabelConvention;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

#[derive(clap::Args)]
pub struct Args {
    /// Output folder (created if missing).
    #[arg(long)]
    out: PathBuf,
    /// Number of cases.
    #[arg(long, default_value_t = 10)]
    cases: usize,
    /// Seed: the same seed writes byte-identical files.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Grid: `brats` (240×240×155, 1 mm) or `small` (96×96×64, 2.5 mm, same field of view).
    #[arg(long, value_enum, default_value_t = Size::Brats)]
    size: Size,
    /// Label values and file names: 2021 (1 NCR, 2 ED, 4 ET; `_flair` … names) or 2023 (ET = 3;
    /// `-t2f` … names).
    #[arg(long, value_enum, default_value_t = Labels::L2021)]
    labels: Labels,
    /// Domain randomisation: every case its own tissue contrasts, bias field, noise, slice
    /// thickness, blur, gamma, ghosting, and int16 or z-scored float storage (docs/phantoms.md).
    #[arg(long)]
    randomise: bool,
    /// Normal anatomy: `procedural` (shapes and noise, different in every case) or `template`
    /// (the ICBM 2009a template's real brain, placed and warped per case; docs/phantoms.md).
    #[arg(long, value_enum, default_value_t = Anatomy::Procedural)]
    anatomy: Anatomy,
    /// Tumours: `ellipsoid` (nested noise-deformed ellipsoids, 0–2 per case; the data sets
    /// made so far) or `grown` (grown along white matter by front propagation, irregular
    /// necrosis, 0–3 per case, small to large; docs/phantoms.md).
    #[arg(long, value_enum, default_value_t = Tumours::Ellipsoid)]
    tumours: Tumours,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Tumours {
    Ellipsoid,
    Grown,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Anatomy {
    Procedural,
    Template,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Size {
    Small,
    Brats,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Labels {
    #[value(name = "2021")]
    L2021,
    #[value(name = "2023")]
    L2023,
}

pub fn run(args: Args) -> ExitCode {
    let config = PhantomConfig {
        size: match args.size {
            Size::Small => PhantomSize::Small,
            Size::Brats => PhantomSize::Brats,
        },
        convention: match args.labels {
            Labels::L2021 => LabelConvention::Brats2021,
            Labels::L2023 => LabelConvention::Brats2023,
        },
        randomise: args.randomise,
        anatomy: match args.anatomy {
            Anatomy::Procedural => AnatomySource::Procedural,
            Anatomy::Template => AnatomySource::Template,
        },
        tumours: match args.tumours {
            Tumours::Ellipsoid => TumourModel::Ellipsoid,
            Tumours::Grown => TumourModel::Grown,
        },
    };
    let start = Instant::now();
    let progress = |case: &WrittenCase| {
        eprintln!(
            "{} ({}, {} lesion{}) → {}",
            case.name,
            case.split.name(),
            case.lesions,
            if case.lesions == 1 { "" } else { "s" },
            case.dir.display()
        );
    };
    match write_dataset(&args.out, args.cases, args.seed, &config, &progress) {
        Ok(cases) => {
            let seconds = start.elapsed().as_secs_f64();
            eprintln!(
                "wrote {} case{} and {} in {seconds:.1} s ({:.2} s per case)",
                cases.len(),
                if cases.len() == 1 { "" } else { "s" },
                args.out.join("cases.csv").display(),
                seconds / cases.len().max(1) as f64
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
