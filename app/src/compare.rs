//! Comparing segmentations across modality dropouts and models, as data and a background job:
//! the job segments the open study once per chosen model and availability subset and scores
//! each result against
//! a reference (the study's ground truth, or else the segmentation with every modality the
//! study has, made first). A model's subsets are segmented a few at a time, sharing the
//! encoder ([`SUBSETS_PER_PASS`]); results arrive after each pass, so a cancelled run keeps
//! what it finished. The table sorts by any column and exports as CSV.

use crate::segmenting::{ModelChoice, RunOn};
use engine::infer::{Segmenter, SUBSETS_PER_PASS};
use engine::metrics::{compare_label_maps, RegionMetrics};
use engine::prepare::PreparedCase;
use engine::study::{Availability, Study};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, TryRecvError};
use std::sync::Arc;

/// One compared condition.
#[derive(Debug, Clone, PartialEq)]
pub struct CompareRow {
    /// Which of [`Comparison::models`] segmented it.
    pub model: usize,
    pub subset: Availability,
    /// The condition's label layer in `OpenStudy::layers`.
    pub layer: usize,
    /// WT, TC, ET against the reference.
    pub metrics: [RegionMetrics; 3],
}

/// The comparison so far.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The layer the rows are scored against.
    pub reference_layer: usize,
    /// "Ground truth", or e.g. "all available (FLAIR+T1+T1ce+T2)".
    pub reference_name: String,
    /// The models compared, by name (one for a comparison of dropouts only).
    pub models: Vec<String>,
    pub rows: Vec<CompareRow>,
}

/// A condition's name: the subset, after the model's (`model: subset`) when several models
/// are compared.
pub fn condition_name(models: &[String], model: usize, subset: Availability) -> String {
    match models.get(model) {
        Some(name) if models.len() > 1 => format!("{name}: {}", subset.label()),
        _ => subset.label(),
    }
}

/// Every model on the device `run` names; at least one model.
fn open_all(models: &[ModelChoice], run: RunOn) -> Result<Vec<Segmenter>, String> {
    if models.is_empty() {
        return Err("no model chosen".into());
    }
    models.iter().map(|m| m.open(run)).collect()
}

/// A sortable column of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Subset,
    Dice(usize),
    Hd95(usize),
    Volume(usize),
}

impl Comparison {
    /// A row's name: its subset, after its model's when several models are compared.
    pub fn condition(&self, row: &CompareRow) -> String {
        condition_name(&self.models, row.model, row.subset)
    }

    /// Sorts the rows by `column` (subsets by number of modalities, then mask, then model, so
    /// the models' rows of one subset stand side by side).
    pub fn sort(&mut self, column: Column, descending: bool) {
        let value = |row: &CompareRow| -> f64 {
            match column {
                Column::Subset => {
                    f64::from(row.subset.count() as u8 * 16 + row.subset.id()) * 1000.0
                        + row.model as f64
                }
                Column::Dice(r) => row.metrics[r].dice,
                Column::Hd95(r) => row.metrics[r].hd95_mm,
                Column::Volume(r) => row.metrics[r].predicted_ml,
            }
        };
        self.rows.sort_by(|a, b| {
            let order = value(a).total_cmp(&value(b));
            if descending {
                order.reverse()
            } else {
                order
            }
        });
    }

    /// The table as CSV: one row per condition, Dice, HD95 (mm), sensitivity, specificity and
    /// volume (mL) per region, and the reference's volumes.
    pub fn to_csv(&self) -> String {
        let mut out = String::from("model,subset,reference");
        for region in ["WT", "TC", "ET"] {
            for column in [
                "dice",
                "hd95_mm",
                "sensitivity",
                "specificity",
                "volume_ml",
                "reference_volume_ml",
            ] {
                out.push_str(&format!(",{region}_{column}"));
            }
        }
        out.push('\n');
        for row in &self.rows {
            let model = self.models.get(row.model).map_or("", String::as_str);
            out.push_str(&format!(
                "{model},{},{}",
                row.subset.label(),
                self.reference_name
            ));
            for m in &row.metrics {
                out.push_str(&format!(
                    ",{:.4},{:.2},{:.4},{:.6},{:.3},{:.3}",
                    m.dice, m.hd95_mm, m.sensitivity, m.specificity, m.predicted_ml, m.reference_ml
                ));
            }
            out.push('\n');
        }
        out
    }
}

/// What the worker sends back.
pub enum CompareMessage {
    /// The full-modality segmentation used as reference (studies without ground truth).
    Reference {
        subset: Availability,
        labels: Vec<u8>,
    },
    /// One condition, scored.
    Result {
        model: usize,
        subset: Availability,
        labels: Vec<u8>,
        metrics: [RegionMetrics; 3],
    },
    Failed(String),
    /// Every subset is done (or the run was cancelled after the last message).
    Finished,
}

