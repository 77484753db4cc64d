//! The viewer application: menus, side panel, status bar and the view area, wired to the
//! study loader. It renders state and delegates: slices to `slice_view`, loading to `loading`.

use crate::assign::{Decision, FileAssignment};
use crate::compare_panel::{CompareAction, ComparePanel};
use crate::loading::{LoadJob, StudySource};
use crate::recent::RecentStudies;
use crate::segment_panel::{SegmentAction, SegmentPanel};
use crate::segmenting::{DevicePick, ModelChoice, SegmentJob};
use crate::slice_view::{self, SliceCache, Slot};
use crate::state::{Layout, OpenStudy, TumourClass, ViewState};
use crate::train_panel::{TrainAction, TrainPanel};
use egui::{Key, Modifiers, Rect, Vec2};
use engine::study::{Modality, Region};
use engine::volume::Plane;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{channel, Receiver};
use std::sync::Arc;

/// The status line while [`Viewer::start_device_pick`] runs.
pub const DEVICE_PICK_STATUS: &str =
    "Choosing the faster device for Segment and preparing its kernels in the background…";

pub struct Viewer {
    pub open: Option<OpenStudy>,
    pub view: Option<ViewState>,
    loading: Option<LoadJob>,
    /// Error messages waiting to be acknowledged in the error dialog.
    pub errors: Vec<String>,
    /// One-line feedback shown in the status bar (saved files and the like).
    pub notice: Option<String>,
    /// The plane that receives keyboard slice stepping.
    pub focus: Plane,
    caches: HashMap<(Plane, Modality, Option<usize>), SliceCache>,
    /// Bumped whenever the open study changes, so cached textures are rebuilt.
    generation: u64,
    recent: RecentStudies,
    /// Where to save a screenshot once the renderer delivers it.
    /// Files picked or dropped, waiting for their roles to be confirmed.
    pub assigning: Option<FileAssignment>,
    /// Where to save a screenshot, and the channel the renderer delivers it on.
    pending_screenshot: Option<(PathBuf, Receiver<Arc<egui::ColorImage>>)>,
    /// The side panel's Segment section: model, device and the running segmentation.
    pub segment: SegmentPanel,
    /// The "Compare across dropouts" window and its results.
    pub compare: ComparePanel,
    /// The "Training" window and its run.
    pub train: TrainPanel,
    /// The window title last sent to the platform.
    sent_title: String,
    /// The faster device being chosen and prepared in the background at start-up (see
    /// [`Viewer::start_device_pick`]).
    pub device_pick: Option<DevicePick>,
    /// Where that choice is kept between starts (`engine::infer::device_choice`).
    pub device_choice_cache: Option<PathBuf>,
}

impl Viewer {
    pub fn new(recent: RecentStudies) -> Viewer {
        Viewer {
            open: None,
            view: None,
            loading: None,
            errors: Vec::new(),
            notice: None,
            sent_title: String::new(),
            device_pick: None,
            device_choice_cache: engine::infer::device_choice::default_cache_file(),
            focus: Plane::Axial,
            caches: HashMap::new(),
            generation: 0,
            recent,
            pending_screenshot: None,
            assigning: None,
            segment: SegmentPanel::default(),
            compare: ComparePanel::default(),
            train: TrainPanel::default(),
        }
    }

    /// Starts opening a study in the background; what is open stays until it succeeds.
    pub fn start_loading(&mut self, source: StudySource, ctx: &egui::Context) {
        self.loading = Some(LoadJob::spawn(source, ctx.clone()));
    }

    /// Opens a study on the calling thread (screenshots, tests).
    pub fn open_now(&mut self, source: &StudySource) {
        match source.open() {
            Ok(open) => self.install(open, source),
            Err(e) => self.errors.push(e),
        }
    }

    pub fn is_loading(&self) -> bool {
        self.loading.is_some()
    }

