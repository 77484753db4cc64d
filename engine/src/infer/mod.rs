//! Whole-volume inference: a sliding window over a study with any subset of its modalities,
//! probabilities → WT/TC/ET masks → BraTS labels in the source image's grid and geometry.
//!
//! The study is preprocessed as for training (brain crop, per-modality z-score), the channels of
//! modalities left out are zeroed (the network imputes their bottleneck features), windows of
//! the model's patch size step with the chosen overlap (the last window of an axis is flush
//! with the volume's end; an axis shorter than the window is zero-padded), the sigmoid
//! outputs (optionally the mean over mirrored passes, [`Mirror`]) are averaged with uniform or
//! Gaussian weights (windows without a brain voxel are skipped: their voxels stay background),
//! thresholded at 0.5, kept inside the brain (voxels where a modality used is above
//! background), cleaned of small components (see [`PostProcess`]; on by default), and turned
//! into labels (ET → 4 or 3, TC without ET → 1, WT without TC → 2) outside of which the crop is 0.

pub mod device_choice;
pub mod eval;
mod postprocess;
mod window;

pub use postprocess::{components, PostProcess};
pub use window::{window_starts, WeightMap};

use crate::model::file::{bundled_model_path, ModelMeta};
use crate::model::{AbsentLevels, MetaKdNet, ModelFile, ModelFileError};
use crate::prepare::{prepare, PreparedCase, PreprocessConfig};
use crate::study::{Availability, LabelConvention, Modality, Study};
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor, TensorData};
use std::path::Path;

/// How windows are combined.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weighting {
    Uniform,
    /// σ = window / 8 per axis (nnU-Net's choice): window borders count less.
    Gaussian,
}

/// Test-time mirroring (nnU-Net's test-time augmentation): each window also goes through the
/// network mirrored, the outputs are mirrored back, and the probabilities of all passes are
/// averaged. Training flips every axis with probability ½ (`AugmentConfig`), so the network
/// has seen each mirror image; the cost is one network pass per mirror image.
#[derive(
    Debug,
    Clone,
    Copy,
    Default,
    PartialEq,
    Eq,
    serde::Serialize,
    serde::Deserialize,
    clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum Mirror {
    /// One pass, as the window is.
    #[default]
    Off,
    /// Two passes: as is, and mirrored along the first voxel axis x (W; left–right in BraTS
    /// files).
    X,
    /// Eight passes: every combination of mirroring along x, y and z.
    Xyz,
}

impl Mirror {
    /// The dimensions of a `[N, C, D, H, W]` window batch each pass mirrors (none for the
    /// first pass).
    fn passes(self) -> Vec<Vec<usize>> {
        const W: usize = 4;
        match self {
            Mirror::Off => vec![vec![]],
            Mirror::X => vec![vec![], vec![W]],
            // Bit a of the pass number mirrors voxel axis a (x, y, z = W, H, D).
            Mirror::Xyz => (0..8)
                .map(|pass: usize| {
                    (0..3)
                        .filter(|a| pass >> a & 1 == 1)
                        .map(|a| W - a)
                        .collect()
                })
                .collect(),
        }
    }
}

/// `t` mirrored along `dims` (mirroring is its own inverse).
fn mirrored(t: Tensor<5>, dims: &[usize]) -> Tensor<5> {
    dims.iter().fold(t, |t, d| t.flip([*d]))
}

/// The window overlap of fast mode (the default is 0.5): on the BraTS-size sample, 79
/// windows instead of 178 and half the time; its Dice cost is in docs/model.md.
pub const FAST_OVERLAP: f64 = 0.25;

/// Subsets segmented together in one sliding-window pass
/// ([`Segmenter::segment_prepared_subsets`]) by the evaluation and the viewer's comparison:
/// the encoder runs once per pass, and each subset in a pass holds four more floats per voxel
/// while it runs (16 bytes per voxel: 58 MB for the average brain crop of issue #18's 200
/// BraTS-size phantoms, 3.6 M voxels, by their prepared shapes). Five make the 15 subsets
/// three passes.
pub const SUBSETS_PER_PASS: usize = 5;