/// A comparison running in the background.
pub struct CompareJob {
    /// Segmentations to run in all (the reference included).
    pub total: usize,
    progress: Arc<JobProgress>,
    receiver: Receiver<CompareMessage>,
}

/// What the worker counts and the viewer reads, and the viewer's request to stop.
#[derive(Default)]
struct JobProgress {
    finished: AtomicUsize,
    /// Subsets in the pass that is running.
    pass_size: AtomicUsize,
    window_done: AtomicUsize,
    window_total: AtomicUsize,
    cancel: AtomicBool,
}

impl CompareJob {
    /// Segments `study` with each of `models` under each of `subsets` and scores each against
    /// `ground_truth` (label bytes on the study's grid) or, without it, against the first
    /// model's segmentation with all the modalities the study has.
    pub fn spawn(
        study: Arc<Study>,
        models: Vec<ModelChoice>,
        run: RunOn,
        subsets: Vec<Availability>,
        ground_truth: Option<Vec<u8>>,
        ctx: egui::Context,
    ) -> CompareJob {
        let (sender, receiver) = channel();
        let total = models.len() * subsets.len() + usize::from(ground_truth.is_none());
        let progress = Arc::new(JobProgress::default());
        let counters = progress.clone();
        std::thread::spawn(move || {
            let send = |m: CompareMessage| {
                // The receiver is gone only if the viewer closed; nothing is left to tell then.
                let _ = sender.send(m);
                ctx.request_repaint();
            };
            let job = Worker {
                study: &study,
                progress: &counters,
                ctx: &ctx,
                send: &send,
            };
            match job.compare(&models, run, &subsets, ground_truth) {
                Ok(()) => send(CompareMessage::Finished),
                Err(e) => send(CompareMessage::Failed(e)),
            }
        });
        CompareJob {
            total,
            progress,
            receiver,
        }
    }

    /// Segmentations finished, and how many of those in the running pass are done (a
    /// fraction of its size: the pass segments its subsets together).
    pub fn progress(&self) -> (usize, f32) {
        let p = &self.progress;
        let total = p.window_total.load(Ordering::Relaxed);
        let current = if total == 0 {
            0.0
        } else {
            let pass = p.pass_size.load(Ordering::Relaxed) as f32;
            pass * p.window_done.load(Ordering::Relaxed) as f32 / total as f32
        };
        (p.finished.load(Ordering::Relaxed), current)
    }

    /// Asks the worker to stop after the current window.
    pub fn cancel(&self) {
        self.progress.cancel.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.progress.cancel.load(Ordering::Relaxed)
    }

    /// The messages that arrived since the last call; `Finished` or `Failed` end the job.
    pub fn drain(&self) -> Vec<CompareMessage> {
        let mut messages = Vec::new();
        loop {
            match self.receiver.try_recv() {
                Ok(m) => messages.push(m),
                Err(TryRecvError::Empty) => return messages,
                Err(TryRecvError::Disconnected) => {
                    if !matches!(
                        messages.last(),
                        Some(CompareMessage::Finished | CompareMessage::Failed(_))
                    ) {
                        messages.push(CompareMessage::Failed(
                            "the comparison stopped unexpectedly".into(),
                        ));
                    }
                    return messages;
                }
            }
        }
    }
}

/// The background side of a [`CompareJob`]: the study, the counters it updates and where its
/// messages go.
struct Worker<'a> {
    study: &'a Study,
    progress: &'a JobProgress,
    ctx: &'a egui::Context,
    send: &'a dyn Fn(CompareMessage),
}