    /// The window title: the open case, its file layout and its label convention.
    pub fn window_title(&self) -> String {
        match &self.open {
            None => "MetaKD viewer".into(),
            Some(open) => {
                let study = &open.study;
                let labels = match &study.labels {
                    Some(_) => study.convention.name(),
                    None => "no labels",
                };
                let intensities = if open.background == 0.0 {
                    String::new()
                } else {
                    format!(", background {:.3} (already normalised)", open.background)
                };
                format!(
                    "{} — {}{intensities}, {labels} — MetaKD viewer",
                    study.name,
                    study.layout.name(),
                )
            }
        }
    }

    fn update_window_title(&mut self, ctx: &egui::Context) {
        let title = self.window_title();
        if title != self.sent_title {
            ctx.send_viewport_cmd(egui::ViewportCommand::Title(title.clone()));
            self.sent_title = title;
        }
    }

    /// Shows an already prepared study (replacing the open one).
    pub fn show_study(&mut self, open: OpenStudy) {
        self.compare.reset();
        self.view = Some(ViewState::for_study(&open));
        self.open = Some(open);
        self.caches.clear();
        self.generation += 1;
    }

    fn install(&mut self, open: OpenStudy, source: &StudySource) {
        self.show_study(open);
        if let StudySource::Folder(dir) = source {
            if let Err(e) = self.recent.remember(dir) {
                self.notice = Some(e);
            }
        }
    }

    /// Closes the study and frees its memory (a running segmentation of it is cancelled).
    pub fn close_study(&mut self) {
        if let Some(job) = self.segment.job.take() {
            job.cancel();
        }
        self.compare.reset();
        self.open = None;
        self.view = None;
        self.caches.clear();
        self.generation += 1;
    }

    fn poll_loading(&mut self) {
        let Some(job) = &self.loading else { return };
        if let Some(result) = job.poll() {
            let source = job.source.clone();
            self.loading = None;
            match result {
                Ok(open) => self.install(open, &source),
                Err(e) => self.errors.push(e),
            }
        }
    }

    /// Starts segmenting the open study with the modalities whose boxes are checked.
    pub fn start_segmenting(&mut self, ctx: &egui::Context) {
        let (Some(open), Some(view)) = (&self.open, &self.view) else {
            return;
        };
        let availability = open.study.available().difference(view.dropped);
        if availability.is_empty() {
            self.errors
                .push("Segment: every modality is unchecked; check at least one".into());
            return;
        }
        self.segment.job = Some(SegmentJob::spawn(
            open.study.clone(),
            self.segment.model.clone(),
            self.segment.run_on(),
            availability,
            ctx.clone(),
        ));
    }

    fn poll_segmenting(&mut self) {
        let Some(job) = &self.segment.job else { return };
        let Some(result) = job.poll() else { return };
        let (name, cancelled) = (job.name.clone(), job.is_cancelled());
        self.segment.job = None;
        match (result, &mut self.open) {
            (Ok(labels), Some(open)) => {
                open.add_segmentation(name, labels);
                self.layers_changed();
            }
            (Err(_), _) if cancelled => self.notice = Some("Segmentation cancelled".into()),
            (Err(e), _) => self.errors.push(format!("Segment: {e}")),
            (Ok(_), None) => {}
        }
    }

    /// Cached slice textures show old layers: rebuild them.
    fn layers_changed(&mut self) {
        self.generation += 1;
        self.caches.clear();
    }

    fn poll_compare(&mut self) {
        let Some(open) = &mut self.open else { return };
        if self.compare.poll(open, &mut self.errors) {
            self.layers_changed();
        }
    }

    /// Starts the comparison chosen in the compare window.
    pub fn start_comparing(&mut self, ctx: &egui::Context) {
        if let Some(open) = &self.open {
            self.compare
                .start(open, &self.segment.model, self.segment.run_on(), ctx);
        }
    }

