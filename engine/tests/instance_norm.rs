//! The fused instance norm + affine + LeakyReLU (`engine::ops::norm`, WGSL on lavapipe in CI, and
//! the plane loops on the Flex CPU backend) against burn's own `InstanceNorm` and `leaky_relu` on
//! its NdArray CPU backend: outputs and the
//! gradients of x, γ and β through autodiff, per-channel and per-sample affine parameters, planes
//! smaller and larger than a workgroup, a large mean next to a small spread, slope 1 (the norm
//! alone). The network-level check is `model_train::network_on_our_kernels_matches_burn_ndarray`,
//! whose wgpu side takes this path.
#![allow(deprecated)] // NdArray: burn's reference CPU backend in 0.22.

use burn::nn::InstanceNormConfig;
use burn::tensor::activation::leaky_relu;
use burn::tensor::{Device, DeviceKind, Tensor, TensorData};
use engine::ops;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random(len: usize, seed: u64, scale: f32, offset: f32) -> Vec<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..len)
        .map(|_| offset + scale * rng.random_range(-1.0f32..1.0))
        .collect()
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().to_vec::<f32>().expect("f32 data")
}

fn close(what: &str, got: &[f32], want: &[f32], tolerance: f32) {
    assert_eq!(got.len(), want.len(), "{what}: length");
    let scale = want.iter().fold(1f32, |m, v| m.max(v.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tolerance * scale,
            "{what}[{i}]: fused {g} vs burn {w} (scale {scale})"
        );
    }
}

struct Case {
    shape: [usize; 5],
    /// `[N, C]` affine parameters (each sample's own) or `[C]` ones repeated per sample.
    per_sample: bool,
    slope: f64,
    offset: f32,
}

impl Case {
    /// Output, dx, dγ, dβ of `LeakyReLU(norm(x))` (times a fixed random tensor, summed) on
    /// `device`, fused or with burn's ops.
    fn run(&self, device: &Device, fused: bool) -> [Vec<f32>; 4] {
        let [n, c, d, h, w] = self.shape;
        let rows = if self.per_sample { n } else { 1 };
        let x = Tensor::<5>::from_data(
            TensorData::new(random(n * c * d * h * w, 1, 2.0, self.offset), self.shape),
            device,
        )
        .require_grad();
        let gamma = Tensor::<2>::from_data(
            TensorData::new(random(rows * c, 2, 0.5, 1.0), [rows, c]),
            device,
        )
        .require_grad();
        let beta = Tensor::<2>::from_data(
            TensorData::new(random(rows * c, 3, 0.5, 0.0), [rows, c]),
            device,
        )
        .require_grad();
        let weights = Tensor::<5>::from_data(
            TensorData::new(random(n * c * d * h * w, 4, 1.0, 0.0), self.shape),
            device,
        );
        let y = if fused {
            ops::instance_norm_leaky_relu(
                x.clone(),
                gamma.clone().expand([n, c]),
                beta.clone().expand([n, c]),
                1e-5,
                self.slope,
            )
        } else if self.per_sample {
            let norm = InstanceNormConfig::new(c).with_affine(false).init(device);
            let y = norm.forward(x.clone()) * gamma.clone().reshape([n, c, 1, 1, 1])
                + beta.clone().reshape([n, c, 1, 1, 1]);
            leaky_relu(y, self.slope)
        } else {
            // burn's own affine instance norm, its parameters set to the same values.
            let mut norm = InstanceNormConfig::new(c).init(device);
            let param = |t: &Tensor<2>| {
                let flat = Tensor::<2>::from_data(t.to_data(), device).reshape([c]);
                burn::module::Param::from_tensor(flat.require_grad())
            };
            norm.gamma = Some(param(&gamma));
            norm.beta = Some(param(&beta));
            let gamma_param = norm.gamma.as_ref().unwrap().val();
            let beta_param = norm.beta.as_ref().unwrap().val();
            let y = leaky_relu(norm.forward(x.clone()), self.slope);
            let grads = (y.clone() * weights).sum().backward();
            return [
                values(y.inner()),
                values(x.grad(&grads).unwrap()),
                values(gamma_param.grad(&grads).unwrap()),
                values(beta_param.grad(&grads).unwrap()),
            ];
        };
        let grads = (y.clone() * weights).sum().backward();
        [
            values(y.inner()),
            values(x.grad(&grads).unwrap()),
            values(gamma.grad(&grads).unwrap()),
            values(beta.grad(&grads).unwrap()),
        ]
    }

    /// The fused path on wgpu and on the CPU against burn's ops on NdArray.
    fn check(&self) {
        let burn = self.run(&Device::ndarray().autodiff(), false);
        for device in [Device::wgpu(DeviceKind::DefaultDevice), Device::flex()] {
            let fused = self.run(&device.clone().autodiff(), true);
            let name = format!(
                "{:?} per-sample {} slope {} offset {} on {device:?}",
                self.shape, self.per_sample, self.slope, self.offset
            );
            for (what, (got, want)) in ["y", "dx", "dgamma", "dbeta"]
                .iter()
                .zip(fused.iter().zip(&burn))
            {
                close(&format!("{what} of {name}"), got, want, 2e-4);
            }
        }
    }
}

#[test]
fn fused_norm_matches_burns_norm_and_leaky_relu() {
    for case in [
        // Planes of 105 voxels (more than a workgroup), per-channel affine.
        Case {
            shape: [3, 5, 3, 5, 7],
            per_sample: false,
            slope: 0.01,
            offset: 0.0,
        },
        // Planes of 30 voxels (fewer than a workgroup), each sample its own affine.
        Case {
            shape: [2, 4, 2, 3, 5],
            per_sample: true,
            slope: 0.01,
            offset: 0.5,
        },
        // A large mean next to a spread of 2: the shifted sums keep the variance accurate.
        Case {
            shape: [1, 3, 8, 8, 8],
            per_sample: false,
            slope: 0.01,
            offset: 1000.0,
        },
        // Slope 1: the norm alone (the paper network's `normed`).
        Case {
            shape: [2, 3, 4, 4, 6],
            per_sample: true,
            slope: 1.0,
            offset: -3.0,
        },
    ] {
        case.check();
    }
}

#[test]
fn fusion_is_taken_on_tuned_lavapipe_and_the_cpu() {
    let gpu = Device::wgpu(DeviceKind::DefaultDevice);
    ops::set_tuning(ops::Tuning::Gpu);
    assert!(!ops::fuses_norm(&gpu));
    ops::set_tuning(ops::Tuning::Lavapipe);
    assert!(ops::fuses_norm(&gpu) && ops::fuses_norm(&gpu.clone().autodiff()));
    let cpu = Device::flex();
    assert!(ops::fuses_norm(&cpu) && ops::fuses_norm(&cpu.autodiff()));
    assert!(
        !ops::fuses_norm(&Device::ndarray()),
        "NdArray, the tests' reference, keeps burn's ops"
    );
    ops::set_tuning(ops::Tuning::Auto);
}
