//! The "Training" window: a form for a new run (data set folder, run folder, method, preset,
//! backbone, iterations, validation split), then live plots of the losses, the validation Dice and
//! MetaKD's modality weights, with Pause/Resume, Cancel and "Use this model" at the end.
//! It renders state and delegates the work to `training`.

use crate::state::REGION_COLOURS;
use crate::training::{TrainRequest, TrainState, TrainingJob};
use egui::Color32;
use egui_plot::{Legend, Line, Plot, PlotPoints, Points};
use engine::model::{Fusion, Preset};
use engine::study::Modality;
use engine::train::config::Method;
use std::path::PathBuf;

const MODALITY_COLOURS: [Color32; 4] = [
    Color32::from_rgb(90, 170, 255),
    Color32::from_rgb(200, 200, 200),
    Color32::from_rgb(255, 170, 40),
    Color32::from_rgb(120, 220, 120),
];

/// The training window's state.
pub struct TrainPanel {
    pub open: bool,
    pub request: TrainRequest,
    /// Text of the path fields (editable; browse buttons fill them).
    pub data_text: String,
    pub out_text: String,
    pub job: Option<TrainingJob>,
}

impl Default for TrainPanel {
    fn default() -> Self {
        TrainPanel {
            open: false,
            request: TrainRequest {
                data: PathBuf::new(),
                out: PathBuf::new(),
                method: Method::Metakd,
                preset: Preset::Tiny,
                fusion: Fusion::Concat,
                iterations: 300,
                validation_fraction: 1.0 / 6.0,
            },
            data_text: String::new(),
            out_text: String::new(),
            job: None,
        }
    }
}

/// What the window asks the viewer to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrainAction {
    None,
    /// Segment with this model file from now on.
    UseModel(PathBuf),
}

impl TrainPanel {
    /// Starts the run in the form; the error names what to fix.
    pub fn start(&mut self, ctx: &egui::Context) -> Result<(), String> {
        self.request.data = PathBuf::from(self.data_text.trim());
        self.request.out = PathBuf::from(self.out_text.trim());
        if self.request.out.as_os_str().is_empty() {
            return Err("Train: choose a run folder for the results".into());
        }
        self.job = Some(TrainingJob::start(&self.request, ctx).map_err(|e| format!("Train: {e}"))?);
        Ok(())
    }

    /// Takes the running job's events (every frame, whether the window is open or not).
    /// Returns the error of a run that has just failed, for the error dialog.
    pub fn poll(&mut self) -> Option<String> {
        let job = self.job.as_mut()?;
        let failed_before = matches!(job.state, TrainState::Failed(_));
        job.poll();
        match &job.state {
            TrainState::Failed(e) if !failed_before => Some(format!("Training failed: {e}")),
            _ => None,
        }
    }

    /// Draws the window; errors of starting a run go to `errors`.
    pub fn show(&mut self, ctx: &egui::Context, errors: &mut Vec<String>) -> TrainAction {
        let mut action = TrainAction::None;
        let mut window_open = self.open;
        egui::Window::new("Training")
            .open(&mut window_open)
            // At the right, over the sagittal view, so the other views stay visible.
            .pivot(egui::Align2::RIGHT_TOP)
            .default_pos(ctx.content_rect().right_top() + egui::vec2(-8.0, 32.0))
            .default_size([560.0, 780.0])
            .vscroll(true)
            .show(ctx, |ui| {
                let running = self
                    .job
                    .as_ref()
                    .is_some_and(|j| matches!(j.state, TrainState::Running | TrainState::Paused));
                ui.add_enabled_ui(!running, |ui| self.form(ui));
                if !running && ui.button("Start training").clicked() {
                    if let Err(e) = self.start(ctx) {
                        errors.push(e);
                    }
                }
                if let Some(job) = &mut self.job {
                    ui.separator();
                    action = job_controls(ui, job);
                    plots(ui, job);
                }
            });
        self.open = window_open;
        action
    }