    /// Writes the comparison table as CSV.
    pub fn export_comparison(&mut self, path: &std::path::Path) {
        let Some(comparison) = &self.compare.comparison else {
            return;
        };
        match engine::atomic_file::write(path, comparison.to_csv().as_bytes()) {
            Ok(()) => self.notice = Some(format!("Saved {}", path.display())),
            Err(e) => self
                .errors
                .push(format!("{}: cannot save the table: {e}", path.display())),
        }
    }

    fn compare_window(&mut self, ctx: &egui::Context) {
        let (Some(open), Some(view)) = (&mut self.open, &mut self.view) else {
            return;
        };
        if !self.compare.open {
            return;
        }
        match self
            .compare
            .show(ctx, open, view, self.focus, &self.segment.model)
        {
            CompareAction::None => {}
            CompareAction::Start => self.start_comparing(ctx),
            CompareAction::ExportCsv => {
                if let Some(path) = rfd::FileDialog::new()
                    .add_filter("CSV", &["csv"])
                    .set_file_name("comparison.csv")
                    .save_file()
                {
                    self.export_comparison(&path);
                }
            }
        }
    }

    fn train_window(&mut self, ctx: &egui::Context) {
        if !self.train.open {
            return;
        }
        if let TrainAction::UseModel(model) = self.train.show(ctx, &mut self.errors) {
            self.notice = Some(format!("Segmenting with {}", model.display()));
            self.segment.model = ModelChoice::Path(model);
        }
    }

    /// Writes the shown label layer as NIfTI with the study's geometry.
    pub fn save_layer(&mut self, path: &std::path::Path) {
        let Some(open) = &self.open else { return };
        let Some(layer) = open.overlay() else { return };
        match engine::volume::write_labels(path, &layer.labels, open.study.reference()) {
            Ok(()) => self.notice = Some(format!("Saved {}", path.display())),
            Err(e) => self.errors.push(e.to_string()),
        }
    }

    /// The whole user interface, drawn into `ui` (the window's root).
    pub fn ui(&mut self, ui: &mut egui::Ui) {
        self.poll_loading();
        self.poll_segmenting();
        self.poll_compare();
        if let Some(error) = self.train.poll() {
            self.errors.push(error);
        }
        self.update_window_title(ui.ctx());
        self.handle_dropped_files(ui.ctx());
        self.handle_keys(ui.ctx());
        self.handle_screenshot_event();

        egui::Panel::top("menu").show(ui, |ui| self.menu_bar(ui));
        egui::Panel::bottom("status").show(ui, |ui| self.status_bar(ui));
        if self.open.is_some() {
            egui::Panel::left("side")
                .default_size(250.0)
                .show(ui, |ui| {
                    egui::ScrollArea::vertical().show(ui, |ui| self.side_panel(ui));
                });
        }
        egui::CentralPanel::default().show(ui, |ui| self.view_area(ui));
        self.compare_window(ui.ctx());
        self.train_window(ui.ctx());
        self.assignment_dialog(ui.ctx());
        self.error_dialog(ui.ctx());
    }

    fn assignment_dialog(&mut self, ctx: &egui::Context) {
        let Some(assignment) = &mut self.assigning else {
            return;
        };
        match assignment.show(ctx) {
            Decision::Pending => {}
            Decision::Cancel => self.assigning = None,
            Decision::Open(files) => {
                self.assigning = None;
                self.start_loading(StudySource::Files(files), ctx);
            }
        }
    }

