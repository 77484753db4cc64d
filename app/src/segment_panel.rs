//! The side panel's "Segment" section: which model and device segment the open study, the
//! running segmentation (progress, cancel), and the buttons that start it, open the compare
//! window and save the shown layer. It renders the choices and says what the user asked for;
//! the viewer carries it out.

use crate::segmenting::{compute_name, ModelChoice, RunOn, SegmentJob};
use engine::compute::Compute;
use engine::infer::device_choice::DeviceChoice;
use std::path::PathBuf;

/// The tooltip of the fast-mode checkbox.
const FAST_HOVER: &str = "Windows overlap by a quarter instead of a half: less than half as many windows and about half the time, Dice within 2 points on the sample (docs/model.md)";

/// The tooltip of the mirrored-passes checkbox.
const MIRROR_HOVER: &str = "Each window also runs mirrored along every combination of the three axes and the eight outputs are averaged: about 8 times the time, fewer stray labels (on real validation scans with FLAIR+T1ce, Dice rose 2–5 points; docs/model.md)";

/// The model and device used by Segment and Compare, and the segmentation in progress.
pub struct SegmentPanel {
    /// The model "Segment" and "Compare" use.
    pub model: ModelChoice,
    /// Where they run: wgpu (a GPU, or Mesa's lavapipe without one) or the CPU; set at
    /// start-up to whichever was measured faster on this machine ([`Self::apply_measured`])
    /// unless the user picked one first.
    pub compute: Compute,
    /// Whether the user picked the device (then a measurement does not change it).
    pub compute_picked: bool,
    /// The start-up measurement, for the "Run on" tooltip.
    pub measured: Option<String>,
    /// Fast mode: less window overlap (see [`RunOn::fast`]).
    pub fast: bool,
    /// Mirrored passes (see [`RunOn::mirror`]).
    pub mirror: bool,
    /// The segmentation running in the background, if any.
    pub job: Option<SegmentJob>,
}

impl Default for SegmentPanel {
    fn default() -> Self {
        SegmentPanel {
            model: ModelChoice::default(),
            compute: Compute::Wgpu,
            compute_picked: false,
            measured: None,
            fast: false,
            mirror: false,
            job: None,
        }
    }
}

/// What the section asks the viewer to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SegmentAction {
    None,
    /// Segment the open study with the checked modalities.
    Start,
    /// Open the "Compare across dropouts" window.
    OpenCompare,
    /// Save the shown layer to this file.
    SaveLayer(PathBuf),
}

impl SegmentPanel {
    /// Takes the start-up measurement: its faster device unless the user picked one.
    pub fn apply_measured(&mut self, choice: &DeviceChoice) {
        if !self.compute_picked {
            self.compute = choice.fastest();
        }
        self.measured = Some(choice.describe());
    }

    /// Where and how Segment and Compare run.
    pub fn run_on(&self) -> RunOn {
        RunOn {
            compute: self.compute,
            fast: self.fast,
            mirror: self.mirror,
        }
    }

    /// Draws the section; `can_save` says whether a layer is shown.
    pub fn show(&mut self, ui: &mut egui::Ui, can_save: bool) -> SegmentAction {
        ui.separator();
        ui.strong("Segment");
        ui.label(format!("Model: {}", self.model.describe()));
        self.model_row(ui);
        self.compute_row(ui);
        let mut action = self.job_row(ui);
        if ui
            .button("Compare across dropouts…")
            .on_hover_text("Segment under several modality subsets and score them")
            .clicked()
        {
            action = SegmentAction::OpenCompare;
        }
        if can_save && ui.button("Save shown layer as NIfTI…").clicked() {
            if let Some(path) = rfd::FileDialog::new()
                .add_filter("NIfTI", &["nii.gz", "nii"])
                .set_file_name("segmentation.nii.gz")
                .save_file()
            {
                action = SegmentAction::SaveLayer(path);
            }
        }
        action
    }

    fn model_row(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            if ui
                .button("Choose model…")
                .on_hover_text("A model.metakd file or a training run folder")
                .clicked()
            {
                if let Some(path) = rfd::FileDialog::new()
                    .add_filter("MetaKD model", &["metakd"])
                    .pick_file()
                {
                    self.model = ModelChoice::Path(path);
                }
            }
            if self.model != ModelChoice::Bundled && ui.button("Bundled").clicked() {
                self.model = ModelChoice::Bundled;
            }
        });
    }

    fn compute_row(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            let label = ui.label("Run on");
            if let Some(measured) = &self.measured {
                label.on_hover_text(format!("The faster one on this machine, {measured}"));
            }
            for (compute, hover) in [
                (
                    Compute::Wgpu,
                    "A GPU through wgpu, or Mesa's lavapipe (software Vulkan) where there is none",
                ),
                (
                    Compute::Cpu,
                    "The CPU (our convolution kernels on burn's Flex backend)",
                ),
            ] {
                if ui
                    .radio_value(&mut self.compute, compute, compute_name(compute))
                    .on_hover_text(hover)
                    .clicked()
                {
                    self.compute_picked = true;
                }
            }
        });
        ui.checkbox(&mut self.fast, "Fast (less window overlap)")
            .on_hover_text(FAST_HOVER);
        ui.checkbox(&mut self.mirror, "Mirrored passes (8× the time)")
            .on_hover_text(MIRROR_HOVER);
    }

    /// The progress bar and Cancel while a segmentation runs, else the Segment button.
    fn job_row(&mut self, ui: &mut egui::Ui) -> SegmentAction {
        match &self.job {
            Some(job) => {
                ui.add(
                    egui::ProgressBar::new(job.progress())
                        .show_percentage()
                        .text(format!("Segmenting with {}", job.name)),
                );
                if ui.button("Cancel").clicked() {
                    job.cancel();
                }
                SegmentAction::None
            }
            None if ui.button("Segment with the checked modalities").clicked() => {
                SegmentAction::Start
            }
            None => SegmentAction::None,
        }
    }
}
