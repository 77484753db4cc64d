//! `metakd-viewer`: the desktop viewer. With no arguments it opens the bundled sample study;
//! with `--screenshot out.png` it renders the views without opening a window.

use clap::Parser;
use metakd_viewer::loading::StudySource;
use metakd_viewer::{recent, screenshot, viewer};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "metakd-viewer",
    version,
    about = "Brain-tumour MRI viewer that keeps working when sequences are missing"
)]
struct Args {
    /// A BraTS case folder, or the NIfTI files of one study (roles guessed from the names).
    /// Default: the bundled sample study.
    study: Vec<PathBuf>,
    /// Render the views to this PNG file and exit, without opening a window.
    #[arg(long, value_name = "PNG")]
    screenshot: Option<PathBuf>,
}

/// The bundled sample study: the first case folder under `assets/sample/`.
fn sample_study() -> Option<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/sample");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    cases.into_iter().next()
}

fn source_from_args(study: &[PathBuf]) -> Option<StudySource> {
    match study {
        [] => sample_study().map(StudySource::Folder),
        [one] if one.is_dir() => Some(StudySource::Folder(one.clone())),
        files => Some(StudySource::Files(viewer::files_by_name(files))),
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let source = source_from_args(&args.study);
    if let Some(out) = &args.screenshot {
        let Some(source) = source else {
            eprintln!("no study given and no sample study found under assets/sample/");
            return ExitCode::from(2);
        };
        return match screenshot::render_to_png(&source, out) {
            Ok(()) => {
                println!("wrote {}", out.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        };
    }
    let options = eframe::NativeOptions {
        viewport: egui::ViewportBuilder::default()
            .with_inner_size([1400.0, 860.0])
            .with_title("MetaKD viewer")
            .with_drag_and_drop(true),
        ..Default::default()
    };
    let result = eframe::run_native(
        "MetaKD viewer",
        options,
        Box::new(move |cc| {
            let mut viewer = viewer::Viewer::new(recent::RecentStudies::load_default());
            if let Some(source) = source {
                viewer.start_loading(source, &cc.egui_ctx);
            }
            Ok(Box::new(viewer))
        }),
    );
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cannot open the viewer window: {e}. Try `metakd-viewer --screenshot out.png` on machines without a display.");
            ExitCode::FAILURE
        }
    }
}