    fn menu_bar(&mut self, ui: &mut egui::Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| self.file_menu(ui));
            ui.menu_button("View", |ui| self.view_menu(ui));
            ui.menu_button("Analysis", |ui| {
                if ui
                    .add_enabled(
                        self.open.is_some(),
                        egui::Button::new("Compare across dropouts…"),
                    )
                    .clicked()
                {
                    self.compare.open = true;
                }
                if ui
                    .add_enabled(self.open.is_some(), egui::Button::new("Compare models…"))
                    .on_hover_text("Pick a model file to compare with the Segment section's model")
                    .clicked()
                {
                    self.compare.open = true;
                    self.compare.add_model_from_dialog();
                }
            });
            ui.menu_button("Train", |ui| {
                if ui.button("New training…").clicked() {
                    self.train.open = true;
                }
                let running = self.train.job.is_some();
                if ui
                    .add_enabled(running, egui::Button::new("Show training"))
                    .clicked()
                {
                    self.train.open = true;
                }
            });
            if self.loading.is_some() {
                ui.spinner();
                ui.label("Opening study…");
            }
        });
    }

    fn file_menu(&mut self, ui: &mut egui::Ui) {
        if ui.button("Open study folder…").clicked() {
            if let Some(dir) = rfd::FileDialog::new()
                .set_title("Open a BraTS case folder")
                .pick_folder()
            {
                self.start_loading(StudySource::Folder(dir), ui.ctx());
            }
        }
        if ui.button("Open files…").clicked() {
            if let Some(files) = rfd::FileDialog::new()
                .add_filter("NIfTI", &["nii", "gz"])
                .pick_files()
            {
                match StudySource::single_case(&files) {
                    Some(case) => self.start_loading(case, ui.ctx()),
                    None => self.assigning = Some(FileAssignment::new(&files)),
                }
            }
        }
        ui.menu_button("Open recent", |ui| {
            if self.recent.folders.is_empty() {
                ui.label("No recent studies");
            }
            for folder in self.recent.folders.clone() {
                if ui.button(folder.display().to_string()).clicked() {
                    self.start_loading(StudySource::Folder(folder), ui.ctx());
                }
            }
        });
        ui.separator();
        if ui
            .add_enabled(self.open.is_some(), egui::Button::new("Save screenshot…"))
            .clicked()
        {
            if let Some(path) = rfd::FileDialog::new()
                .set_file_name("views.png")
                .save_file()
            {
                self.request_screenshot(path, ui.ctx());
            }
        }
        if ui
            .add_enabled(self.open.is_some(), egui::Button::new("Close study"))
            .clicked()
        {
            self.close_study();
        }
        if ui.button("Quit").clicked() {
            ui.ctx().send_viewport_cmd(egui::ViewportCommand::Close);
        }
    }

    /// Asks the renderer for a screenshot of the window, saved to `path` when it arrives.
    fn request_screenshot(&mut self, path: PathBuf, ctx: &egui::Context) {
        let (sender, receiver) = channel();
        self.pending_screenshot = Some((path, receiver));
        let repaint = ctx.clone();
        let callback = egui::ScreenshotCallback::new(move |image| {
            // The receiver is gone only if the viewer closed meanwhile.
            let _ = sender.send(image);
            repaint.request_repaint();
        });
        ctx.send_viewport_cmd(egui::ViewportCommand::Screenshot(callback));
    }

    fn view_menu(&mut self, ui: &mut egui::Ui) {
        let Some(view) = &mut self.view else {
            ui.label("Open a study first");
            return;
        };
        ui.radio_value(&mut view.layout, Layout::ThreePlanes, "Three planes");
        for plane in Plane::ALL {
            ui.radio_value(
                &mut view.layout,
                Layout::Single(plane),
                format!("{} only", plane.name()),
            );
        }
        ui.radio_value(
            &mut view.layout,
            Layout::ModalityGrid(self.focus),
            "All four modalities (2×2)",
        );
        ui.add_enabled_ui(self.compare.comparison.is_some(), |ui| {
            ui.radio_value(
                &mut view.layout,
                Layout::CompareGrid(self.focus),
                "Compared segmentations (grid)",
            );
        });
        ui.separator();
        ui.checkbox(
            &mut view.radiological,
            "Radiological (patient right on screen left)",
        );
        if ui.button("Reset zoom and pan").clicked() {
            view.zoom = [1.0; 3];
            view.pan = [Vec2::ZERO; 3];
        }
    }

    fn side_panel(&mut self, ui: &mut egui::Ui) {
        let (Some(open), Some(view)) = (&mut self.open, &mut self.view) else {
            return;
        };
        ui.heading(&open.study.name);
        ui.label(format!("Layout: {}", open.study.layout.name()));
        ui.label(format!(
            "Labels: {}",
            open.study.labels.as_ref().map_or("none".into(), |_| open
                .study
                .convention
                .name()
                .to_string())
        ));
        ui.separator();
        modalities_section(ui, open, view, self.focus);
        overlay_section(ui, open, view);
        self.segment_section(ui);
    }

    fn segment_section(&mut self, ui: &mut egui::Ui) {
        let can_save = self.open.as_ref().and_then(|o| o.overlay()).is_some();
        match self.segment.show(ui, can_save) {
            SegmentAction::None => {}
            SegmentAction::Start => self.start_segmenting(ui.ctx()),
            SegmentAction::OpenCompare => self.compare.open = true,
            SegmentAction::SaveLayer(path) => self.save_layer(&path),
        }
    }

    /// Chooses the faster of the CPU and wgpu for Segment and Compare in the background and
    /// prepares its kernels, so the first segmentation waits for neither; the status bar says
    /// so meanwhile, and a device the user picked meanwhile stays picked.
    pub fn start_device_pick(&mut self, ctx: &egui::Context) {
        let cache = self.device_choice_cache.clone();
        self.device_pick = Some(DevicePick::spawn(
            self.segment.model.clone(),
            cache,
            ctx.clone(),
        ));
    }

    fn status_bar(&mut self, ui: &mut egui::Ui) {
        if let Some(choice) = self.device_pick.as_ref().and_then(DevicePick::take) {
            self.segment.apply_measured(&choice);
            self.device_pick = None;
        }
        if self.device_pick.is_some() {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(DEVICE_PICK_STATUS);
            });
        }
        ui.horizontal(|ui| {
            let (Some(open), Some(view)) = (&self.open, &self.view) else {
                ui.label(self.notice.as_deref().unwrap_or(
                    "No study open: File > Open study folder…, or drop a case folder here",
                ));
                return;
            };
            let ras = view.hover.unwrap_or(view.cursor);
            let disk = open.orientation.to_disk(ras);
            let reference = open.study.reference();
            let world = reference.voxel_to_world(disk.map(|i| i as f64));
            let mut text = format!(
                "voxel ({}, {}, {})  world ({:.1}, {:.1}, {:.1}) mm",
                disk[0], disk[1], disk[2], world[0], world[1], world[2]
            );
            for m in Modality::ALL {
                if let Some(v) = open.study.modality(m).and_then(|v| v.value(disk, 0)) {
                    text.push_str(&format!("  {} {:.1}", m.name(), v));
                }
            }
            if let (Some(layer), Some(index)) = (open.overlay(), reference.index(disk)) {
                let value = layer.labels[index];
                let class = TumourClass::of_label(value, open.study.convention)
                    .map_or("background", |c| c.name());
                text.push_str(&format!("  label {value} ({class})"));
            }
            ui.monospace(text);
            if let Some(notice) = &self.notice {
                ui.separator();
                ui.label(notice);
            }
        });
    }

    fn view_area(&mut self, ui: &mut egui::Ui) {
        let rect = ui.available_rect_before_wrap();
        let (Some(open), Some(view)) = (&self.open, &mut self.view) else {
            ui.centered_and_justified(|ui| {
                ui.label(if self.loading.is_some() {
                    "Opening study…"
                } else {
                    "Open a study to begin"
                });
            });
            return;
        };
        view.hover = None;
        let slots = layout_slots(
            rect,
            view.layout,
            view.displayed,
            &self.compare.grid_layers(),
        );
        for slot in slots {
            let cache = self
                .caches
                .entry((slot.plane, slot.modality, slot.layer))
                .or_default();
            let response = slice_view::show(ui, slot, cache, open, view, self.generation);
            let plane = slot.plane;
            if response.hovered {
                self.focus = plane;
            }
            if response.toggle_maximise {
                view.layout = match view.layout {
                    Layout::ThreePlanes => Layout::Single(plane),
                    _ => Layout::ThreePlanes,
                };
            }
        }
    }

    fn handle_keys(&mut self, ctx: &egui::Context) {
        let (Some(open), Some(view)) = (&self.open, &mut self.view) else {
            return;
        };
        if ctx.egui_wants_keyboard_input() {
            return;
        }
        let focus = match view.layout {
            Layout::Single(p) | Layout::ModalityGrid(p) | Layout::CompareGrid(p) => p,
            Layout::ThreePlanes => self.focus,
        };
        let mut layer_step = false;
        ctx.input_mut(|input| {
            let step = if input.modifiers.shift { 5 } else { 1 };
            for (key, direction) in [
                (Key::PageUp, 1),
                (Key::ArrowUp, 1),
                (Key::PageDown, -1),
                (Key::ArrowDown, -1),
            ] {
                for modifiers in [Modifiers::NONE, Modifiers::SHIFT] {
                    if input.consume_key(modifiers, key) {
                        view.step_slice(focus, direction * step, &open.orientation);
                    }
                }
            }
            if input.consume_key(Modifiers::NONE, Key::A) {
                view.overlay.opacity = (view.overlay.opacity - 0.1).max(0.0);
            }
            if input.consume_key(Modifiers::NONE, Key::D) {
                view.overlay.opacity = (view.overlay.opacity + 0.1).min(1.0);
            }
            if input.consume_key(Modifiers::NONE, Key::S) {
                view.overlay.visible = !view.overlay.visible;
            }
            if input.consume_key(Modifiers::NONE, Key::O) {
                view.overlay.outline = !view.overlay.outline;
            }
            if input.consume_key(Modifiers::NONE, Key::Tab) && !open.layers.is_empty() {
                layer_step = true;
            }
            if input.consume_key(Modifiers::COMMAND, Key::J) {
                view.window[view.displayed.index()] = open.auto_window[view.displayed.index()];
            }
            for (key, plane) in [
                (Key::Num1, Plane::Axial),
                (Key::Num2, Plane::Coronal),
                (Key::Num3, Plane::Sagittal),
            ] {
                if input.consume_key(Modifiers::NONE, key) {
                    view.layout = if view.layout == Layout::Single(plane) {
                        Layout::ThreePlanes
                    } else {
                        Layout::Single(plane)
                    };
                }
            }
            if input.consume_key(Modifiers::NONE, Key::Num4) {
                view.layout = if view.layout == Layout::ModalityGrid(focus) {
                    Layout::ThreePlanes
                } else {
                    Layout::ModalityGrid(focus)
                };
            }
        });
        // Tab cycles the overlaid layer (ground truth and each segmentation or condition).
        if let (true, Some(open)) = (layer_step, &mut self.open) {
            open.shown = Some(open.shown.map_or(0, |i| (i + 1) % open.layers.len()));
        }
    }

    fn handle_dropped_files(&mut self, ctx: &egui::Context) {
        let dropped: Vec<PathBuf> = ctx.input(|i| {
            i.raw
                .dropped_files
                .iter()
                .map(|f| f.path().to_path_buf())
                .collect()
        });
        if dropped.is_empty() {
            return;
        }
        match StudySource::single_case(&dropped) {
            Some(case) => self.start_loading(case, ctx),
            None => self.assigning = Some(FileAssignment::new(&dropped)),
        }
    }

    fn handle_screenshot_event(&mut self) {
        let Some((path, receiver)) = &self.pending_screenshot else {
            return;
        };
        let Ok(image) = receiver.try_recv() else {
            return;
        };
        let path = path.clone();
        self.pending_screenshot = None;
        match save_png(&image, &path) {
            Ok(()) => self.notice = Some(format!("Saved {}", path.display())),
            Err(e) => self.errors.push(format!(
                "{}: cannot save the screenshot: {e}",
                path.display()
            )),
        }
    }

    fn error_dialog(&mut self, ctx: &egui::Context) {
        let Some(message) = self.errors.first().cloned() else {
            return;
        };
        let modal = egui::Modal::new(egui::Id::unique("error-dialog")).show(ctx, |ui| {
            ui.set_max_width(520.0);
            ui.heading("Could not complete that");
            ui.label(&message);
            ui.label(if self.open.is_some() {
                "What was open before is still open."
            } else {
                ""
            });
            ui.button("OK").clicked()
        });
        if modal.inner || modal.should_close() {
            self.errors.remove(0);
        }
    }
}

