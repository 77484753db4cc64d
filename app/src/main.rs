//! `metakd-viewer`: the desktop viewer. With no arguments it opens the bundled sample study;
//! with `--screenshot out.png` it renders the views without opening a window.

use clap::Parser;
use metakd_viewer::assign::{FileAssignment, Role};
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
    /// Measure opening, first frame, scrolling frame times and memory headless, then exit.
    #[arg(long)]
    bench: bool,
    /// Frames to time with --bench.
    #[arg(long, default_value_t = 200)]
    frames: usize,
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

/// The study named on the command line: a case folder or MSD Task01 image, or files that get
/// their roles from their BraTS-style names.
fn source_from_args(study: &[PathBuf]) -> Result<StudySource, String> {
    if let Some(case) = StudySource::single_case(study) {
        return Ok(case);
    }
    match study {
        [] => sample_study().map(StudySource::Folder).ok_or_else(|| {
            "no study given and no sample study found under assets/sample/".to_string()
        }),
        files => {
            let assignment = FileAssignment::new(files);
            if let Some((path, _)) = assignment
                .files
                .iter()
                .find(|(_, role)| *role == Role::Ignore)
            {
                return Err(format!(
                    "{}: cannot tell which sequence this is from its name; use BraTS names (_flair, _t1, _t1ce, _t2, _seg) or File > Open files in the viewer",
                    path.display()
                ));
            }
            assignment.to_study_files().map(StudySource::Files)
        }
    }
}

fn main() -> ExitCode {
    engine::allocator::keep_freed_memory();
    let args = Args::parse();
    let source = source_from_args(&args.study);
    if args.bench {
        return match source.and_then(|source| metakd_viewer::bench::run(&source, args.frames)) {
            Ok(report) => {
                metakd_viewer::bench::print(&report);
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{e}");
                ExitCode::from(2)
            }
        };
    }
    if let Some(out) = &args.screenshot {
        let rendered = source.and_then(|source| screenshot::render_to_png(&source, out));
        return match rendered {
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
            viewer.start_device_pick(&cc.egui_ctx);
            // A bad command line still opens the window, with the problem in the error dialog.
            match source {
                Ok(source) => viewer.start_loading(source, &cc.egui_ctx),
                Err(problem) => viewer.errors.push(problem),
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
