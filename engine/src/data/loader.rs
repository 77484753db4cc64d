//! Background batch loader: training batches (patches, region targets and availability masks)
//! made on worker threads from cases preprocessed once, held in memory or streamed from a
//! prepared data set on disk ([`CaseSource`]): the same batches either way.
//!
//! **Determinism.** Batch `b` depends only on the seed, `b` and the cases, never on thread
//! timing: it draws every random choice from its own `ChaCha8Rng` (seeded with `seed`, stream
//! `b`), and the cases it uses come from a per-epoch permutation (seeded with `seed`, stream
//! = epoch) walked in order, so each epoch visits every case once. Worker `w` of `W` makes
//! batches `w, w + W, w + 2W, …` into its own bounded queue and the consumer reads the queues
//! round-robin, so batches arrive in index order with no reordering buffer; the result is the
//! same with 0 (inline), 1 or many workers.
//!
//! **Memory.** At most `prefetch` batches (rounded up to a multiple of the worker count) wait
//! in the queues, plus one being made per worker (with, when streaming, the window of the
//! case it is cutting).
//!
//! **Shutdown and errors.** Dropping the loader tells the workers to stop, closes the queues
//! and joins the threads. A worker that fails (or panics) sends a [`DataError::Loader`] that
//! the consumer receives as an `Err` item; the loader then ends.
//!
//! **Missing modalities.** Each sample gets the modality subset the [`SubsetSampler`] chose,
//! intersected with the modalities its case has (see [`SubsetScope`]); the channels of the
//! modalities left out are set to zero in the batch, and the masks come with the batch.

use super::augment::AugmentConfig;
use super::error::DataError;
use super::patches::PatchConfig;
use super::source::CaseSource;
use super::subsets::SubsetSampler;
use crate::study::Availability;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

/// Whether one modality subset is drawn per batch or per sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum SubsetScope {
    /// One draw for the whole batch (MetaKD's released code); each sample keeps the draw's
    /// modalities that its case has, or, when that leaves nothing, gets its own draw from its
    /// case's modalities.
    #[default]
    Batch,
    /// An independent draw per sample, among its case's modalities.
    Sample,
}

/// Everything that shapes the batch stream.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LoaderConfig {
    /// Samples per batch (≥ 1).
    pub batch_size: usize,
    /// Worker threads; 0 makes each batch on the calling thread when it is asked for.
    pub workers: usize,
    /// Batches made ahead of the consumer, in total (at least one per worker).
    pub prefetch: usize,
    pub patch: PatchConfig,
    pub augment: AugmentConfig,
    pub subsets: SubsetSampler,
    pub scope: SubsetScope,
    pub seed: u64,
    /// Stop after this many batches; `None` for an endless stream.
    pub batches: Option<u64>,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig {
            batch_size: 2,
            workers: 2,
            prefetch: 4,
            patch: PatchConfig::default(),
            augment: AugmentConfig::default(),
            subsets: SubsetSampler::MetaKd,
            scope: SubsetScope::Batch,
            seed: 0,
            batches: None,
        }
    }
}

/// One training batch, laid out for `[N, C, D, H, W]` tensors.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// Position in the stream (0, 1, 2, …).
    pub index: u64,
    /// Patch size `[D, H, W]`.
    pub size: [usize; 3],
    /// Intensities, `[N, 4, D, H, W]`; channels of modalities a sample lacks are zero.
    pub images: Vec<f32>,
    /// Region targets (WT, TC, ET) as 0/1, `[N, 3, D, H, W]`.
    pub targets: Vec<u8>,
    /// Per sample: the modalities the network may use.
    pub availability: Vec<Availability>,
    /// The batch-wide draw ([`SubsetScope::Batch`]); `None` per sample.
    pub subset: Option<Availability>,
    /// Per sample: index of its case in the loader's case list.
    pub cases: Vec<usize>,
    /// Per sample: patch origin in the case's cropped grid.
    pub origins: Vec<[isize; 3]>,
    /// Per sample: whether the patch was centred on a tumour voxel.
    pub fg_centred: Vec<bool>,
}