/// The side panel's modality list: which to use when segmenting, which to display, each
/// file's name, and the display window.
fn modalities_section(ui: &mut egui::Ui, open: &OpenStudy, view: &mut ViewState, focus: Plane) {
    ui.strong("Modalities");
    for m in Modality::ALL {
        let volume = open.study.modality(m);
        ui.horizontal(|ui| {
            ui.add_enabled_ui(volume.is_some(), |ui| {
                let mut used = !view.dropped.contains(m);
                if ui
                    .checkbox(&mut used, "")
                    .on_hover_text("Use this modality when segmenting (uncheck to drop it)")
                    .changed()
                {
                    view.dropped = if used {
                        view.dropped.without(m)
                    } else {
                        view.dropped.with(m)
                    };
                }
                if ui.selectable_label(view.displayed == m, m.name()).clicked() {
                    view.displayed = m;
                }
            });
            let frame = (open.study.layout == engine::study::Layout::MsdTask01)
                .then(|| engine::study::MSD_FRAMES.iter().position(|f| *f == m))
                .flatten();
            let file = match (volume, frame) {
                (None, _) => "missing".to_string(),
                (Some(_), Some(t)) => format!("frame {} of the 4D image", t + 1),
                (Some(v), None) => v
                    .source
                    .as_ref()
                    .and_then(|p| p.file_name())
                    .map_or("in memory".into(), |n| n.to_string_lossy().into_owned()),
            };
            ui.weak(file);
        });
    }
    if ui.button("Show all four (2×2)").clicked() {
        view.layout = Layout::ModalityGrid(focus);
    }
    if let Some(window) = view.window[view.displayed.index()] {
        ui.horizontal(|ui| {
            ui.label(format!("Window {:.1} – {:.1}", window.low, window.high));
            if ui
                .button("Auto")
                .on_hover_text("0.5–99.5 percentile (Ctrl+J)")
                .clicked()
            {
                view.window[view.displayed.index()] = open.auto_window[view.displayed.index()];
            }
        });
    }
}

