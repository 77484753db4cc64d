//! Fusion of the available modalities, shared by every backbone: the per-sample availability
//! mask as a tensor and the mean imputation (and MetaKD's gate) of missing modalities'
//! bottleneck features.

use crate::study::{Availability, Modality};
use burn::tensor::{Device, Tensor, TensorData};

/// Number of modality slots.
pub const MODALITIES: usize = 4;

/// Mean imputation of missing modalities' bottleneck features, then the optional gate:
/// `[N, 4, C, d, h, w]` features and a [`availability_mask`] → features where each missing
/// modality's feature is the mean of the sample's available ones, each multiplied by `gate[m]`.
pub fn fuse_bottlenecks(
    bottlenecks: Tensor<6>,
    mask: Tensor<6>,
    gate: Option<Tensor<1>>,
) -> Tensor<6> {
    let count = mask.clone().sum_dim(1).clamp_min(1.0);
    let mean = (bottlenecks.clone() * mask.clone()).sum_dim(1) / count;
    let fused = bottlenecks * mask.clone() + mean * (mask.neg().add_scalar(1.0));
    match gate {
        Some(gate) => fused * gate.reshape([1, MODALITIES, 1, 1, 1, 1]),
        None => fused,
    }
}

/// `[N, 4, 1, 1, 1, 1]` with 1.0 where sample `n` has modality `m`.
pub fn availability_mask(availability: &[Availability], device: &Device) -> Tensor<6> {
    let values: Vec<f32> = availability
        .iter()
        .flat_map(|a| Modality::ALL.map(|m| if a.contains(m) { 1.0 } else { 0.0 }))
        .collect();
    let data = TensorData::new(values, [availability.len(), MODALITIES, 1, 1, 1, 1]);
    Tensor::from_data(data, device)
}

/// `[N, k, C, d, h, w]` features of the modalities `present` (indices, ascending) as
/// `[N, 4, C, d, h, w]`, zeros for the others.
pub fn all_modalities(features: Tensor<6>, present: &[usize]) -> Tensor<6> {
    if present.len() == MODALITIES {
        return features;
    }
    let [n, _, c, d, h, w] = features.dims();
    let device = features.device();
    let slots = (0..MODALITIES)
        .map(|m| match present.iter().position(|&p| p == m) {
            Some(j) => features.clone().narrow(1, j, 1),
            None => Tensor::zeros([n, 1, c, d, h, w], &device),
        })
        .collect();
    Tensor::cat(slots, 1)
}