impl Batch {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.availability.len()
    }

    pub fn is_empty(&self) -> bool {
        self.availability.is_empty()
    }

    /// The targets as `f32` 0.0/1.0, `[N, 3, D, H, W]`.
    pub fn targets_f32(&self) -> Vec<f32> {
        self.targets.iter().map(|v| f32::from(*v)).collect()
    }

    /// The availability shared by every sample, if it is the same for all.
    pub fn common_availability(&self) -> Option<Availability> {
        let first = *self.availability.first()?;
        self.availability
            .iter()
            .all(|a| *a == first)
            .then_some(first)
    }
}

/// Makes batch `index` of the stream defined by `cases` and `cfg` (what a worker runs; public
/// so callers can reproduce a single batch). Fails only when a streamed case cannot be read.
pub fn make_batch(cases: &CaseSource, cfg: &LoaderConfig, index: u64) -> Result<Batch, DataError> {
    make_batch_with(cases, cfg, index, &mut EpochOrder::default())
}

/// Per-thread cache of the current epoch's case permutation.
#[derive(Default)]
struct EpochOrder {
    epoch: Option<u64>,
    order: Vec<usize>,
}

impl EpochOrder {
    fn case(&mut self, n: usize, seed: u64, sample: u64) -> usize {
        let epoch = sample / n as u64;
        if self.epoch != Some(epoch) {
            let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x9e37_79b9_7f4a_7c15);
            rng.set_stream(epoch);
            self.order = (0..n).collect();
            self.order.shuffle(&mut rng);
            self.epoch = Some(epoch);
        }
        self.order[(sample % n as u64) as usize]
    }
}

fn make_batch_with(
    cases: &CaseSource,
    cfg: &LoaderConfig,
    index: u64,
    order: &mut EpochOrder,
) -> Result<Batch, DataError> {
    let mut rng = ChaCha8Rng::seed_from_u64(cfg.seed);
    rng.set_stream(index);
    let n = cfg.batch_size;
    let pn = cfg.patch.voxels();
    let subset = match cfg.scope {
        SubsetScope::Batch => Some(cfg.subsets.sample(&mut rng)),
        SubsetScope::Sample => None,
    };
    let mut batch = Batch {
        index,
        size: cfg.patch.size,
        // Zeroed once here; each sample is cut straight into its section, and the channels
        // of modalities it lacks are never written.
        images: vec![0.0; n * 4 * pn],
        targets: vec![0; n * 3 * pn],
        availability: Vec::with_capacity(n),
        subset,
        cases: Vec::with_capacity(n),
        origins: Vec::with_capacity(n),
        fg_centred: Vec::with_capacity(n),
    };
    for i in 0..n {
        let case_index = order.case(cases.len(), cfg.seed, index * n as u64 + i as u64);
        let has = cases.available(case_index);
        let available = match subset {
            Some(s) => {
                let both = s.intersection(has);
                if both.is_empty() {
                    cfg.subsets.sample_within(has, &mut rng)
                } else {
                    both
                }
            }
            None => cfg.subsets.sample_within(has, &mut rng),
        };
        let spec = cases.sample_into(
            case_index,
            &cfg.patch,
            &cfg.augment,
            available,
            &mut rng,
            (
                &mut batch.images[i * 4 * pn..(i + 1) * 4 * pn],
                &mut batch.targets[i * 3 * pn..(i + 1) * 3 * pn],
            ),
        )?;
        batch.availability.push(available);
        batch.cases.push(case_index);
        batch.origins.push(spec.origin);
        batch.fg_centred.push(spec.fg_voxel.is_some());
    }
    Ok(batch)
}

type Item = Result<Batch, DataError>;

/// The batch stream; iterate it (`for batch in loader`) or call [`Loader::next_batch`].
pub struct Loader {
    cases: CaseSource,
    cfg: LoaderConfig,
    /// First batch index of this stream.
    start: u64,
    next: u64,
    done: bool,
    stop: Arc<AtomicBool>,
    queues: Vec<Receiver<Item>>,
    workers: Vec<JoinHandle<()>>,
    inline_order: EpochOrder,
}

impl Loader {
    /// Checks the configuration and starts the workers.
    pub fn spawn(cases: impl Into<CaseSource>, cfg: LoaderConfig) -> Result<Loader, DataError> {
        Loader::spawn_from(cases, cfg, 0)
    }

