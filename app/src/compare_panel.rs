//! The "Compare across dropouts" window: choose availability subsets and, to compare models,
//! more model files (Analysis ▸ Compare models…), run them in the background, and read the
//! results as a sortable table (Dice, HD95, volume per region), a bar
//! chart of Dice, a grid of the same slice under every condition and a TP/FP/FN difference
//! overlay; the table exports as CSV. It renders state and delegates the work to `compare`.

use crate::compare::{condition_name, Column, CompareJob, CompareMessage, CompareRow, Comparison};
use crate::segmenting::{ModelChoice, RunOn};
use crate::state::{Agreement, Difference, Layout, OpenStudy, ViewState, REGION_COLOURS};
use egui::{Color32, RichText};
use egui_plot::{Bar, BarChart, Legend, Plot};
use engine::metrics::RegionMetrics;
use engine::study::{Availability, Region};
use engine::volume::Plane;
use std::collections::BTreeSet;

/// Picks subsets for a preset button.
type SubsetFilter = fn(Availability) -> bool;

/// The comparison window's state.
pub struct ComparePanel {
    pub open: bool,
    /// The chosen subsets.
    pub chosen: BTreeSet<Availability>,
    /// Models compared besides the Segment section's model.
    pub extra_models: Vec<ModelChoice>,
    /// The names of the models of the comparison that runs or ran last.
    model_names: Vec<String>,
    pub job: Option<CompareJob>,
    pub comparison: Option<Comparison>,
    /// The column the table is sorted by, and whether descending.
    pub sort: (Column, bool),
    /// The region of the difference overlay.
    pub difference_region: Region,
}

impl Default for ComparePanel {
    fn default() -> Self {
        let chosen = Availability::all_subsets().into_iter().collect();
        ComparePanel {
            open: false,
            chosen,
            extra_models: Vec::new(),
            model_names: Vec::new(),
            job: None,
            comparison: None,
            sort: (Column::Subset, false),
            difference_region: Region::WT,
        }
    }
}

/// What the window asks the viewer to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareAction {
    None,
    Start,
    ExportCsv,
}

impl ComparePanel {
    /// The chosen subsets the study can run (every modality in it present), in the papers' order.
    pub fn runnable(&self, open: &OpenStudy) -> Vec<Availability> {
        open.study
            .available()
            .subsets()
            .into_iter()
            .filter(|s| self.chosen.contains(s))
            .collect()
    }

    /// Starts the chosen subsets; the previous comparison is replaced as results arrive.
    pub fn start(
        &mut self,
        open: &OpenStudy,
        model: &ModelChoice,
        run: RunOn,
        ctx: &egui::Context,
    ) {
        let subsets = self.runnable(open);
        let models: Vec<ModelChoice> = std::iter::once(model.clone())
            .chain(self.extra_models.iter().cloned())
            .collect();
        self.model_names = models.iter().map(ModelChoice::short_name).collect();
        let ground_truth = open
            .study
            .labels
            .as_ref()
            .map(|_| open.layers[0].labels.clone());
        self.comparison = ground_truth.as_ref().map(|_| Comparison {
            reference_layer: 0,
            reference_name: "Ground truth".into(),
            models: self.model_names.clone(),
            rows: Vec::new(),
        });
        self.job = Some(CompareJob::spawn(
            open.study.clone(),
            models,
            run,
            subsets,
            ground_truth,
            ctx.clone(),
        ));
    }

    /// Cancels a running comparison and forgets results (their layers belong to the study).
    pub fn reset(&mut self) {
        if let Some(job) = self.job.take() {
            job.cancel();
        }
        self.comparison = None;
    }

