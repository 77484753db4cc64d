//! A data-pipeline batch as tensors on the training device.

use crate::data::loader::Batch;
use crate::study::Availability;
use burn::tensor::{Device, Tensor, TensorData};

/// Images `[N, 4, D, H, W]`, region targets `[N, 3, D, H, W]` and per-sample availability.
pub struct TensorBatch {
    pub images: Tensor<5>,
    pub targets: Tensor<5>,
    pub availability: Vec<Availability>,
}

impl TensorBatch {
    pub fn new(batch: &Batch, device: &Device) -> TensorBatch {
        let n = batch.len();
        let [d, h, w] = batch.size;
        let images = TensorData::new(batch.images.clone(), [n, 4, d, h, w]);
        let targets = TensorData::new(batch.targets_f32(), [n, 3, d, h, w]);
        TensorBatch {
            images: Tensor::from_data(images, device),
            targets: Tensor::from_data(targets, device),
            availability: batch.availability.clone(),
        }
    }
}
