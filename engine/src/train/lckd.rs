//! LCKD: teacher election plus cross-modal distillation (`methods.md` §3).
//!
//! * Election, every `elect_every` iterations (and at iteration 0): the network segments the
//!   election patches with each single modality (the others zeroed and imputed); the soft Dice
//!   `2Σpt / (Σp + Σt + 1)` per region is summed over patches, and for each region (WT, TC,
//!   ET) the modality with the highest sum is elected. The teacher set is the union (one to
//!   three modalities). Before the first election the teacher is FLAIR, as in the released code.
//! * Loss term: `Σ_{t ∈ T∩A} Σ_{s ∈ A, s ≠ t} mean|sg(f_t) − f_s|` on the bottleneck features,
//!   times λ = 0.1 ("teach all": teachers also learn from the other teachers).
//! * Deviation: the released code elects on whole validation volumes with the sliding window;
//!   this elects on validation patches (all four modalities' channels present, then masked),
//!   because a whole-volume election per period costs minutes on a CPU. It only ranks
//!   modalities, and the patches come from the same held-out cases.

use super::batch::TensorBatch;
use super::config::LckdConfig;
use super::loss::{flatten_bottlenecks, pair_l1, scalar};
use super::strategy::{ExtraLoss, Strategy};
use super::TrainError;
use crate::data::loader::Batch;
use crate::model::{MetaKdNet, NetOutput};
use crate::study::{Availability, Modality};
use burn::module::Module;
use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Tensor};

/// The LCKD strategy (see the module docs).
pub struct Lckd {
    config: LckdConfig,
    teachers: Availability,
    /// Election patches (all four modalities present).
    patches: Vec<Batch>,
    device: Device,
}

impl Lckd {
    pub fn new(config: LckdConfig, patches: Vec<Batch>, device: &Device) -> Lckd {
        Lckd {
            config,
            teachers: Availability::from_modalities([Modality::Flair]),
            patches,
            device: device.clone(),
        }
    }

    /// Soft-Dice sums `[modality][region]` of the network with each single modality.
    fn single_modality_scores(&self, net: &MetaKdNet) -> [[f64; 3]; 4] {
        let net = net.valid();
        let inner = self.device.clone().inner();
        let mut scores = [[0f64; 3]; 4];
        for (m, modality) in Modality::ALL.into_iter().enumerate() {
            for patch in &self.patches {
                let only = keep_only(patch, modality);
                let batch = TensorBatch::new(&only, &inner);
                let probabilities: Vec<f32> =
                    sigmoid(net.forward(batch.images, &batch.availability, None).logits)
                        .into_data()
                        .try_to_vec::<f32>()
                        .expect("f32 probabilities");
                let dice = soft_dice_per_region(&probabilities, &patch.targets, patch.len());
                for r in 0..3 {
                    scores[m][r] += dice[r];
                }
            }
        }
        scores
    }
}

/// A copy of `batch` in which only `modality` is available (other channels zeroed).
fn keep_only(batch: &Batch, modality: Modality) -> Batch {
    let mut only = batch.clone();
    let channel = batch.size.iter().product::<usize>();
    for (i, value) in only.images.iter_mut().enumerate() {
        if (i / channel) % 4 != modality.index() {
            *value = 0.0;
        }
    }
    only.availability = vec![Availability::from_modalities([modality]); batch.len()];
    only
}

/// Soft Dice `2Σpt / (Σp + Σt + 1)` per region (WT, TC, ET), summed over the samples of
/// `[N, 3, D, H, W]` probabilities and targets.
pub fn soft_dice_per_region(probabilities: &[f32], targets: &[u8], samples: usize) -> [f64; 3] {
    let voxels = probabilities.len() / (3 * samples.max(1));
    let mut dice = [0f64; 3];
    for n in 0..samples {
        for (r, d) in dice.iter_mut().enumerate() {
            let range = (n * 3 + r) * voxels..(n * 3 + r + 1) * voxels;
            let (mut pt, mut p, mut t) = (0f64, 0f64, 0f64);
            for (pv, tv) in probabilities[range.clone()].iter().zip(&targets[range]) {
                let (pv, tv) = (f64::from(*pv), f64::from(*tv));
                pt += pv * tv;
                p += pv;
                t += tv;
            }
            *d += 2.0 * pt / (p + t + 1.0);
        }
    }
    dice
}