    /// Takes the worker's results into layers and rows. Returns whether layers were added.
    pub fn poll(&mut self, open: &mut OpenStudy, errors: &mut Vec<String>) -> bool {
        let Some(job) = &self.job else { return false };
        let mut added = false;
        for message in job.drain() {
            match message {
                CompareMessage::Reference { subset, labels } => {
                    let layer = open.add_segmentation(subset.label(), labels);
                    self.comparison = Some(Comparison {
                        reference_layer: layer,
                        reference_name: format!("all available ({})", subset.label()),
                        models: self.model_names.clone(),
                        rows: Vec::new(),
                    });
                    added = true;
                }
                CompareMessage::Result {
                    model,
                    subset,
                    labels,
                    metrics,
                } => {
                    let name = condition_name(&self.model_names, model, subset);
                    let layer = open.add_segmentation(name, labels);
                    if let Some(c) = &mut self.comparison {
                        c.rows.push(CompareRow {
                            model,
                            subset,
                            layer,
                            metrics,
                        });
                        let (column, descending) = self.sort;
                        c.sort(column, descending);
                    }
                    added = true;
                }
                CompareMessage::Failed(e) => {
                    if !job.is_cancelled() {
                        errors.push(format!("Compare: {e}"));
                    }
                    self.job = None;
                    break;
                }
                CompareMessage::Finished => {
                    self.job = None;
                    break;
                }
            }
        }
        added
    }

    /// The layers of the comparison grid: the reference, then each condition in table order.
    pub fn grid_layers(&self) -> Vec<usize> {
        self.comparison.as_ref().map_or(Vec::new(), |c| {
            std::iter::once(c.reference_layer)
                .chain(c.rows.iter().map(|r| r.layer))
                .collect()
        })
    }

    /// Draws the window.
    pub fn show(
        &mut self,
        ctx: &egui::Context,
        open: &mut OpenStudy,
        view: &mut ViewState,
        focus: Plane,
        model: &ModelChoice,
    ) -> CompareAction {
        let mut action = CompareAction::None;
        let mut window_open = self.open;
        egui::Window::new("Compare across dropouts")
            .open(&mut window_open)
            // At the right, over the sagittal view, so the other views stay visible.
            .pivot(egui::Align2::RIGHT_TOP)
            .default_pos(ctx.content_rect().right_top() + egui::vec2(-8.0, 32.0))
            .default_size([640.0, 700.0])
            .vscroll(true)
            .show(ctx, |ui| {
                self.model_picker(ui, model);
                action = self.subset_picker(ui, open);
                if let Some(comparison) = &mut self.comparison {
                    ui.separator();
                    ui.label(format!(
                        "Scored against: {}  ({} conditions)",
                        comparison.reference_name,
                        comparison.rows.len()
                    ));
                    results_table(ui, comparison, &mut self.sort, open);
                    ui.horizontal(|ui| {
                        if ui.button("Show as grid").clicked() {
                            view.layout = Layout::CompareGrid(focus);
                        }
                        if ui.button("Export table as CSV…").clicked() {
                            action = CompareAction::ExportCsv;
                        }
                    });
                    dice_chart(ui, comparison);
                    difference_controls(ui, comparison, &mut self.difference_region, open, view);
                }
            });
        self.open = window_open;
        action
    }

    /// The models compared: the Segment section's, then any added here.
    fn model_picker(&mut self, ui: &mut egui::Ui, model: &ModelChoice) {
        ui.horizontal_wrapped(|ui| {
            ui.label("Models:");
            ui.label(format!("{} (Segment's)", model.short_name()))
                .on_hover_text(model.describe());
            let mut remove = None;
            for (i, extra) in self.extra_models.iter().enumerate() {
                ui.label(extra.short_name()).on_hover_text(extra.describe());
                if ui
                    .small_button("Remove")
                    .on_hover_text("Leave this model out")
                    .clicked()
                {
                    remove = Some(i);
                }
            }
            if let Some(i) = remove {
                self.extra_models.remove(i);
            }
            if ui
                .button("Add model…")
                .on_hover_text("Compare another model.metakd on the same conditions")
                .clicked()
            {
                self.add_model_from_dialog();
            }
        });
    }

    /// Asks for a model file and adds it to the compared models.
    pub fn add_model_from_dialog(&mut self) {
        if let Some(path) = rfd::FileDialog::new()
            .add_filter("MetaKD model", &["metakd"])
            .pick_file()
        {
            self.extra_models.push(ModelChoice::Path(path));
        }
    }