impl Worker<'_> {
    /// Segments and scores every condition (see [`CompareJob::spawn`]), sending each result
    /// as its pass ends; the error is the message to show.
    fn compare(
        &self,
        models: &[ModelChoice],
        run: RunOn,
        subsets: &[Availability],
        ground_truth: Option<Vec<u8>>,
    ) -> Result<(), String> {
        let segmenters = open_all(models, run)?;
        let first = &segmenters[0];
        let prepared = first.prepare(self.study).map_err(|e| e.to_string())?;
        let reference = match ground_truth {
            Some(labels) => labels,
            None => {
                let labels = self
                    .segment(first, &prepared, &[prepared.available])?
                    .remove(0);
                (self.send)(CompareMessage::Reference {
                    subset: prepared.available,
                    labels: labels.clone(),
                });
                labels
            }
        };
        let grid = self.study.reference();
        for (model, segmenter) in segmenters.iter().enumerate() {
            for pass in subsets.chunks(SUBSETS_PER_PASS) {
                let results = self.segment(segmenter, &prepared, pass)?;
                for (&subset, labels) in pass.iter().zip(results) {
                    let metrics = compare_label_maps(
                        &labels,
                        &reference,
                        self.study.convention,
                        grid.shape,
                        grid.voxel_sizes(),
                    );
                    (self.send)(CompareMessage::Result {
                        model,
                        subset,
                        labels,
                        metrics,
                    });
                }
            }
        }
        Ok(())
    }

    /// The label maps (on the study's grid) of one pass: `pass` segmented together.
    fn segment(
        &self,
        segmenter: &Segmenter,
        prepared: &PreparedCase,
        pass: &[Availability],
    ) -> Result<Vec<Vec<u8>>, String> {
        let p = self.progress;
        p.pass_size.store(pass.len(), Ordering::Relaxed);
        let results = segmenter
            .segment_prepared_subsets(prepared, pass, &mut |done, total| {
                p.window_done.store(done, Ordering::Relaxed);
                p.window_total.store(total, Ordering::Relaxed);
                self.ctx.request_repaint();
                !p.cancel.load(Ordering::Relaxed)
            })
            .map_err(|e| e.to_string())?;
        p.finished.fetch_add(pass.len(), Ordering::Relaxed);
        Ok(results
            .iter()
            .map(|r| {
                engine::infer::labels_in_source_grid(prepared, &r.regions, self.study.convention)
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics(dice: f64, ml: f64) -> [RegionMetrics; 3] {
        [RegionMetrics {
            dice,
            hd95_mm: 10.0 * (1.0 - dice),
            sensitivity: dice,
            specificity: 1.0,
            predicted_ml: ml,
            reference_ml: 5.0,
        }; 3]
    }

    fn comparison() -> Comparison {
        Comparison {
            reference_layer: 0,
            reference_name: "Ground truth".into(),
            models: vec!["bundled".into()],
            rows: vec![
                CompareRow {
                    model: 0,
                    subset: Availability::from_id(0b1111),
                    layer: 1,
                    metrics: metrics(0.9, 4.5),
                },
                CompareRow {
                    model: 0,
                    subset: Availability::from_id(0b0001),
                    layer: 2,
                    metrics: metrics(0.5, 9.0),
                },
                CompareRow {
                    model: 0,
                    subset: Availability::from_id(0b0101),
                    layer: 3,
                    metrics: metrics(0.7, 6.0),
                },
            ],
        }
    }

    #[test]
    fn sorts_by_any_column_both_ways() {
        let mut c = comparison();
        c.sort(Column::Dice(0), true);
        let order: Vec<u8> = c.rows.iter().map(|r| r.subset.id()).collect();
        assert_eq!(order, [0b1111, 0b0101, 0b0001]);
        c.sort(Column::Hd95(1), true);
        let order: Vec<u8> = c.rows.iter().map(|r| r.subset.id()).collect();
        assert_eq!(order, [0b0001, 0b0101, 0b1111]);
        c.sort(Column::Subset, false);
        let order: Vec<u8> = c.rows.iter().map(|r| r.subset.id()).collect();
        assert_eq!(order, [0b0001, 0b0101, 0b1111]);
        c.sort(Column::Volume(2), false);
        assert_eq!(c.rows[0].subset.id(), 0b1111);
    }

    #[test]
    fn csv_has_a_header_and_one_line_per_condition() {
        let csv = comparison().to_csv();
        let lines: Vec<&str> = csv.lines().collect();
        assert_eq!(lines.len(), 4);
        assert!(lines[0].starts_with("model,subset,reference,WT_dice,WT_hd95_mm"));
        assert_eq!(lines[0].split(',').count(), lines[1].split(',').count());
        assert!(lines[2].starts_with("bundled,FLAIR,Ground truth,0.5000,5.00,"));
    }

    /// With two models, rows are named after their model and a subset's rows sort together.
    #[test]
    fn two_models_sort_side_by_side_and_name_their_rows() {
        let mut c = comparison();
        c.models.push("baseline".into());
        let mut extra = c.rows.clone();
        for (row, layer) in extra.iter_mut().zip(4..) {
            row.model = 1;
            row.layer = layer;
        }
        c.rows.extend(extra);
        c.sort(Column::Subset, false);
        let order: Vec<(u8, usize)> = c.rows.iter().map(|r| (r.subset.id(), r.model)).collect();
        assert_eq!(
            order,
            [
                (0b0001, 0),
                (0b0001, 1),
                (0b0101, 0),
                (0b0101, 1),
                (0b1111, 0),
                (0b1111, 1)
            ]
        );
        assert_eq!(c.condition(&c.rows[1]), "baseline: FLAIR");
        assert_eq!(condition_name(&c.models[..1], 0, c.rows[0].subset), "FLAIR");
    }
}
