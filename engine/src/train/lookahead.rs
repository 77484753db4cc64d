//! MetaKD's one-step look-ahead meta step (`methods.md` §2.5, the paper-spirit bilevel option):
//! the hypergradient of the meta-validation loss after one virtual network step with respect
//! to the modality-weight logits φ.
//!
//! The virtual step is `θ'(φ) = θ − α ∇θ [L_seg(θ) + λ L_KD(θ; φ)]` on a training batch, with
//! the distillation ratio `w_i / w_j` *not* detached, so it depends on φ. Only the KD term does,
//! so `∇φ L_val(θ'(φ)) = −α λ ∇φ [∇θ L_KD(θ; φ) · v]` with `v = ∇θ' L_val(θ')`. burn cannot
//! differentiate twice through our convolution kernels, so the mixed product is the central
//! difference of DARTS: `[∇φ L_KD(θ + εv; φ) − ∇φ L_KD(θ − εv; φ)] / 2ε`, ε = 0.01 / ‖v‖.
//! The teachers' features are detached in L_KD, so ∇θ L_KD follows the students only; the
//! difference must do the same, so the shifted networks give the students' features and the
//! teachers' stay those of θ (shifting both would add the teacher path and give a different,
//! wrong vector: a test compares against a central difference of the look-ahead objective).
//! One meta step costs five forward and backward passes (virtual step, validation loss, the
//! two shifted KD losses) instead of the gate proxy's one.

use super::batch::TensorBatch;
use super::loss::{pairwise_weighted_l1_learnable, segmentation};
use super::modality_weights::ModalityWeights;
use crate::model::MetaKdNet;
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::GradientsParams;
use burn::tensor::Tensor;

/// The step sizes of one look-ahead hypergradient.
#[derive(Debug, Clone, Copy)]
pub struct Lookahead {
    /// α: the virtual step's learning rate (the network's current one).
    pub virtual_learning_rate: f64,
    /// λ: the distillation weight.
    pub kd_weight: f64,
}

/// `θ + scale · g` for every parameter `g` has a gradient for (a fresh leaf of the graph).
struct Shift<'a> {
    grads: &'a GradientsParams,
    scale: f64,
}

impl ModuleMapper for Shift<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(g) = self.grads.get::<D>(param.id) else {
            return param;
        };
        let scale = self.scale;
        param.map(|t| Tensor::from_inner(t.inner() + g * scale).require_grad())
    }
}

/// Σ g² over the parameters of `net` that `grads` holds.
struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    sum: f64,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            self.sum += f64::from(g.powi_scalar(2).sum().into_scalar::<f32>());
        }
    }
}

/// The network with every parameter moved by `scale` times its entry in `grads`.
fn shifted(net: &MetaKdNet, grads: &GradientsParams, scale: f64) -> MetaKdNet {
    net.clone().map(&mut Shift { grads, scale })
}

/// `∇φ L_KD` on `batch` with the students' features from `net` and the given teachers'
/// features (the ratio not detached), on the inner device; zeros when no sample has two
/// modalities.
fn kd_gradient(
    net: &MetaKdNet,
    teachers: &Tensor<6>,
    phi: &ModalityWeights,
    batch: &TensorBatch,
) -> Tensor<1> {
    let output = net.forward(batch.images.clone(), &batch.availability, None);
    let device = batch.images.device().inner();
    match pairwise_weighted_l1_learnable(
        output.bottlenecks,
        teachers.clone(),
        &batch.availability,
        phi.weights(),
    ) {
        Some(kd) => phi
            .logits
            .val()
            .grad(&kd.backward())
            .unwrap_or_else(|| Tensor::zeros([4], &device)),
        None => Tensor::zeros([4], &device),
    }
}

impl Lookahead {
    /// `∇φ L_val(θ'(φ))` (see the module docs) for a training and a meta-validation batch,
    /// as a `[4]` tensor on the inner device.
    pub fn hypergradient(
        &self,
        net: &MetaKdNet,
        phi: &ModalityWeights,
        train: &TensorBatch,
        val: &TensorBatch,
    ) -> Tensor<1> {
        let output = net.forward(train.images.clone(), &train.availability, None);
        let teachers = output.bottlenecks.clone().detach();
        let (seg, _) = segmentation(output.logits, train.targets.clone());
        let loss = match pairwise_weighted_l1_learnable(
            output.bottlenecks.clone(),
            output.bottlenecks,
            &train.availability,
            phi.weights(),
        ) {
            Some(kd) => seg + kd * self.kd_weight,
            None => seg,
        };
        let step = GradientsParams::from_grads(loss.backward(), net);
        let virtual_net = shifted(net, &step, -self.virtual_learning_rate);
        let output = virtual_net.forward(val.images.clone(), &val.availability, None);
        let (val_loss, _) = segmentation(output.logits, val.targets.clone());
        let v = GradientsParams::from_grads(val_loss.backward(), &virtual_net);
        let mut norm = SquaredNorm {
            grads: &v,
            sum: 0.0,
        };
        net.visit(&mut norm);
        let device = train.images.device().inner();
        if !(norm.sum > 0.0 && norm.sum.is_finite()) {
            return Tensor::zeros([4], &device);
        }
        let epsilon = 0.01 / norm.sum.sqrt();
        let plus = kd_gradient(&shifted(net, &v, epsilon), &teachers, phi, train);
        let minus = kd_gradient(&shifted(net, &v, -epsilon), &teachers, phi, train);
        (plus - minus) * (-self.virtual_learning_rate * self.kd_weight / (2.0 * epsilon))
    }
}