/// The teacher set: for each region the modality with the highest score (first on ties).
pub fn elect(scores: &[[f64; 3]; 4]) -> Availability {
    let winners = (0..3).map(|r| {
        let best = (0..4)
            .max_by(|a, b| scores[*a][r].total_cmp(&scores[*b][r]).then(b.cmp(a)))
            .expect("four modalities");
        Modality::ALL[best]
    });
    Availability::from_modalities(winners)
}

/// LCKD's distillation on `[N, 4, C, d, h, w]` bottleneck features: every available teacher
/// teaches every other available modality (L1, teacher detached), averaged over the batch;
/// `None` when no sample has a teacher and another modality.
pub fn teacher_l1(
    bottlenecks: Tensor<6>,
    availability: &[Availability],
    teachers: Availability,
) -> Option<Tensor<1>> {
    let features = flatten_bottlenecks(bottlenecks);
    teachers
        .modalities()
        .flat_map(|t| Modality::ALL.into_iter().map(move |s| (t, s)))
        .filter_map(|(t, s)| pair_l1(&features, &features, availability, t, s))
        .reduce(|sum, term| sum + term)
}

impl Strategy for Lckd {
    fn name(&self) -> &'static str {
        "lckd"
    }

    fn before_iteration(&mut self, iteration: u64, net: &MetaKdNet) -> Result<(), TrainError> {
        if iteration.is_multiple_of(self.config.elect_every) && !self.patches.is_empty() {
            self.teachers = elect(&self.single_modality_scores(net));
        }
        Ok(())
    }

    fn extra_loss(&self, output: &NetOutput, batch: &TensorBatch) -> Option<ExtraLoss> {
        let kd = teacher_l1(
            output.bottlenecks.clone(),
            &batch.availability,
            self.teachers,
        )?;
        let value = scalar(&kd);
        Some(ExtraLoss {
            weighted: kd * self.config.kd_weight,
            value,
        })
    }

    fn modality_weights(&self) -> Option<[f32; 4]> {
        None
    }

    fn teachers(&self) -> Option<Availability> {
        Some(self.teachers)
    }

    fn save_state(&self) -> Result<Vec<u8>, TrainError> {
        Ok(vec![self.teachers.id()])
    }

    fn load_state(&mut self, bytes: &[u8]) -> Result<(), TrainError> {
        match bytes {
            [mask] if (1..16).contains(mask) => {
                self.teachers = Availability::from_id(*mask);
                Ok(())
            }
            _ => Err(TrainError::Checkpoint(
                "LCKD state: not a teacher set; the checkpoint is damaged".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Per region the best single modality wins; duplicates collapse.
    #[test]
    fn election_takes_the_best_modality_per_region() {
        // rows: FLAIR, T1, T1ce, T2; columns: WT, TC, ET.
        let scores = [
            [0.9, 0.5, 0.1],
            [0.3, 0.2, 0.1],
            [0.6, 0.8, 0.7],
            [0.8, 0.4, 0.2],
        ];
        assert_eq!(
            elect(&scores),
            Availability::from_modalities([Modality::Flair, Modality::T1ce])
        );
        let t2_everywhere = [[0.0; 3], [0.0; 3], [0.0; 3], [1.0; 3]];
        assert_eq!(
            elect(&t2_everywhere),
            Availability::from_modalities([Modality::T2])
        );
    }

    /// A prediction equal to the target scores close to 1, an empty one 0; per region.
    #[test]
    fn soft_dice_per_region_on_a_constructed_case() {
        let targets = [
            1u8, 1, 0, 0, /* TC */ 1, 0, 0, 0, /* ET */ 0, 0, 0, 0,
        ];
        let probabilities = [
            1.0f32, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 0.5, 0.0, 0.0,
        ];
        let d = soft_dice_per_region(&probabilities, &targets, 1);
        assert!((d[0] - 4.0 / 5.0).abs() < 1e-9);
        assert_eq!(d[1], 0.0);
        assert_eq!(d[2], 0.0);
    }
}