/// Sliding-window settings.
#[derive(Debug, Clone, PartialEq)]
pub struct InferConfig {
    /// Window `[D, H, W]`; `None` uses the patch size the model was trained on.
    pub window: Option<[usize; 3]>,
    /// Fraction of a window shared with the next one (0 ≤ overlap < 1).
    pub overlap: f64,
    pub weighting: Weighting,
    /// Probability above which a voxel is in a region.
    pub threshold: f32,
    /// Test-time mirroring: more network passes per window, averaged.
    pub mirror: Mirror,
    /// Small-component removal and ET suppression on the thresholded masks (`None`: off).
    pub postprocess: Option<PostProcess>,
    /// Windows sent through the network together (≥ 1). The results do not depend on it; on
    /// a GPU larger batches keep it busy between the many small kernel launches.
    pub batch: usize,
    /// Skip windows that hold no brain voxel (no modality used above background there). Brain voxels get the same probabilities; background voxels are averaged over
    /// the windows that ran (0 where none did).
    pub skip_background: bool,
    /// Keep labels only inside the brain: voxels where a modality used is above background.
    /// BraTS images are skull-stripped and their tumours lie inside that mask; without this,
    /// the network can mark empty background next to the brain (seen on real BraTS 2018
    /// cases, docs/model.md).
    pub brain_only: bool,
}

impl Default for InferConfig {
    fn default() -> Self {
        InferConfig {
            window: None,
            overlap: 0.5,
            weighting: Weighting::Gaussian,
            threshold: 0.5,
            mirror: Mirror::Off,
            postprocess: Some(PostProcess::default()),
            batch: 4,
            skip_background: true,
            brain_only: true,
        }
    }
}

/// Problems segmenting a study.
#[derive(Debug, thiserror::Error)]
pub enum InferError {
    #[error(transparent)]
    Model(#[from] ModelFileError),
    #[error("{case}: {reason}")]
    Input { case: String, reason: String },
    #[error("segmentation cancelled")]
    Cancelled,
    #[error("inference settings: {0}")]
    Config(String),
}

/// A segmentation in the preprocessed (cropped) grid, plus what is needed to put it back.
#[derive(Debug, Clone)]
pub struct CroppedSegmentation {
    /// `[3, D, H, W]` probabilities of WT, TC, ET.
    pub probabilities: Vec<f32>,
    /// `[3, D, H, W]` thresholded, post-processed regions (0/1), nested WT ⊇ TC ⊇ ET like the
    /// label map they become ([`nest_regions`]).
    pub regions: Vec<u8>,
    pub availability: Availability,
}

/// A trained network ready to segment studies.
pub struct Segmenter {
    net: MetaKdNet,
    pub meta: ModelMeta,
    device: Device,
    pub config: InferConfig,
}

impl Segmenter {
    /// Loads a model file (or a run folder's model) onto `device` (a device without autodiff).
    pub fn open(path: &Path, device: &Device) -> Result<Segmenter, ModelFileError> {
        let file = ModelFile::read(path)?;
        let net = file.load(path, device)?;
        Ok(Segmenter {
            net,
            meta: file.meta,
            device: device.clone(),
            config: InferConfig::default(),
        })
    }

    /// The bundled `desktop` model.
    pub fn bundled(device: &Device) -> Result<Segmenter, ModelFileError> {
        Segmenter::open(&bundled_model_path(), device)
    }

    /// The window size in use.
    pub fn window(&self) -> [usize; 3] {
        self.config.window.unwrap_or(self.meta.patch)
    }

