//! Segmenting the open study off the UI thread: a job runs the engine's sliding-window
//! segmenter on a worker thread, reports progress through atomics, can be cancelled, and hands
//! back the label map (on the study's grid) or an error naming the model file.

use engine::compute::{self, Compute};
use engine::infer::device_choice::{self, DeviceChoice};
use engine::infer::{Mirror, Segmenter, FAST_OVERLAP};
use engine::study::{Availability, Study};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, TryRecvError};
use std::sync::{Arc, Mutex};

/// Which model segments: the bundled one, or a model file / run folder the user chose.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ModelChoice {
    #[default]
    Bundled,
    Path(PathBuf),
}

impl ModelChoice {
    /// A short name for tables and layers: `bundled`, the file's stem, or the run folder's
    /// name for a run's `model.metakd`.
    pub fn short_name(&self) -> String {
        match self {
            ModelChoice::Bundled => "bundled".into(),
            ModelChoice::Path(p) => {
                let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned());
                let parent = p.parent().and_then(|d| d.file_name());
                match (stem.as_deref(), parent) {
                    (Some("model"), Some(run)) => run.to_string_lossy().into_owned(),
                    (Some(stem), _) => stem.to_string(),
                    (None, _) => p.display().to_string(),
                }
            }
        }
    }

    pub fn describe(&self) -> String {
        match self {
            ModelChoice::Bundled => "bundled (desktop MetaKD)".into(),
            ModelChoice::Path(p) => p.display().to_string(),
        }
    }

    /// The model on the device `run` names (see [`compute_name`]), with its window overlap.
    pub fn open(&self, run: RunOn) -> Result<Segmenter, String> {
        let device = compute::device(run.compute)?;
        let mut segmenter = match self {
            ModelChoice::Bundled => Segmenter::bundled(&device),
            ModelChoice::Path(p) => Segmenter::open(p, &device),
        }
        .map_err(|e| e.to_string())?;
        if run.fast {
            segmenter.config.overlap = FAST_OVERLAP;
        }
        if run.mirror {
            segmenter.config.mirror = Mirror::Xyz;
        }
        Ok(segmenter)
    }
}

/// Where Segment and Compare run, and whether in fast mode or with mirrored passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunOn {
    pub compute: Compute,
    /// Windows overlap by [`FAST_OVERLAP`] instead of the default half: fewer windows, at a
    /// small cost in Dice (docs/model.md).
    pub fast: bool,
    /// Each window also runs mirrored along every combination of the three axes, and the
    /// eight outputs are averaged ([`Mirror::Xyz`]): about 8× the time.
    pub mirror: bool,
}

/// How the viewer names a compute device: wgpu runs on the GPU, or on Mesa's lavapipe (a
/// software Vulkan driver) where there is none.
pub fn compute_name(compute: Compute) -> &'static str {
    match compute {
        Compute::Wgpu => "GPU (wgpu)",
        Compute::Cpu => "CPU",
    }
}

/// At start-up, in the background: which device segments faster on this machine
/// (`engine::infer::device_choice`: measured once per machine, then read back) and that
/// device's kernels compiled, so the first segmentation pays for neither.
pub struct DevicePick {
    result: Arc<Mutex<Option<DeviceChoice>>>,
}

impl DevicePick {
    /// Starts choosing between the CPU and wgpu for `model`; the measurement is kept in
    /// `cache` (none: measured at every start).
    pub fn spawn(model: ModelChoice, cache: Option<PathBuf>, ctx: egui::Context) -> DevicePick {
        let result = Arc::new(Mutex::new(None));
        let slot = result.clone();
        std::thread::spawn(move || {
            let open = |compute| {
                model.open(RunOn {
                    compute,
                    fast: false,
                    mirror: false,
                })
            };
            let adapter = compute::device(Compute::Wgpu)
                .ok()
                .and_then(|device| engine::ops::adapter_name(&device));
            let machine = device_choice::machine_key(adapter.as_deref());
            let measured = std::cell::Cell::new(false);
            let choice = device_choice::load_or_measure(cache.as_deref(), &machine, |compute| {
                measured.set(true);
                open(compute)?.batch_seconds().map_err(|e| e.to_string())
            });
            // Measuring compiled the kernels; a kept measurement did not. A failure shows
            // when the user segments, with the device's own message.
            if !measured.get() {
                let _ = open(choice.fastest()).map(|segmenter| segmenter.warm_up());
            }
            *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(choice);
            ctx.request_repaint();
        });
        DevicePick { result }
    }

    /// The choice, once it is made (taken: later calls return `None`).
    pub fn take(&self) -> Option<DeviceChoice> {
        self.result.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// A segmentation running in the background.
pub struct SegmentJob {
    /// The layer name it will get, e.g. `FLAIR+T1+T2`.
    pub name: String,
    done: Arc<AtomicUsize>,
    total: Arc<AtomicUsize>,
    cancel: Arc<AtomicBool>,
    receiver: Receiver<Result<Vec<u8>, String>>,
}

impl SegmentJob {
    /// Starts segmenting `study` with the modalities in `availability`, as `run` says.
    pub fn spawn(
        study: Arc<Study>,
        model: ModelChoice,
        run: RunOn,
        availability: Availability,
        ctx: egui::Context,
    ) -> SegmentJob {
        let (sender, receiver) = channel();
        let done = Arc::new(AtomicUsize::new(0));
        let total = Arc::new(AtomicUsize::new(0));
        let cancel = Arc::new(AtomicBool::new(false));
        let (d, t, c) = (done.clone(), total.clone(), cancel.clone());
        std::thread::spawn(move || {
            let result = model.open(run).and_then(|segmenter| {
                segmenter
                    .segment(&study, availability, &mut |done, total| {
                        d.store(done, Ordering::Relaxed);
                        t.store(total, Ordering::Relaxed);
                        ctx.request_repaint();
                        !c.load(Ordering::Relaxed)
                    })
                    .map_err(|e| e.to_string())
            });
            // The receiver is gone only if the app closed; nothing is left to tell then.
            let _ = sender.send(result);
            ctx.request_repaint();
        });
        SegmentJob {
            name: availability.label(),
            done,
            total,
            cancel,
            receiver,
        }
    }

    /// Fraction of windows done (0 until the first is).
    pub fn progress(&self) -> f32 {
        let total = self.total.load(Ordering::Relaxed);
        if total == 0 {
            0.0
        } else {
            self.done.load(Ordering::Relaxed) as f32 / total as f32
        }
    }

    /// Asks the worker to stop after the current window.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Relaxed)
    }

    /// The label bytes (on-disk order of the study's grid) once the worker has finished.
    pub fn poll(&self) -> Option<Result<Vec<u8>, String>> {
        match self.receiver.try_recv() {
            Ok(result) => Some(result),
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                Some(Err("the segmentation stopped unexpectedly".into()))
            }
        }
    }
}
