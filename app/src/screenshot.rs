//! `metakd-viewer --screenshot out.png`: renders the viewer headless (wgpu, software adapters
//! included) exactly as a window would show it, and saves the picture as PNG.

use crate::loading::StudySource;
use crate::recent::RecentStudies;
use crate::viewer::Viewer;
use std::path::Path;

/// Size of the rendered picture in points (1 point = 1 pixel).
pub const SCREENSHOT_SIZE: [f32; 2] = [1400.0, 860.0];

/// Opens `source`, renders one settled frame and writes it to `out`.
pub fn render_to_png(source: &StudySource, out: &Path) -> Result<(), String> {
    let mut viewer = Viewer::new(RecentStudies::default());
    viewer.open_now(source);
    if let Some(error) = viewer.errors.first() {
        return Err(error.clone());
    }
    let mut harness = egui_kittest::Harness::builder()
        .with_size(egui::Vec2::from(SCREENSHOT_SIZE))
        .wgpu()
        .build_ui_state(|ui, viewer: &mut Viewer| viewer.ui(ui), viewer);
    harness.run_steps(3);
    let image = harness.render().map_err(|e| {
        format!("cannot render the views (is a Vulkan or GL driver installed?): {e}")
    })?;
    image
        .save(out)
        .map_err(|e| format!("{}: cannot save the screenshot: {e}", out.display()))
}