    fn subset_picker(&mut self, ui: &mut egui::Ui, open: &OpenStudy) -> CompareAction {
        ui.horizontal(|ui| {
            ui.label("Conditions:");
            let presets: [(&str, SubsetFilter); 4] = [
                ("All 15", |_| true),
                ("One modality", |s| s.count() == 1),
                ("Leave one out", |s| s.count() >= 3),
                ("None", |_| false),
            ];
            for (name, pick) in presets {
                if ui.button(name).clicked() {
                    self.chosen = Availability::all_subsets()
                        .into_iter()
                        .filter(|s| pick(*s))
                        .collect();
                }
            }
        });
        for count in 1..=4 {
            ui.horizontal_wrapped(|ui| {
                ui.weak(format!("{count}:"));
                for s in Availability::all_subsets()
                    .into_iter()
                    .filter(|s| s.count() == count)
                {
                    let possible = s.is_subset_of(open.study.available());
                    let mut chosen = self.chosen.contains(&s);
                    let toggled = ui
                        .add_enabled(possible, egui::Checkbox::new(&mut chosen, s.label()))
                        .changed();
                    if toggled && chosen {
                        self.chosen.insert(s);
                    } else if toggled {
                        self.chosen.remove(&s);
                    }
                }
            });
        }
        let runnable = self.runnable(open).len() * (1 + self.extra_models.len());
        match &self.job {
            Some(job) => {
                let (finished, current) = job.progress();
                ui.horizontal(|ui| {
                    ui.add(
                        egui::ProgressBar::new((finished as f32 + current) / job.total as f32)
                            .desired_width(360.0)
                            .text(format!("{finished} of {} segmentations done", job.total)),
                    );
                    if ui.button("Cancel").clicked() {
                        job.cancel();
                    }
                });
                CompareAction::None
            }
            None => {
                let label = format!("Run {runnable} conditions");
                let clicked = ui
                    .add_enabled(runnable > 0, egui::Button::new(label))
                    .on_hover_text(
                        "Segments the study once per condition with each model; each result \
                         becomes a layer",
                    )
                    .clicked();
                if clicked {
                    CompareAction::Start
                } else {
                    CompareAction::None
                }
            }
        }
    }
}

/// The sortable table; clicking a condition shows its layer.
fn results_table(
    ui: &mut egui::Ui,
    comparison: &mut Comparison,
    sort: &mut (Column, bool),
    open: &mut OpenStudy,
) {
    let mut clicked_column = None;
    egui::Grid::new("compare-table")
        .striped(true)
        .num_columns(10)
        .show(ui, |ui| {
            let mut header = |ui: &mut egui::Ui, text: &str, column: Column| {
                let arrow = match *sort {
                    (c, true) if c == column => " v",
                    (c, false) if c == column => " ^",
                    _ => "",
                };
                if ui
                    .add(
                        egui::Button::new(RichText::new(format!("{text}{arrow}")).strong())
                            .frame(false),
                    )
                    .on_hover_text("Sort by this column")
                    .clicked()
                {
                    clicked_column = Some(column);
                }
            };
            header(ui, "Condition", Column::Subset);
            for (r, region) in Region::ALL.into_iter().enumerate() {
                header(ui, &format!("Dice {}", region.name()), Column::Dice(r));
            }
            for (r, region) in Region::ALL.into_iter().enumerate() {
                header(ui, &format!("HD95 {} mm", region.name()), Column::Hd95(r));
            }
            for (r, region) in Region::ALL.into_iter().enumerate() {
                header(ui, &format!("{} mL", region.name()), Column::Volume(r));
            }
            ui.end_row();
            if let Some(first) = comparison.rows.first() {
                ui.weak("reference");
                for _ in 0..6 {
                    ui.label("");
                }
                for m in &first.metrics {
                    ui.weak(format!("{:.2}", m.reference_ml));
                }
                ui.end_row();
            }
            for row in &comparison.rows {
                let shown = open.shown == Some(row.layer);
                if ui
                    .selectable_label(shown, comparison.condition(row))
                    .on_hover_text("Show this condition's segmentation")
                    .clicked()
                {
                    open.shown = Some(row.layer);
                }
                // A region empty in both maps has nothing to score: "n/a", not a perfect 1.
                let both_empty = |m: &RegionMetrics| m.predicted_ml == 0.0 && m.reference_ml == 0.0;
                for m in &row.metrics {
                    not_applicable_or(ui, both_empty(m), format!("{:.3}", m.dice));
                }
                for m in &row.metrics {
                    not_applicable_or(ui, both_empty(m), format!("{:.1}", m.hd95_mm));
                }
                for m in &row.metrics {
                    ui.label(format!("{:.2}", m.predicted_ml));
                }
                ui.end_row();
            }
        });
    if let Some(column) = clicked_column {
        // A new column sorts best first (Dice high, HD95 low); clicking again reverses.
        let descending = if sort.0 == column {
            !sort.1
        } else {
            matches!(column, Column::Dice(_) | Column::Volume(_))
        };
        *sort = (column, descending);
        comparison.sort(column, descending);
    }
}

