//! MetaKD's modality weights: the learnable importance logits φ (one per modality) and their
//! softmax, shared by the gate-proxy meta step (`metakd`) and the one-step look-ahead
//! (`lookahead`).

use burn::module::{Module, Param};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// The learnable modality-importance logits φ.
#[derive(Module, Debug)]
pub struct ModalityWeights {
    pub logits: Param<Tensor<1>>,
}

impl ModalityWeights {
    /// φ drawn uniform in [0, 1) (the released code's "randInit").
    pub fn new(seed: u64, device: &Device) -> ModalityWeights {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x6d65_7461_6b64);
        let values: Vec<f32> = (0..4).map(|_| rng.random::<f32>()).collect();
        let logits = Tensor::from_data(TensorData::new(values, [4]), device);
        ModalityWeights {
            logits: Param::from_tensor(logits),
        }
    }

    /// `softmax(φ)`, tracked by autodiff.
    pub fn weights(&self) -> Tensor<1> {
        softmax(self.logits.val(), 0)
    }

    /// `softmax(φ)` as numbers.
    pub fn values(&self) -> [f32; 4] {
        let v: Vec<f32> = self
            .weights()
            .into_data()
            .try_to_vec::<f32>()
            .expect("modality weights are f32");
        [v[0], v[1], v[2], v[3]]
    }
}
