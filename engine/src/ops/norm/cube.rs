//! [`NormActBackend`] for burn's cubecl backend: launches `shaders/instance_norm.wgsl`, one
//! workgroup per (n, c) plane.

use super::NormActBackend;
use crate::ops::kernels::WORKGROUP;
use burn::backend::wgpu::{
    into_contiguous, CubeBackend, CubeTensor, KernelSource, SourceKernel, SourceTemplate,
};
use burn::backend::TensorMetadata;
use burn::tensor::Shape;
use cubecl::prelude::{CubeCount, CubeDim, KernelId};
use cubecl::server::KernelArguments;

/// The fused-norm template.
const NORM_WGSL: &str = include_str!("../../../../shaders/instance_norm.wgsl");

/// Largest workgroup count along one grid dimension.
const MAX_GRID: usize = 65535;

/// What one launch computes (the shader's `STEP`).
#[derive(Clone, Copy, Debug)]
enum Step {
    Stats = 0,
    Apply = 1,
    GradSums = 2,
    InputGrad = 3,
}

impl KernelSource for Step {
    fn source(&self) -> SourceTemplate {
        SourceTemplate::new(NORM_WGSL.replace("{{ step }}", &(*self as u32).to_string()))
    }

    fn id(&self) -> KernelId {
        KernelId::new::<Self>().info(format!("instance norm step {}", *self as u32))
    }

    fn lang(&self) -> &'static str {
        "wgsl"
    }
}

/// The tensors a launch reads besides `x` (absent ones are bound to `x`, never read).
#[derive(Clone, Default)]
struct Inputs {
    stats: Option<CubeTensor>,
    gamma: Option<CubeTensor>,
    beta: Option<CubeTensor>,
    dy: Option<CubeTensor>,
    sums: Option<CubeTensor>,
}

/// Runs `step` over every plane of `x` into a fresh tensor of `out_shape`.
fn launch(
    step: Step,
    x: CubeTensor,
    inputs: Inputs,
    out_shape: Vec<usize>,
    epsilon: f64,
    slope: f64,
) -> CubeTensor {
    let x = into_contiguous(x);
    let shape = x.shape();
    let planes = shape[0] * shape[1];
    let plane: usize = (2..shape.num_dims()).map(|a| shape[a]).product();
    let gx = planes.clamp(1, MAX_GRID);
    let gy = planes.div_ceil(gx).max(1);
    let info: Vec<u32> = vec![
        u32::try_from(plane).expect("instance norm: plane under 2^32 voxels"),
        u32::try_from(planes).expect("instance norm: under 2^32 planes"),
        gx as u32,
        (epsilon as f32).to_bits(),
        (slope as f32).to_bits(),
    ];
    let count: usize = out_shape.iter().product();
    let handle = x.client.empty(count.max(1) * 4);
    let out = CubeTensor::new_contiguous(
        x.client.clone(),
        x.device.clone(),
        Shape::from(out_shape),
        handle,
        x.dtype,
    );
    let bind = |t: Option<CubeTensor>| into_contiguous(t.unwrap_or_else(|| x.clone()));
    let bindings = [
        bind(inputs.stats),
        bind(inputs.gamma),
        bind(inputs.beta),
        bind(inputs.dy),
        bind(inputs.sums),
    ];
    let info = x.client.create_from_slice(bytemuck::cast_slice(&info));
    let mut buffers = vec![x.handle.clone().binding()];
    buffers.extend(bindings.iter().map(|t| t.handle.clone().binding()));
    buffers.push(out.handle.clone().binding());
    buffers.push(info.binding());
    x.client.launch(
        Box::new(SourceKernel::new(step, CubeDim::new_1d(WORKGROUP))),
        CubeCount::Static(gx as u32, gy as u32, 1),
        KernelArguments::new().with_buffers(buffers),
    );
    out
}

/// `[N, C, 2]`, the shape of the per-plane statistics and sums of `x`.
fn per_plane(x: &CubeTensor) -> Vec<usize> {
    let shape = x.shape();
    vec![shape[0], shape[1], 2]
}

impl NormActBackend for CubeBackend {
    fn instance_norm_leaky_relu(
        x: CubeTensor,
        gamma: CubeTensor,
        beta: CubeTensor,
        epsilon: f64,
        slope: f64,
    ) -> CubeTensor {
        let stats = Self::instance_norm_stats(x.clone(), epsilon);
        Self::instance_norm_apply(x, stats, gamma, beta, slope)
    }

    fn instance_norm_stats(x: CubeTensor, epsilon: f64) -> CubeTensor {
        let shape = per_plane(&x);
        launch(Step::Stats, x, Inputs::default(), shape, epsilon, 0.0)
    }

    fn instance_norm_apply(
        x: CubeTensor,
        stats: CubeTensor,
        gamma: CubeTensor,
        beta: CubeTensor,
        slope: f64,
    ) -> CubeTensor {
        let shape = x.shape().to_vec();
        let inputs = Inputs {
            stats: Some(stats),
            gamma: Some(gamma),
            beta: Some(beta),
            ..Inputs::default()
        };
        launch(Step::Apply, x, inputs, shape, 0.0, slope)
    }

    fn instance_norm_backward(
        x: CubeTensor,
        stats: CubeTensor,
        gamma: CubeTensor,
        beta: CubeTensor,
        dy: CubeTensor,
        slope: f64,
    ) -> (CubeTensor, CubeTensor) {
        let mut inputs = Inputs {
            stats: Some(stats),
            gamma: Some(gamma),
            beta: Some(beta),
            dy: Some(dy),
            sums: None,
        };
        let sums = launch(
            Step::GradSums,
            x.clone(),
            inputs.clone(),
            per_plane(&x),
            0.0,
            slope,
        );
        inputs.sums = Some(sums.clone());
        let shape = x.shape().to_vec();
        let dx = launch(Step::InputGrad, x, inputs, shape, 0.0, slope);
        (sums, dx)
    }
}
