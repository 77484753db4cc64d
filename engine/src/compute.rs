//! Where tensors live: burn's pure-Rust CPU backend or its wgpu backend, chosen at run time.

use burn::tensor::{Device, DeviceKind};

/// The compute backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compute {
    /// burn's pure-Rust CPU backend (Flex).
    #[default]
    Cpu,
    /// burn's wgpu backend (a GPU, or Mesa's lavapipe without one).
    Wgpu,
}

impl Compute {
    pub fn parse(text: &str) -> Option<Compute> {
        match text {
            "cpu" => Some(Compute::Cpu),
            "wgpu" => Some(Compute::Wgpu),
            _ => None,
        }
    }
}

/// The device of `compute` (without autodiff), checked to work.
pub fn device(compute: Compute) -> Result<Device, String> {
    let device = match compute {
        Compute::Cpu => Device::flex(),
        Compute::Wgpu => Device::wgpu(DeviceKind::DefaultDevice),
    };
    // burn initialises a device on first use and panics when none is usable.
    let probe = std::panic::catch_unwind(|| {
        burn::tensor::Tensor::<1>::zeros([1], &device).into_scalar::<f32>()
    });
    match probe {
        Ok(_) => Ok(device),
        Err(_) => Err(format!(
            "cannot start the {compute:?} compute device; use the CPU, or install a Vulkan driver (Mesa's lavapipe works without a GPU)"
        )),
    }
}