/// A table cell: `text`, or a weak "n/a" explaining that both maps are empty.
fn not_applicable_or(ui: &mut egui::Ui, not_applicable: bool, text: String) {
    if not_applicable {
        ui.weak("n/a")
            .on_hover_text("Empty in both: nothing to score (the CSV keeps Dice 1, HD95 0)");
    } else {
        ui.label(text);
    }
}

/// Dice per region for each condition, in table order.
fn dice_chart(ui: &mut egui::Ui, comparison: &Comparison) {
    let labels: Vec<String> = comparison
        .rows
        .iter()
        .map(|r| comparison.condition(r))
        .collect();
    let charts: Vec<BarChart> = Region::ALL
        .into_iter()
        .enumerate()
        .map(|(r, region)| {
            let bars = comparison
                .rows
                .iter()
                .enumerate()
                .map(|(i, row)| {
                    Bar::new(i as f64 + (r as f64 - 1.0) * 0.27, row.metrics[r].dice)
                        .width(0.25)
                        .name(&labels[i])
                })
                .collect();
            BarChart::new(region.name(), bars).color(REGION_COLOURS[r])
        })
        .collect();
    Plot::new("compare-dice")
        .height(180.0)
        .legend(Legend::default())
        .include_y(0.0)
        .include_y(1.0)
        .allow_scroll(false)
        .x_axis_formatter(move |mark, _| {
            let i = mark.value.round();
            if (mark.value - i).abs() < 1e-6 && i >= 0.0 {
                labels.get(i as usize).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .show(ui, |plot| {
            for chart in charts {
                plot.bar_chart(chart);
            }
        });
}

/// Picks two layers and a region for the TP/FP/FN overlay, and shows its legend.
fn difference_controls(
    ui: &mut egui::Ui,
    comparison: &Comparison,
    region: &mut Region,
    open: &OpenStudy,
    view: &mut ViewState,
) {
    ui.separator();
    ui.strong("Difference overlay");
    let mut difference = view.overlay.difference.unwrap_or(Difference {
        predicted: open.shown.unwrap_or(comparison.reference_layer),
        reference: comparison.reference_layer,
        region: *region,
    });
    let name = |i: usize| {
        open.layers
            .get(i)
            .map_or("?".to_string(), |l| l.name.clone())
    };
    ui.horizontal(|ui| {
        egui::ComboBox::from_label("against")
            .selected_text(name(difference.predicted))
            .show_ui(ui, |ui| {
                for (i, layer) in open.layers.iter().enumerate() {
                    ui.selectable_value(&mut difference.predicted, i, &layer.name);
                }
            });
        egui::ComboBox::from_label("in")
            .selected_text(name(difference.reference))
            .show_ui(ui, |ui| {
                for (i, layer) in open.layers.iter().enumerate() {
                    ui.selectable_value(&mut difference.reference, i, &layer.name);
                }
            });
        egui::ComboBox::from_label("region")
            .selected_text(difference.region.name())
            .show_ui(ui, |ui| {
                for r in Region::ALL {
                    ui.selectable_value(&mut difference.region, r, r.name());
                }
            });
    });
    *region = difference.region;
    let mut showing = view.overlay.difference.is_some();
    ui.checkbox(&mut showing, "Show the difference in the views");
    view.overlay.difference = showing.then_some(difference);
    if showing {
        ui.horizontal(|ui| {
            for a in Agreement::ALL {
                let [r, g, b] = a.rgb();
                let (rect, _) =
                    ui.allocate_exact_size(egui::vec2(12.0, 12.0), egui::Sense::hover());
                ui.painter()
                    .rect_filled(rect, 2.0, Color32::from_rgb(r, g, b));
                ui.label(a.name());
            }
        });
    }
}