    fn check(&self) -> Result<(), InferError> {
        let multiple = self.meta.config.size_multiple();
        let window = self.window();
        if (0..3).any(|a| window[a] == 0 || !window[a].is_multiple_of(multiple[a])) {
            return Err(InferError::Config(format!(
                "window {window:?} must be positive multiples of {multiple:?} (D, H, W) for this model"
            )));
        }
        if !(0.0..1.0).contains(&self.config.overlap) {
            return Err(InferError::Config(format!(
                "overlap {} must be at least 0 and below 1",
                self.config.overlap
            )));
        }
        if self.config.batch == 0 {
            return Err(InferError::Config(
                "the window batch must be at least 1".to_string(),
            ));
        }
        Ok(())
    }

    /// Preprocesses `study` for this model.
    pub fn prepare(&self, study: &Study) -> Result<PreparedCase, InferError> {
        prepare(study, &PreprocessConfig::default()).map_err(|e| InferError::Input {
            case: study.name.clone(),
            reason: e.to_string(),
        })
    }

    /// Segments a preprocessed case using only the modalities in `wanted` that it has.
    /// `progress(done, total)` is called after each window; returning `false` cancels.
    pub fn segment_prepared(
        &self,
        case: &PreparedCase,
        wanted: Availability,
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<CroppedSegmentation, InferError> {
        let mut segmentations = self.segment_prepared_subsets(case, &[wanted], progress)?;
        Ok(segmentations.remove(0))
    }

    /// Segments a preprocessed case once for each entry of `subsets` (each using the
    /// modalities of that entry the case has), in one sliding-window pass: every window runs
    /// the encoder once for all of them ([`MetaKdNet::forward_subsets`]). Each result is the
    /// one [`Segmenter::segment_prepared`] gives for that subset alone. Holds four floats per
    /// voxel per subset while it runs. `progress(done, total)` is called after each batch of
    /// windows; returning `false` cancels.
    pub fn segment_prepared_subsets(
        &self,
        case: &PreparedCase,
        subsets: &[Availability],
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Vec<CroppedSegmentation>, InferError> {
        self.check()?;
        let availabilities = subsets
            .iter()
            .map(|wanted| usable_modalities(case, *wanted))
            .collect::<Result<Vec<_>, _>>()?;
        let union = availabilities
            .iter()
            .fold(Availability::NONE, |u, a| u.union(*a));
        let window = self.window();
        let shape = case.shape;
        let weights = WeightMap::new(window, self.config.weighting);
        let starts: Vec<Vec<usize>> = (0..3)
            .map(|a| window_starts(shape[a], window[a], self.config.overlap))
            .collect();
        let mut origins = Vec::new();
        for &z in &starts[0] {
            for &y in &starts[1] {
                origins.extend(starts[2].iter().map(|&x| [z, y, x]));
            }
        }
        let brains: Vec<Vec<bool>> = availabilities
            .iter()
            .map(|a| brain_mask(case, *a))
            .collect();
        // Which subsets each window is for (all, unless windows without brain are skipped).
        let mut windows: Vec<([usize; 3], Vec<bool>)> = origins
            .into_iter()
            .map(|origin| {
                let uses = brains
                    .iter()
                    .map(|brain| {
                        !self.config.skip_background
                            || window_holds_brain(brain, shape, origin, window)
                    })
                    .collect();
                (origin, uses)
            })
            .collect();
        windows.retain(|(_, uses)| uses.contains(&true));
        let total = windows.len();
        let voxels = case.voxels();
        let window_values = 4 * window.iter().product::<usize>();
        let mut sums = vec![WindowSums::new(voxels); subsets.len()];
        let absent = self.net.absent_levels(window, &self.device);
        let mut done = 0;
        for chunk in windows.chunks(self.config.batch) {
            let mut input = vec![0f32; chunk.len() * window_values];
            for ((origin, _), out) in chunk.iter().zip(input.chunks_mut(window_values)) {
                fill_window(case, union, *origin, window, out);
            }
            let data = TensorData::new(input, [chunk.len(), 4, window[0], window[1], window[2]]);
            let images = Tensor::<5>::from_data(data, &self.device);
            let mean_probabilities =
                self.mirrored_probabilities(images, &availabilities, absent.as_ref());
            for (s, mean) in mean_probabilities.into_iter().enumerate() {
                let probabilities: Vec<f32> = mean
                    .into_data()
                    .try_to_vec::<f32>()
                    .expect("f32 probabilities");
                let window_probabilities = probabilities.len() / chunk.len();
                for ((origin, uses), p) in
                    chunk.iter().zip(probabilities.chunks(window_probabilities))
                {
                    if uses[s] {
                        sums[s].add(p, &weights, *origin, window, shape);
                    }
                }
            }
            done += chunk.len();
            if !progress(done, total) {
                return Err(InferError::Cancelled);
            }
        }
        Ok(sums
            .into_iter()
            .zip(availabilities)
            .zip(&brains)
            .map(|((sums, availability), brain)| self.finish(case, sums, availability, brain))
            .collect())
    }

    /// Each subset's sigmoid probabilities for a batch of windows, averaged over the mirrored
    /// passes of [`InferConfig::mirror`] (each pass's output mirrored back first).
    fn mirrored_probabilities(
        &self,
        images: Tensor<5>,
        availabilities: &[Availability],
        absent: Option<&AbsentLevels>,
    ) -> Vec<Tensor<5>> {
        let passes = self.config.mirror.passes();
        let mut sums: Vec<Tensor<5>> = Vec::new();
        for (pass, dims) in passes.iter().enumerate() {
            let logits =
                self.net
                    .forward_subsets(mirrored(images.clone(), dims), availabilities, absent);
            let probabilities = logits.into_iter().map(|l| mirrored(sigmoid(l), dims));
            sums = if pass == 0 {
                probabilities.collect()
            } else {
                sums.into_iter()
                    .zip(probabilities)
                    .map(|(sum, p)| sum + p)
                    .collect()
            };
        }
        if passes.len() > 1 {
            let count = passes.len() as f32;
            sums = sums.into_iter().map(|sum| sum / count).collect();
        }
        sums
    }

    /// The averaged probabilities of one subset → thresholded, brain-only, post-processed,
    /// nested regions.
    fn finish(
        &self,
        case: &PreparedCase,
        sums: WindowSums,
        availability: Availability,
        brain: &[bool],
    ) -> CroppedSegmentation {
        let voxels = case.voxels();
        let WindowSums {
            mut sum,
            weight_sum,
        } = sums;
        for (i, s) in sum.iter_mut().enumerate() {
            let w = weight_sum[i % voxels];
            *s = if w > 0.0 { *s / w } else { 0.0 };
        }
        let mut regions: Vec<u8> = sum
            .iter()
            .map(|p| u8::from(*p > self.config.threshold))
            .collect();
        if self.config.brain_only {
            for (i, region) in regions.iter_mut().enumerate() {
                if !brain[i % voxels] {
                    *region = 0;
                }
            }
        }
        if let Some(postprocess) = &self.config.postprocess {
            let bottom = case.inferior_first.then_some(case.offset[0]);
            postprocess.apply(&mut regions, case.shape, bottom);
        }
        nest_regions(&mut regions);
        CroppedSegmentation {
            probabilities: sum,
            regions,
            availability,
        }
    }

    /// Seconds one batch of windows takes once the kernels are compiled: a [`warm_up`] run,
    /// then the best of two timed ones.
    ///
    /// [`warm_up`]: Segmenter::warm_up
    pub fn batch_seconds(&self) -> Result<f64, InferError> {
        self.warm_up()?;
        let mut best = f64::INFINITY;
        for _ in 0..2 {
            let started = std::time::Instant::now();
            self.warm_up()?;
            best = best.min(started.elapsed().as_secs_f64());
        }
        Ok(best)
    }

    /// Runs the network once on a batch of empty windows with every modality, so a wgpu device
    /// compiles its kernels (on lavapipe, about half of a first segmentation on a machine with
    /// an empty shader cache) before a study is segmented.
    pub fn warm_up(&self) -> Result<(), InferError> {
        self.check()?;
        let window = self.window();
        let batch = self.config.batch;
        let values = batch * 4 * window.iter().product::<usize>();
        let data = TensorData::new(
            vec![0f32; values],
            [batch, 4, window[0], window[1], window[2]],
        );
        let images = Tensor::<5>::from_data(data, &self.device);
        let logits = self
            .net
            .forward(images, &vec![Availability::FULL; batch], None)
            .logits;
        // Reading the result waits for the device to finish.
        let _ = sigmoid(logits).into_data();
        Ok(())
    }

    /// Segments `study` with the modalities in `wanted` and returns its BraTS label values on
    /// the study's grid (on-disk voxel order, like its images; save with `write_labels`).
    pub fn segment(
        &self,
        study: &Study,
        wanted: Availability,
        progress: &mut dyn FnMut(usize, usize) -> bool,
    ) -> Result<Vec<u8>, InferError> {
        let case = self.prepare(study)?;
        let segmentation = self.segment_prepared(&case, wanted, progress)?;
        Ok(labels_in_source_grid(
            &case,
            &segmentation.regions,
            study.convention,
        ))
    }
}

/// Makes `[3, D, H, W]` regions nested as the BraTS label map they become (WT ⊇ TC ⊇ ET): a
/// voxel the network puts in ET but not TC is labelled ET, which counts in TC and WT, so it is
/// in TC and WT here too. Evaluation then scores the label map the user gets.
pub fn nest_regions(regions: &mut [u8]) {
    let voxels = regions.len() / 3;
    let (wt, rest) = regions.split_at_mut(voxels);
    let (tc, et) = rest.split_at_mut(voxels);
    for i in 0..voxels {
        tc[i] |= et[i];
        wt[i] |= tc[i];
    }
}

/// BraTS labels for `[3, D, H, W]` regions, in the case's cropped grid.
pub fn region_labels(regions: &[u8], convention: LabelConvention) -> Vec<u8> {
    let voxels = regions.len() / 3;
    (0..voxels)
        .map(|i| {
            convention.labels_from_regions(
                regions[i] != 0,
                regions[voxels + i] != 0,
                regions[2 * voxels + i] != 0,
            )
        })
        .collect()
}

/// BraTS labels for `[3, D, H, W]` regions of `case`, on the source image's grid.
pub fn labels_in_source_grid(
    case: &PreparedCase,
    regions: &[u8],
    convention: LabelConvention,
) -> Vec<u8> {
    case.uncrop(&region_labels(regions, convention), 0)
}

/// Voxels where any modality in `availability` is above background (a prepared case is 0
/// outside the brain in every channel).
fn brain_mask(case: &PreparedCase, availability: Availability) -> Vec<bool> {
    let n = case.voxels();
    let mut brain = vec![false; n];
    for m in availability.modalities() {
        for (b, v) in brain.iter_mut().zip(case.channel(m.index())) {
            *b |= *v != 0.0;
        }
    }
    brain
}

/// Whether the window at `origin` (clamped to the volume) holds a brain voxel.
fn window_holds_brain(
    brain: &[bool],
    shape: [usize; 3],
    origin: [usize; 3],
    window: [usize; 3],
) -> bool {
    let [_, h, w] = shape;
    let end: [usize; 3] = std::array::from_fn(|a| (origin[a] + window[a]).min(shape[a]));
    (origin[0]..end[0]).any(|z| {
        (origin[1]..end[1]).any(|y| {
            let row = (z * h + y) * w;
            brain[row + origin[2]..row + end[2]].contains(&true)
        })
    })
}

/// Copies the window at `origin` of the available channels into `out` (`[4, wd, wh, ww]`),
/// zero outside the volume and in the channels of modalities left out.
fn fill_window(
    case: &PreparedCase,
    availability: Availability,
    origin: [usize; 3],
    window: [usize; 3],
    out: &mut [f32],
) {
    out.fill(0.0);
    let [d, h, w] = case.shape;
    let [wd, wh, ww] = window;
    let run = ww.min(w - origin[2]);
    for m in Modality::ALL {
        if !availability.contains(m) {
            continue;
        }
        let channel = case.channel(m.index());
        let base = m.index() * wd * wh * ww;
        for z in 0..wd.min(d - origin[0]) {
            for y in 0..wh.min(h - origin[1]) {
                let src = ((origin[0] + z) * h + origin[1] + y) * w + origin[2];
                let dst = base + (z * wh + y) * ww;
                out[dst..dst + run].copy_from_slice(&channel[src..src + run]);
            }
        }
    }
}

/// The modalities of `wanted` that `case` has; an error when that leaves none.
fn usable_modalities(
    case: &PreparedCase,
    wanted: Availability,
) -> Result<Availability, InferError> {
    let availability = case.available.intersection(wanted);
    if availability.is_empty() {
        return Err(InferError::Input {
            case: case.name.clone(),
            reason: format!(
                "none of the chosen modalities ({}) is in the study (it has {}); keep at least one",
                wanted.label(),
                case.available.label()
            ),
        });
    }
    Ok(availability)
}

/// One subset's weighted sums of window probabilities over the volume.
#[derive(Clone)]
struct WindowSums {
    /// `[3, D, H, W]` weighted probability sums.
    sum: Vec<f32>,
    /// `[D, H, W]` sums of the weights.
    weight_sum: Vec<f32>,
}

impl WindowSums {
    fn new(voxels: usize) -> WindowSums {
        WindowSums {
            sum: vec![0.0; 3 * voxels],
            weight_sum: vec![0.0; voxels],
        }
    }

    /// Adds one window's weighted probabilities.
    fn add(
        &mut self,
        probabilities: &[f32],
        weights: &WeightMap,
        origin: [usize; 3],
        window: [usize; 3],
        shape: [usize; 3],
    ) {
        let [d, h, w] = shape;
        let [wd, wh, ww] = window;
        let voxels = d * h * w;
        let window_voxels = wd * wh * ww;
        for z in 0..wd.min(d - origin[0]) {
            for y in 0..wh.min(h - origin[1]) {
                for x in 0..ww.min(w - origin[2]) {
                    let local = (z * wh + y) * ww + x;
                    let global = ((origin[0] + z) * h + origin[1] + y) * w + origin[2] + x;
                    let weight = weights.values[local];
                    self.weight_sum[global] += weight;
                    for c in 0..3 {
                        self.sum[c * voxels + global] +=
                            weight * probabilities[c * window_voxels + local];
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{nest_regions, region_labels};
    use crate::study::{LabelConvention, Region};

    /// Nested regions are exactly the regions of the label map made from the raw ones.
    #[test]
    fn nested_regions_are_those_of_the_label_map() {
        let combos: Vec<[u8; 3]> = (0..8u8)
            .map(|b| [b & 1, (b >> 1) & 1, (b >> 2) & 1])
            .collect();
        let mut regions: Vec<u8> = (0..3)
            .flat_map(|r| combos.iter().map(move |c| c[r]))
            .collect();
        let labels = region_labels(&regions, LabelConvention::Brats2021);
        nest_regions(&mut regions);
        for (v, label) in labels.iter().enumerate() {
            for (r, region) in Region::ALL.iter().enumerate() {
                let in_label = LabelConvention::Brats2021.in_region(*label, *region);
                assert_eq!(regions[r * 8 + v] == 1, in_label, "voxel {v} {region:?}");
            }
        }
    }
}
