//! `metakd-viewer --bench`: opening time, time to the first rendered frame, frame time while
//! scrolling axial slices (p50/p95), and resident memory with the study open. Frames are drawn
//! headless by the same wgpu renderer a window uses (software Vulkan here), and each timed frame
//! includes reading the picture back, which a window does not do: the render figure is an
//! upper bound of what a window costs.

use crate::loading::StudySource;
use crate::recent::RecentStudies;
use crate::screenshot::SCREENSHOT_SIZE;
use crate::viewer::Viewer;
use engine::volume::Plane;
use std::time::Instant;

/// Frame-time percentiles in milliseconds.
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
}

pub struct Report {
    pub open_ms: f64,
    pub first_frame_ms: f64,
    /// UI pass only (layout, slice composition, texture upload, tessellation).
    pub ui: Percentiles,
    /// UI pass plus GPU rendering and read-back of the whole window.
    pub ui_and_render: Percentiles,
    pub resident_mb: Option<f64>,
    pub frames: usize,
}

fn percentiles(mut ms: Vec<f64>) -> Percentiles {
    ms.sort_by(f64::total_cmp);
    let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
    Percentiles {
        p50: at(0.5),
        p95: at(0.95),
    }
}

fn resident_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace()
        .nth(1)?
        .parse::<f64>()
        .ok()
        .map(|kb| kb / 1024.0)
}

/// Opens `source` and scrolls through `frames` axial slices, back and forth.
pub fn run(source: &StudySource, frames: usize) -> Result<Report, String> {
    let start = Instant::now();
    let mut viewer = Viewer::new(RecentStudies::default());
    viewer.open_now(source);
    if let Some(error) = viewer.errors.first() {
        return Err(error.clone());
    }
    let open_ms = start.elapsed().as_secs_f64() * 1000.0;
    let mut harness = egui_kittest::Harness::builder()
        .with_size(egui::Vec2::from(SCREENSHOT_SIZE))
        .wgpu()
        .build_ui_state(|ui, viewer: &mut Viewer| viewer.ui(ui), viewer);
    harness.step();
    harness
        .render()
        .map_err(|e| format!("cannot render: {e}"))?;
    let first_frame_ms = start.elapsed().as_secs_f64() * 1000.0;

    let frames = frames.max(2);
    let (mut ui_ms, mut total_ms) = (Vec::with_capacity(frames), Vec::with_capacity(frames));
    let mut direction = 1;
    for _ in 0..frames {
        let viewer = harness.state_mut();
        let (Some(open), Some(view)) = (&viewer.open, &mut viewer.view) else {
            return Err("the study closed during the benchmark".into());
        };
        let axial = view.cursor[2];
        if axial == 0 || axial + 1 >= open.orientation.slice_count(Plane::Axial) {
            direction = -direction;
        }
        view.step_slice(Plane::Axial, direction, &open.orientation);
        let t = Instant::now();
        harness.step();
        ui_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        harness
            .render()
            .map_err(|e| format!("cannot render: {e}"))?;
        total_ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(Report {
        open_ms,
        first_frame_ms,
        ui: percentiles(ui_ms),
        ui_and_render: percentiles(total_ms),
        resident_mb: resident_mb(),
        frames,
    })
}

pub fn print(report: &Report) {
    println!("open study            {:>8.1} ms", report.open_ms);
    println!(
        "first frame           {:>8.1} ms (from start, study included)",
        report.first_frame_ms
    );
    println!(
        "scroll, UI pass       p50 {:>6.2} ms  p95 {:>6.2} ms  ({} frames)",
        report.ui.p50, report.ui.p95, report.frames
    );
    println!(
        "scroll, UI + render   p50 {:>6.2} ms  p95 {:>6.2} ms  (render includes read-back)",
        report.ui_and_render.p50, report.ui_and_render.p95
    );
    if let Some(mb) = report.resident_mb {
        println!("resident memory       {mb:>8.1} MB with the study open");
    }
}
