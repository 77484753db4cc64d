//! `metakd montage`: renders a case's FLAIR, T1, T1ce, T2 and label overlay in axial, coronal and
//! sagittal planes through the tumour centre to one PNG.

use engine::render::montage::{render, MontageOptions};
use engine::study::Study;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    /// The case folder (BraTS 2018–2021 or 2023+ file names).
    #[arg(long)]
    case: PathBuf,
    /// The PNG to write.
    #[arg(long)]
    out: PathBuf,
    /// Output pixels per millimetre.
    #[arg(long, default_value_t = 1.0)]
    scale: f64,
    /// Show patient left on the screen's left (default: radiological, patient right on the left).
    #[arg(long)]
    neurological: bool,
}

pub fn run(args: Args) -> ExitCode {
    if !(args.scale > 0.0 && args.scale <= 8.0) {
        eprintln!("error: --scale must be in (0, 8], got {}", args.scale);
        return ExitCode::FAILURE;
    }
    let study = match Study::open_folder(&args.case) {
        Ok(study) => study,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let options = MontageOptions {
        pixels_per_mm: args.scale,
        radiological: !args.neurological,
        ..MontageOptions::default()
    };
    let image = render(&study, &options);
    if let Err(e) = image.save_with_format(&args.out, image::ImageFormat::Png) {
        eprintln!("error: {}: cannot write the PNG: {e}", args.out.display());
        return ExitCode::FAILURE;
    }
    eprintln!(
        "{}: {}×{} montage of {}",
        args.out.display(),
        image.width(),
        image.height(),
        study.name
    );
    ExitCode::SUCCESS
}
