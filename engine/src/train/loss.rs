//! Loss functions (`methods.md` §2.4 and §5.4), on burn tensors so autodiff sees them.
//!
//! * [`soft_dice`]: per-sample soft Dice with +1 in the denominator only, `1 − mean` over
//!   samples and the three region channels.
//! * [`batch_soft_dice`]: GMD's soft Dice, sums pooled over the whole batch, +1 in numerator
//!   and denominator, `1 − mean` over the three region channels.
//! * [`bce_with_logits`]: binary cross-entropy from logits, mean over samples and voxels for
//!   each channel, **summed** over the channels (as the released code).
//! * [`pairwise_weighted_l1`]: MetaKD's distillation: for every ordered pair (i, j) of
//!   different modalities both available in a sample, `w_i / w_j · mean |sg(f_i) − f_j|`; the
//!   ratio is a constant (no gradient reaches the weights), the teacher's feature is detached.

use crate::study::{Availability, Modality};
use burn::tensor::activation::{relu, sigmoid};
use burn::tensor::{Tensor, TensorData};

/// `1 − mean_{n,c} (2 Σ p t) / (Σ p + Σ t + 1)` with `p = σ(logits)`; shapes `[N, C, D, H, W]`.
pub fn soft_dice(logits: Tensor<5>, targets: Tensor<5>) -> Tensor<1> {
    let [n, c, d, h, w] = logits.dims();
    let p = sigmoid(logits).reshape([n, c, d * h * w]);
    let t = targets.reshape([n, c, d * h * w]);
    let intersection = (p.clone() * t.clone()).sum_dim(2);
    let denominator = p.sum_dim(2) + t.sum_dim(2) + 1.0;
    let dice = intersection * 2.0 / denominator;
    dice.mean().neg() + 1.0
}

/// `1 − mean_c (2 Σ_{n,v} p t + 1) / (Σ_{n,v} p + Σ_{n,v} t + 1)` with `p = σ(logits)`.
pub fn batch_soft_dice(logits: Tensor<5>, targets: Tensor<5>) -> Tensor<1> {
    let [n, c, d, h, w] = logits.dims();
    let pooled = |t: Tensor<5>| t.swap_dims(0, 1).reshape([c, n * d * h * w]);
    let p = pooled(sigmoid(logits));
    let t = pooled(targets);
    let intersection = (p.clone() * t.clone()).sum_dim(1);
    let dice = (intersection * 2.0 + 1.0) / (p.sum_dim(1) + t.sum_dim(1) + 1.0);
    dice.mean().neg() + 1.0
}

/// Binary cross-entropy with logits, summed over channels of the per-channel means.
pub fn bce_with_logits(logits: Tensor<5>, targets: Tensor<5>) -> Tensor<1> {
    let channels = logits.dims()[1] as f64;
    // max(z, 0) − z t + log(1 + e^{−|z|}): exact and never overflows.
    let softplus_tail = logits.clone().abs().neg().exp().log1p();
    let per_voxel = relu(logits.clone()) - logits * targets + softplus_tail;
    per_voxel.mean() * channels
}

/// `mean|sg(f_teacher) − f_student|` per sample of `[N, 4, L]` features (the teacher's taken
/// from `teachers`, the student's from `students`; usually the same tensor), over the samples
/// that have both modalities, summed and divided by the batch size; `None` when no sample has
/// both or they are the same modality.
pub fn pair_l1(
    teachers: &Tensor<3>,
    students: &Tensor<3>,
    availability: &[Availability],
    teacher: Modality,
    student: Modality,
) -> Option<Tensor<1>> {
    let n = availability.len();
    let both: Vec<f32> = availability
        .iter()
        .map(|a| {
            f32::from(u8::from(
                teacher != student && a.contains(teacher) && a.contains(student),
            ))
        })
        .collect();
    if both.iter().all(|v| *v == 0.0) {
        return None;
    }
    let t = teachers.clone().narrow(1, teacher.index(), 1).detach();
    let s = students.clone().narrow(1, student.index(), 1);
    let per_sample = (t - s).abs().mean_dim(2).reshape([n]);
    let mask = Tensor::<1>::from_data(TensorData::new(both, [n]), &students.device());
    Some((per_sample * mask).sum() / n as f64)
}

/// `[N, 4, C, d, h, w]` bottleneck features as `[N, 4, C·d·h·w]`.
pub fn flatten_bottlenecks(bottlenecks: Tensor<6>) -> Tensor<3> {
    let [n, m, c, d, h, w] = bottlenecks.dims();
    bottlenecks.reshape([n, m, c * d * h * w])
}

/// Every ordered pair (teacher, student) of modalities.
fn ordered_pairs() -> impl Iterator<Item = (Modality, Modality)> {
    Modality::ALL
        .into_iter()
        .flat_map(|t| Modality::ALL.into_iter().map(move |s| (t, s)))
}

/// MetaKD's pairwise modality-weighted L1 distillation on `[N, 4, C, d, h, w]` bottleneck
/// features, averaged over the batch; `None` when no sample has two modalities.
pub fn pairwise_weighted_l1(
    bottlenecks: Tensor<6>,
    availability: &[Availability],
    weights: [f32; 4],
) -> Option<Tensor<1>> {
    let features = flatten_bottlenecks(bottlenecks);
    ordered_pairs()
        .filter_map(|(t, s)| {
            let ratio = weights[t.index()] / weights[s.index()];
            pair_l1(&features, &features, availability, t, s).map(|term| term * f64::from(ratio))
        })
        .reduce(|sum, term| sum + term)
}

/// [`pairwise_weighted_l1`] with the weights as a tensor, so the ratio `w_i / w_j` carries a
/// gradient to them, and the (detached) teachers' features given apart from the students'
/// (MetaKD's one-step look-ahead meta step moves the students' network and keeps the
/// teachers' fixed).
pub fn pairwise_weighted_l1_learnable(
    students: Tensor<6>,
    teachers: Tensor<6>,
    availability: &[Availability],
    weights: Tensor<1>,
) -> Option<Tensor<1>> {
    let students = flatten_bottlenecks(students);
    let teachers = flatten_bottlenecks(teachers);
    ordered_pairs()
        .filter_map(|(t, s)| {
            let ratio =
                weights.clone().narrow(0, t.index(), 1) / weights.clone().narrow(0, s.index(), 1);
            pair_l1(&teachers, &students, availability, t, s).map(|term| term * ratio)
        })
        .reduce(|sum, term| sum + term)
}

/// Dice + BCE, the segmentation loss of MetaKD and LCKD.
pub fn segmentation(logits: Tensor<5>, targets: Tensor<5>) -> (Tensor<1>, [f32; 2]) {
    let dice = soft_dice(logits.clone(), targets.clone());
    let bce = bce_with_logits(logits, targets);
    let parts = [scalar(&dice), scalar(&bce)];
    (dice + bce, parts)
}

/// The value of a one-element tensor.
pub fn scalar(t: &Tensor<1>) -> f32 {
    t.clone().into_scalar::<f32>()
}
