//! Training strategies behind one trait: what a method adds to the plain segmentation step.
//!
//! Every strategy trains the same network with the same loop (`train::run`); a strategy adds a
//! loss term on the forward pass's output (distillation), runs its periodic hook (MetaKD's
//! meta-validation round), or computes the whole step's gradients itself (GMD's per-subset
//! gradients), and saves and restores its own state with checkpoints.

use super::batch::TensorBatch;
use super::TrainError;
use crate::model::{MetaKdNet, NetOutput};
use crate::study::Availability;
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

/// The extra loss term of one step and its value for the metrics log.
pub struct ExtraLoss {
    /// Already multiplied by its weight (λ).
    pub weighted: Tensor<1>,
    /// The unweighted value.
    pub value: f32,
}

/// A step whose parameter gradients the strategy computed itself.
pub struct OwnStep {
    pub grads: GradientsParams,
    /// The step's loss for the metrics log (GMD: the mean of its subsets' losses).
    pub loss: f32,
    /// The modality subsets the step used, for the metrics log (e.g. `T1 | FLAIR+T2`).
    pub subsets: String,
}

/// One training method (see the module docs).
pub trait Strategy: Send {
    /// The method's name (`baseline`, `metakd`, …).
    fn name(&self) -> &'static str;

    /// Runs before network iteration `iteration` (e.g. a meta round every V iterations).
    fn before_iteration(&mut self, _iteration: u64, _net: &MetaKdNet) -> Result<(), TrainError> {
        Ok(())
    }

    /// The method's loss term on this step's output, if it has one.
    fn extra_loss(&self, _output: &NetOutput, _batch: &TensorBatch) -> Option<ExtraLoss> {
        None
    }

    /// The step's gradients computed by the method instead of the loop's one loss and one
    /// backward pass (GMD), or `None` for the loop's.
    fn own_step(
        &mut self,
        _iteration: u64,
        _net: &MetaKdNet,
        _batch: &TensorBatch,
    ) -> Option<Result<OwnStep, TrainError>> {
        None
    }

    /// The modality weights the method currently uses (FLAIR, T1, T1ce, T2), if any.
    fn modality_weights(&self) -> Option<[f32; 4]> {
        None
    }

    /// The teacher modalities the method currently distils from, if it elects any (LCKD).
    fn teachers(&self) -> Option<Availability> {
        None
    }

    /// The method's state for a checkpoint (none by default).
    fn save_state(&self) -> Result<Vec<u8>, TrainError> {
        Ok(Vec::new())
    }

    /// Restores what [`Strategy::save_state`] wrote.
    fn load_state(&mut self, _bytes: &[u8]) -> Result<(), TrainError> {
        Ok(())
    }
}

/// Modality dropout only: the plain segmentation loss, nothing else.
pub struct Baseline;

impl Strategy for Baseline {
    fn name(&self) -> &'static str {
        "baseline"
    }
}