/// The side panel's tumour overlay: the layer shown, its display settings and the legend with
/// each class's and region's volume.
fn overlay_section(ui: &mut egui::Ui, open: &mut OpenStudy, view: &mut ViewState) {
    ui.separator();
    ui.strong("Tumour overlay");
    if open.layers.is_empty() {
        ui.weak("No label map yet: segment the study below");
    } else {
        let shown = open.overlay().map_or(String::new(), |l| l.name.clone());
        egui::ComboBox::from_label("Layer")
            .selected_text(shown)
            .show_ui(ui, |ui| {
                for (i, layer) in open.layers.iter().enumerate() {
                    ui.selectable_value(&mut open.shown, Some(i), &layer.name);
                }
            });
        ui.checkbox(&mut view.overlay.visible, "Show (S)");
        ui.add(egui::Slider::new(&mut view.overlay.opacity, 0.0..=1.0).text("Opacity (A/D)"));
        ui.checkbox(&mut view.overlay.outline, "Outline only (O)");
    }
    if let Some(layer) = open.overlay() {
        egui::Grid::new("legend").num_columns(2).show(ui, |ui| {
            for class in TumourClass::ALL {
                let [r, g, b] = class.rgb();
                let name =
                    egui::RichText::new(class.name()).color(egui::Color32::from_rgb(r, g, b));
                ui.checkbox(&mut view.overlay.class_visible[class.index()], name);
                ui.label(format!(
                    "{:.2} mL",
                    layer.class_counts[class.index()] as f64 * open.voxel_ml
                ));
                ui.end_row();
            }
            for (i, region) in Region::ALL.into_iter().enumerate() {
                let ml = layer.region_counts[i] as f64 * open.voxel_ml;
                ui.label(region_name(region));
                ui.label(format!("{ml:.2} mL"));
                ui.end_row();
            }
        });
    }
}

