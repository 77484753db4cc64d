//! MetaKD: a learned importance weight per modality drives a pairwise feature distillation in
//! which important modalities teach the others (`methods.md` §2.4–2.5).
//!
//! * Modality weights `w = softmax(φ)`, φ ∈ R⁴ initialised uniform in [0, 1) from the run's seed.
//! * Network loss term: [`pairwise_weighted_l1`] with the current weights as constants, times λ.
//! * Meta step (the released code's "gate proxy"): every `meta_every` iterations (and at
//!   iteration 0), `meta_steps` Adam steps on φ alone, each on one meta-validation patch: the
//!   network runs with every fused bottleneck feature multiplied by its modality's weight, and
//!   the segmentation loss is differentiated with respect to φ only (the network is not
//!   updated). Deviation from the released code: meta-validation patches always carry all four
//!   modalities (the released code's stage 2 also drops modalities there and then overwrites the
//!   imputed features, a quirk `methods.md` §2.5 describes); meta-validation cases are the
//!   data set's `val` split, disjoint from the training cases.
//! * With `meta_update = "one_step_lookahead"` each of those steps instead follows the
//!   hypergradient of the meta-validation loss after one virtual network step on a training
//!   batch ([`super::lookahead`]); the network is not updated there either.

use super::batch::TensorBatch;
use super::config::MetaKdConfig;
use super::lookahead::Lookahead;
use super::loss::{pairwise_weighted_l1, scalar, segmentation};
use super::modality_weights::ModalityWeights;
use super::strategy::{ExtraLoss, Strategy};
use super::TrainError;
use crate::data::loader::{make_batch, LoaderConfig};
use crate::data::source::CaseSource;
use crate::model::{MetaKdNet, NetOutput};
use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer};
use burn::store::ModuleRecord;
use burn::tensor::{Bytes, Device};

/// What the one-step look-ahead meta step needs besides the meta-validation patches.
pub struct VirtualSteps {
    /// Training cases and the loader settings of the virtual steps' batches.
    pub cases: CaseSource,
    pub loader: LoaderConfig,
    /// The network's learning rate at an iteration (α of the virtual step).
    pub learning_rate: Box<dyn Fn(u64) -> f64 + Send>,
}

/// The MetaKD strategy (see the module docs).
pub struct MetaKd {
    config: MetaKdConfig,
    phi: ModalityWeights,
    optim: ModuleOptimizer,
    meta_cases: CaseSource,
    /// Draws meta-validation patches: batch 1, all modalities.
    meta_loader: LoaderConfig,
    /// Set for the one-step look-ahead meta step; `None` runs the gate proxy.
    virtual_steps: Option<VirtualSteps>,
    /// Meta rounds run so far (meta patch `k` of round `r` is batch `r · steps + k`).
    rounds: u64,
    device: Device,
}

impl MetaKd {
    pub fn new(
        config: MetaKdConfig,
        seed: u64,
        meta_cases: CaseSource,
        meta_loader: LoaderConfig,
        virtual_steps: Option<VirtualSteps>,
        device: &Device,
    ) -> MetaKd {
        let optim = AdamConfig::new()
            .with_weight_decay(Some(WeightDecayConfig::new(
                config.meta_weight_decay as f32,
            )))
            .init();
        MetaKd {
            config,
            phi: ModalityWeights::new(seed, device),
            optim,
            meta_cases,
            meta_loader,
            virtual_steps,
            rounds: 0,
            device: device.clone(),
        }
    }

    /// One meta-validation round before network iteration `iteration`: `meta_steps` Adam
    /// steps on φ.
    fn meta_round(&mut self, iteration: u64, net: &MetaKdNet) -> Result<(), TrainError> {
        for k in 0..self.config.meta_steps {
            let index = self.rounds * self.config.meta_steps as u64 + k as u64;
            let batch = make_batch(&self.meta_cases, &self.meta_loader, index)?;
            let batch = TensorBatch::new(&batch, &self.device);
            let grads = match &self.virtual_steps {
                None => {
                    let output =
                        net.forward(batch.images, &batch.availability, Some(self.phi.weights()));
                    let (loss, _) = segmentation(output.logits, batch.targets);
                    GradientsParams::from_grads(loss.backward(), &self.phi)
                }
                Some(steps) => {
                    let train = make_batch(&steps.cases, &steps.loader, index)?;
                    let lookahead = Lookahead {
                        virtual_learning_rate: (steps.learning_rate)(iteration),
                        kd_weight: self.config.kd_weight,
                    };
                    let train = TensorBatch::new(&train, &self.device);
                    let hypergradient = lookahead.hypergradient(net, &self.phi, &train, &batch);
                    let mut grads = GradientsParams::new();
                    grads.register(self.phi.logits.id, hypergradient);
                    grads
                }
            };
            self.phi = self
                .optim
                .step(self.config.meta_learning_rate, self.phi.clone(), grads);
        }
        self.rounds += 1;
        Ok(())
    }
}

impl Strategy for MetaKd {
    fn name(&self) -> &'static str {
        "metakd"
    }

    fn before_iteration(&mut self, iteration: u64, net: &MetaKdNet) -> Result<(), TrainError> {
        if iteration.is_multiple_of(self.config.meta_every) && !self.meta_cases.is_empty() {
            self.meta_round(iteration, net)?;
        }
        Ok(())
    }

    fn extra_loss(&self, output: &NetOutput, batch: &TensorBatch) -> Option<ExtraLoss> {
        let kd = pairwise_weighted_l1(
            output.bottlenecks.clone(),
            &batch.availability,
            self.phi.values(),
        )?;
        let value = scalar(&kd);
        Some(ExtraLoss {
            weighted: kd * self.config.kd_weight,
            value,
        })
    }

    fn modality_weights(&self) -> Option<[f32; 4]> {
        Some(self.phi.values())
    }

    fn save_state(&self) -> Result<Vec<u8>, TrainError> {
        let phi = self
            .phi
            .clone()
            .into_record()
            .into_bytes()
            .map_err(|e| TrainError::Checkpoint(format!("modality weights: {e}")))?;
        let optim = self
            .optim
            .into_bytes()
            .map_err(|e| TrainError::Checkpoint(format!("modality-weight optimiser: {e}")))?;
        let mut out = Vec::new();
        out.extend_from_slice(&self.rounds.to_le_bytes());
        out.extend_from_slice(&(phi.len() as u64).to_le_bytes());
        out.extend_from_slice(&phi);
        out.extend_from_slice(&optim);
        Ok(out)
    }

    fn load_state(&mut self, bytes: &[u8]) -> Result<(), TrainError> {
        let bad = |what: &str| TrainError::Checkpoint(format!("MetaKD state: {what}"));
        if bytes.len() < 16 {
            return Err(bad("truncated"));
        }
        let rounds = u64::from_le_bytes(bytes[0..8].try_into().expect("8 bytes"));
        let phi_len = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes")) as usize;
        let phi_end = 16usize
            .checked_add(phi_len)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| bad("truncated"))?;
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes[16..phi_end].to_vec()))
            .map_err(|e| bad(&e.to_string()))?;
        self.phi = self
            .phi
            .clone()
            .try_load_record(record)
            .map_err(|e| bad(&e.to_string()))?;
        let optim = std::mem::replace(&mut self.optim, AdamConfig::new().init());
        self.optim = optim
            .from_bytes(Bytes::from_bytes_vec(bytes[phi_end..].to_vec()))
            .map_err(|e| bad(&e.to_string()))?;
        self.rounds = rounds;
        Ok(())
    }
}
