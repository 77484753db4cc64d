//! Which measured choices the kernels take on a device ([`Tuning`]): lavapipe (Mesa's software
//! Vulkan, where every storage load is done lane by lane) gets its own, GPUs keep theirs.

use burn::backend::wgpu::CubeTensor;
use burn::backend::DispatchDevice;
use burn::tensor::Device;
use cubecl::ir::DeviceProperties;
use std::sync::atomic::{AtomicU8, Ordering};

/// The kernel choices in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tuning {
    /// [`Tuning::Lavapipe`] on lavapipe, [`Tuning::Gpu`] on every other device.
    Auto,
    /// What GPUs were measured with: values every lane shares (weights; dy in the
    /// weight-gradient) as workgroup-uniform loads, burn's own instance norm and LeakyReLU.
    Gpu,
    /// What lavapipe was measured faster with (`docs/conv3d.md`): shared values fetched
    /// through the subgroup (lane `l` loads value `l` of a group of 8, `subgroupBroadcast`
    /// hands it on; needs subgroups of at least 8), longer register blocks, and instance norm
    /// + LeakyReLU fused into two kernels.
    Lavapipe,
}

static TUNING: AtomicU8 = AtomicU8::new(0);

/// Chooses the kernel choices from now on, for the whole process (tests and benchmarks use it
/// to run both; the results agree to rounding).
pub fn set_tuning(tuning: Tuning) {
    let code = match tuning {
        Tuning::Auto => 0,
        Tuning::Gpu => 1,
        Tuning::Lavapipe => 2,
    };
    TUNING.store(code, Ordering::Relaxed);
}

/// The current [`Tuning`] setting.
pub fn tuning() -> Tuning {
    match TUNING.load(Ordering::Relaxed) {
        1 => Tuning::Gpu,
        2 => Tuning::Lavapipe,
        _ => Tuning::Auto,
    }
}

/// Whether a device with these properties is lavapipe with subgroups of at least 8: a CPU
/// adapter (no physical card) named llvmpipe.
fn is_lavapipe(properties: &DeviceProperties) -> bool {
    properties.identity.physical.is_none()
        && properties.identity.name.starts_with("llvmpipe")
        && properties.hardware.plane_size_min >= 8
}

/// Whether launches on `tensor`'s device take the lavapipe choices.
pub(super) fn lavapipe_tuned(tensor: &CubeTensor) -> bool {
    match tuning() {
        Tuning::Gpu => false,
        Tuning::Lavapipe => true,
        Tuning::Auto => is_lavapipe(tensor.client.properties()),
    }
}

/// The adapter name of `device` when it is a cubecl device (e.g. `llvmpipe (LLVM 15.0.6, 256
/// bits)` for lavapipe), with or without autodiff.
pub fn adapter_name(device: &Device) -> Option<String> {
    let inner = device.clone().inner();
    let DispatchDevice::Cube(cube) = inner.as_dispatch() else {
        return None;
    };
    Some(cube.client().properties().identity.name.clone())
}

/// Whether `device` (a cubecl device, with or without autodiff) takes the lavapipe choices;
/// false for other devices.
pub(super) fn device_lavapipe_tuned(device: &Device) -> bool {
    let inner = device.clone().inner();
    let DispatchDevice::Cube(cube) = inner.as_dispatch() else {
        return false;
    };
    match tuning() {
        Tuning::Gpu => false,
        Tuning::Lavapipe => true,
        Tuning::Auto => is_lavapipe(cube.client().properties()),
    }
}