/// Where each view goes in `rect` for a layout (`compared`: the comparison grid's layers).
fn layout_slots(rect: Rect, layout: Layout, displayed: Modality, compared: &[usize]) -> Vec<Slot> {
    match layout {
        Layout::ThreePlanes => {
            let size = Vec2::new(rect.width() / 3.0, rect.height());
            Plane::ALL
                .iter()
                .enumerate()
                .map(|(i, plane)| Slot {
                    rect: Rect::from_min_size(rect.min + Vec2::new(size.x * i as f32, 0.0), size)
                        .shrink(1.0),
                    plane: *plane,
                    modality: displayed,
                    layer: None,
                })
                .collect()
        }
        Layout::Single(plane) => vec![Slot {
            rect,
            plane,
            modality: displayed,
            layer: None,
        }],
        Layout::CompareGrid(plane) => {
            let n = compared.len().max(1);
            let columns = (n as f32).sqrt().ceil() as usize;
            let rows = n.div_ceil(columns);
            let size = Vec2::new(rect.width() / columns as f32, rect.height() / rows as f32);
            compared
                .iter()
                .enumerate()
                .map(|(i, layer)| {
                    let offset =
                        Vec2::new((i % columns) as f32 * size.x, (i / columns) as f32 * size.y);
                    Slot {
                        rect: Rect::from_min_size(rect.min + offset, size).shrink(1.0),
                        plane,
                        modality: displayed,
                        layer: Some(*layer),
                    }
                })
                .collect()
        }
        Layout::ModalityGrid(plane) => {
            let size = rect.size() / 2.0;
            Modality::ALL
                .iter()
                .enumerate()
                .map(|(i, modality)| {
                    let offset = Vec2::new((i % 2) as f32 * size.x, (i / 2) as f32 * size.y);
                    Slot {
                        rect: Rect::from_min_size(rect.min + offset, size).shrink(1.0),
                        plane,
                        modality: *modality,
                        layer: None,
                    }
                })
                .collect()
        }
    }
}

/// Writes an egui image as PNG.
pub fn save_png(image: &egui::ColorImage, path: &std::path::Path) -> Result<(), String> {
    let [w, h] = image.size;
    let bytes: Vec<u8> = image.pixels.iter().flat_map(|c| c.to_array()).collect();
    let rgba = image::RgbaImage::from_raw(w as u32, h as u32, bytes)
        .ok_or("the renderer returned an image of the wrong size")?;
    rgba.save(path).map_err(|e| e.to_string())
}

fn region_name(region: Region) -> &'static str {
    match region {
        Region::WT => "Whole tumour (WT)",
        Region::TC => "Tumour core (TC)",
        Region::ET => "Enhancing tumour (ET)",
    }
}

impl eframe::App for Viewer {
    fn ui(&mut self, ui: &mut egui::Ui, _frame: &mut eframe::Frame) {
        Viewer::ui(self, ui);
    }
}