    fn form(&mut self, ui: &mut egui::Ui) {
        egui::Grid::new("train-form").num_columns(2).show(ui, |ui| {
            ui.label("Data set folder");
            ui.horizontal(|ui| {
                ui.add(egui::TextEdit::singleline(&mut self.data_text).desired_width(300.0));
                if ui.button("Browse…").clicked() {
                    if let Some(dir) = rfd::FileDialog::new()
                        .set_title("Data set folder (case folders, optionally cases.csv), or a prepared set")
                        .pick_folder()
                    {
                        self.data_text = dir.display().to_string();
                        if self.out_text.is_empty() {
                            self.out_text = default_run_folder(&dir, &self.request)
                                .display()
                                .to_string();
                        }
                    }
                }
            });
            ui.end_row();
            ui.label("Run folder");
            ui.horizontal(|ui| {
                ui.add(egui::TextEdit::singleline(&mut self.out_text).desired_width(300.0));
                if ui.button("Choose…").clicked() {
                    if let Some(dir) = rfd::FileDialog::new()
                        .set_title("Where to write the run")
                        .pick_folder()
                    {
                        self.out_text = dir.display().to_string();
                    }
                }
            });
            ui.end_row();
            ui.label("Method");
            ui.horizontal(|ui| {
                for method in Method::ALL {
                    ui.radio_value(&mut self.request.method, method, method.name());
                }
            });
            ui.end_row();
            ui.label("Network size");
            ui.horizontal(|ui| {
                for preset in [Preset::Tiny, Preset::Desktop] {
                    ui.radio_value(&mut self.request.preset, preset, preset.name());
                }
            });
            ui.end_row();
            ui.label("Backbone");
            ui.horizontal(|ui| {
                ui.radio_value(&mut self.request.fusion, Fusion::Concat, "concat")
                    .on_hover_text("MetaKD's backbone: the modalities' features are concatenated, missing ones imputed");
                ui.radio_value(
                    &mut self.request.fusion,
                    Fusion::DynamicSharing,
                    "dynamic sharing",
                )
                .on_hover_text("GMD's backbone: each modality runs through the whole network, the available ones' outputs are averaged");
            });
            ui.end_row();
            ui.label("Iterations");
            ui.add(egui::DragValue::new(&mut self.request.iterations).range(1..=1_000_000));
            ui.end_row();
            ui.label("Validation split");
            ui.add(
                egui::Slider::new(&mut self.request.validation_fraction, 0.05..=0.5)
                    .fixed_decimals(2)
                    .text("of the cases (when no cases.csv split)"),
            );
            ui.end_row();
        });
    }
}

/// `<data set's parent>/runs/<data set>-<method>-<preset>[-dynamic-sharing]`.
fn default_run_folder(data: &std::path::Path, request: &TrainRequest) -> PathBuf {
    let name = data
        .file_name()
        .map_or("data".into(), |n| n.to_string_lossy().into_owned());
    let backbone = match request.fusion {
        Fusion::Concat => String::new(),
        sharing => format!("-{}", sharing.name()),
    };
    data.parent().unwrap_or(data).join("runs").join(format!(
        "{name}-{}-{}{backbone}",
        request.method.name(),
        request.preset.name()
    ))
}