    /// Like [`Loader::spawn`], but the stream starts at batch `start` (resuming a run: the
    /// batches are those an uninterrupted loader would have made from there on).
    pub fn spawn_from(
        cases: impl Into<CaseSource>,
        cfg: LoaderConfig,
        start: u64,
    ) -> Result<Loader, DataError> {
        let cases: CaseSource = cases.into();
        if cases.is_empty() {
            return Err(DataError::Config {
                what: "loader",
                reason: "no cases to sample from; load a dataset with at least one usable case"
                    .into(),
            });
        }
        if cfg.batch_size == 0 {
            return Err(DataError::Config {
                what: "batch size",
                reason: "must be at least 1".into(),
            });
        }
        cfg.patch.check()?;
        cfg.augment.check()?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut queues = Vec::with_capacity(cfg.workers);
        let mut workers = Vec::with_capacity(cfg.workers);
        let depth = cfg.prefetch.div_ceil(cfg.workers.max(1)).max(1);
        for w in 0..cfg.workers {
            let (tx, rx) = sync_channel(depth);
            let (cases, cfg2, stop) = (cases.clone(), cfg.clone(), stop.clone());
            let handle = std::thread::Builder::new()
                .name(format!("batch-loader-{w}"))
                .spawn(move || worker(w as u64, start, cases, cfg2, stop, tx))
                .map_err(|e| DataError::Loader(format!("cannot start worker thread {w}: {e}")))?;
            queues.push(rx);
            workers.push(handle);
        }
        Ok(Loader {
            cases,
            cfg,
            start,
            next: start,
            done: false,
            stop,
            queues,
            workers,
            inline_order: EpochOrder::default(),
        })
    }

    /// The configuration the loader runs with.
    pub fn config(&self) -> &LoaderConfig {
        &self.cfg
    }

    /// The cases it samples from (batch `cases` index into this).
    pub fn cases(&self) -> &CaseSource {
        &self.cases
    }

    /// The next batch, an error from a worker, or `None` at the end of the stream.
    pub fn next_batch(&mut self) -> Option<Item> {
        if self.done || self.cfg.batches.is_some_and(|limit| self.next >= limit) {
            return None;
        }
        let index = self.next;
        let item = if self.queues.is_empty() {
            make_batch_with(&self.cases, &self.cfg, index, &mut self.inline_order)
        } else {
            let w = ((index - self.start) % self.queues.len() as u64) as usize;
            match self.queues[w].recv() {
                Ok(item) => item,
                Err(_) => Err(DataError::Loader(format!(
                    "worker {w} stopped before making batch {index}"
                ))),
            }
        };
        match &item {
            Ok(_) => self.next += 1,
            Err(_) => self.done = true,
        }
        Some(item)
    }
}

impl Iterator for Loader {
    type Item = Result<Batch, DataError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_batch()
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Closing the queues wakes workers blocked on a full queue.
        self.queues.clear();
        for handle in self.workers.drain(..) {
            let _ = handle.join();
        }
    }
}