fn job_controls(ui: &mut egui::Ui, job: &mut TrainingJob) -> TrainAction {
    let total = job.config.iterations;
    let fraction = job.iteration as f32 / total.max(1) as f32;
    let seconds = job.history.steps.last().map_or(0.0, |s| s.seconds);
    if let Some((done, cases)) = job.history.preparing {
        ui.add(
            egui::ProgressBar::new(done as f32 / cases.max(1) as f32)
                .text(format!("Preparing the data: {done} / {cases} cases")),
        );
    } else {
        ui.add(egui::ProgressBar::new(fraction).text(format!(
            "{} / {total} iterations  ({seconds:.2} s per iteration)",
            job.iteration
        )));
    }
    ui.label(format!(
        "{} · {} · {} backbone · {} training and {} validation cases · {}",
        job.config.method.name(),
        job.config.model.preset,
        job.config.model.fusion.name(),
        job.history.train_cases,
        job.history.val_cases,
        job.run_dir.display()
    ));
    if let Some(prepared) = &job.history.prepared {
        ui.label(format!("Prepared cases: {}", prepared.display()));
    }
    if let Some(teachers) = job.history.steps.last().and_then(|s| s.teachers.as_ref()) {
        ui.label(format!("LCKD teachers: {teachers}"));
    }
    for problem in &job.history.problems {
        ui.colored_label(Color32::YELLOW, format!("skipped: {problem}"));
    }
    let mut action = TrainAction::None;
    ui.horizontal(|ui| match job.state.clone() {
        TrainState::Running if job.is_stopping() => {
            ui.spinner();
            ui.label("Stopping after this iteration (saving a checkpoint)…");
        }
        TrainState::Running => {
            if ui.button("Pause").clicked() {
                job.pause();
            }
            if ui.button("Cancel").clicked() {
                job.cancel();
            }
        }
        TrainState::Paused => {
            ui.label("Paused (checkpoint saved).");
            if ui.button("Resume").clicked() {
                job.resume(ui.ctx());
            }
            if ui.button("Cancel").clicked() {
                job.cancel();
            }
        }
        TrainState::Cancelled => {
            ui.label(format!(
                "Cancelled at iteration {}; the checkpoint is in the run folder \
                 (`metakd train --resume {}` continues it).",
                job.iteration,
                job.run_dir.display()
            ));
        }
        TrainState::Completed { model } => {
            ui.label(format!("Done: {}", model.display()));
            if ui.button("Use this model").clicked() {
                action = TrainAction::UseModel(model);
            }
        }
        TrainState::Failed(e) => {
            ui.colored_label(Color32::LIGHT_RED, format!("Training failed: {e}"));
        }
    });
    action
}

fn plots(ui: &mut egui::Ui, job: &TrainingJob) {
    let steps = &job.history.steps;
    let series = |f: &dyn Fn(&engine::train::StepMetrics) -> Option<f64>| -> PlotPoints {
        steps
            .iter()
            .filter_map(|s| f(s).map(|y| [s.iteration as f64, y]))
            .collect()
    };
    ui.strong("Loss");
    Plot::new("train-loss")
        .height(150.0)
        .legend(Legend::default())
        .x_axis_label("iteration")
        .include_y(0.0)
        .allow_scroll(false)
        .show(ui, |plot| {
            plot.line(Line::new("total", series(&|s| Some(f64::from(s.loss)))));
            plot.line(Line::new("Dice", series(&|s| Some(f64::from(s.dice_loss)))));
            plot.line(Line::new("BCE", series(&|s| Some(f64::from(s.bce_loss)))));
            if steps.iter().any(|s| s.kd_loss.is_some()) {
                plot.line(Line::new(
                    "distillation",
                    series(&|s| s.kd_loss.map(f64::from)),
                ));
            }
        });
    ui.strong("Validation Dice (all modalities, patches)");
    Plot::new("train-dice")
        .height(130.0)
        .legend(Legend::default())
        .x_axis_label("iteration")
        .include_y(0.0)
        .include_y(1.0)
        .allow_scroll(false)
        .show(ui, |plot| {
            for (r, name) in ["WT", "TC", "ET"].into_iter().enumerate() {
                let points: PlotPoints = job
                    .history
                    .validations
                    .iter()
                    .map(|v| [v.iteration as f64, f64::from(v.val_dice[r])])
                    .collect();
                let copy: Vec<[f64; 2]> = points.points().iter().map(|p| [p.x, p.y]).collect();
                plot.line(Line::new(name, points).color(REGION_COLOURS[r]));
                plot.points(Points::new(name, copy).radius(3.0).color(REGION_COLOURS[r]));
            }
        });
    if steps.iter().any(|s| s.modality_weights.is_some()) {
        ui.strong("MetaKD modality weights");
        Plot::new("train-weights")
            .height(130.0)
            .legend(Legend::default())
            .x_axis_label("iteration")
            .include_y(0.0)
            .allow_scroll(false)
            .show(ui, |plot| {
                for m in Modality::ALL {
                    let points = series(&|s| s.modality_weights.map(|w| f64::from(w[m.index()])));
                    plot.line(Line::new(m.name(), points).color(MODALITY_COLOURS[m.index()]));
                }
            });
    }
}