fn worker(
    w: u64,
    start: u64,
    cases: CaseSource,
    cfg: LoaderConfig,
    stop: Arc<AtomicBool>,
    tx: SyncSender<Item>,
) {
    let stride = cfg.workers.max(1) as u64;
    let mut order = EpochOrder::default();
    let mut index = start + w;
    while !stop.load(Ordering::SeqCst) && cfg.batches.is_none_or(|limit| index < limit) {
        let made = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            make_batch_with(&cases, &cfg, index, &mut order)
        }));
        let item = made
            .map_err(|panic| {
                let msg = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                DataError::Loader(format!(
                    "worker {w} failed while making batch {index}: {msg}"
                ))
            })
            .and_then(|made| made);
        let failed = item.is_err();
        if tx.send(item).is_err() || failed {
            return;
        }
        index += stride;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::patches::tests::synthetic_case;
    use crate::prepare::PreparedCase;
    use crate::study::Modality;
    use std::time::{Duration, Instant};

    fn cases() -> Vec<Arc<PreparedCase>> {
        let mut a = synthetic_case([12, 14, 16], Some(([4, 4, 4], [7, 8, 9])));
        a.name = "a".into();
        let mut b = synthetic_case([10, 10, 10], Some(([2, 2, 2], [3, 3, 3])));
        b.name = "b".into();
        // Case c lacks T1 and T2.
        let mut c = synthetic_case([9, 11, 13], None);
        c.name = "c".into();
        c.available = Availability::from_id(0b0101);
        let n = c.voxels();
        for ch in [1, 3] {
            c.image[ch * n..(ch + 1) * n].fill(0.0);
        }
        vec![Arc::new(a), Arc::new(b), Arc::new(c)]
    }

    fn config(workers: usize) -> LoaderConfig {
        LoaderConfig {
            batch_size: 3,
            workers,
            prefetch: 3,
            patch: PatchConfig {
                size: [8, 6, 10],
                foreground_fraction: 0.5,
            },
            augment: AugmentConfig::with_rotation(),
            subsets: SubsetSampler::MetaKd,
            scope: SubsetScope::Batch,
            seed: 42,
            batches: Some(12),
        }
    }

    #[test]
    fn same_batches_with_any_number_of_workers() {
        let reference: Vec<Batch> = Loader::spawn(cases(), config(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(reference.len(), 12);
        for workers in [1, 3, 5] {
            let got: Vec<Batch> = Loader::spawn(cases(), config(workers))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            assert_eq!(got, reference, "{workers} workers");
        }
        // make_batch reproduces any single batch.
        assert_eq!(
            make_batch(&cases().into(), &config(0), 7).unwrap(),
            reference[7]
        );
        // Another seed gives another stream.
        let other = Loader::spawn(
            cases(),
            LoaderConfig {
                seed: 43,
                ..config(2)
            },
        )
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
        assert_ne!(other, reference[0]);
    }

    #[test]
    fn batches_are_shaped_masked_and_cover_each_epoch() {
        let batches: Vec<Batch> = Loader::spawn(cases(), config(2))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let pn = 8 * 6 * 10;
        for (i, b) in batches.iter().enumerate() {
            assert_eq!(b.index, i as u64);
            assert_eq!(b.len(), 3);
            assert_eq!(b.images.len(), 3 * 4 * pn);
            assert_eq!(b.targets.len(), 3 * 3 * pn);
            for s in 0..3 {
                let case = &cases()[b.cases[s]];
                let avail = b.availability[s];
                assert!(!avail.is_empty());
                assert_eq!(
                    avail.difference(case.available),
                    Availability::NONE,
                    "sample uses a modality its case lacks"
                );
                if let Some(batch_subset) = b.subset {
                    let both = batch_subset.intersection(case.available);
                    assert!(both.is_empty() || avail == both);
                }
                for c in 0..4 {
                    let ch = &b.images[(s * 4 + c) * pn..(s * 4 + c + 1) * pn];
                    if !avail.contains(Modality::ALL[c]) {
                        assert!(ch.iter().all(|v| *v == 0.0), "dropped channel {c} not zero");
                    }
                }
            }
        }
        // 12 batches × 3 samples = 36 samples = 12 epochs of 3 cases: each case once per epoch.
        let all: Vec<usize> = batches.iter().flat_map(|b| b.cases.clone()).collect();
        for epoch in all.chunks(3) {
            let mut e = epoch.to_vec();
            e.sort();
            assert_eq!(e, [0, 1, 2]);
        }
        // Per-sample scope: no batch-wide draw.
        let b = Loader::spawn(
            cases(),
            LoaderConfig {
                scope: SubsetScope::Sample,
                ..config(1)
            },
        )
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
        assert_eq!(b.subset, None);
    }

    #[test]
    fn drop_stops_blocked_workers_quickly() {
        let cfg = LoaderConfig {
            batches: None,
            ..config(3)
        };
        let mut loader = Loader::spawn(cases(), cfg).unwrap();
        assert!(loader.next().unwrap().is_ok());
        // Let the workers fill their queues and block.
        std::thread::sleep(Duration::from_millis(50));
        let t = Instant::now();
        drop(loader);
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn rejects_bad_configs() {
        assert!(Loader::spawn(Vec::<Arc<PreparedCase>>::new(), config(1)).is_err());
        assert!(Loader::spawn(
            cases(),
            LoaderConfig {
                batch_size: 0,
                ..config(1)
            }
        )
        .is_err());
        let mut cfg = config(1);
        cfg.patch.size = [0, 4, 4];
        assert!(Loader::spawn(cases(), cfg).is_err());
    }
}
